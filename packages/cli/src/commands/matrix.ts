import { EMAIL_WIDTH, wrapLine } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import { markdownTable } from "../io/report-format.js";
import type { ReportFormat } from "../io/report-format.js";
import { describeCell, computeMatrix, diffMatrix, renderMatrix } from "../matrix/matrix.js";
import { MATRIX_EXPORTERS, MATRIX_IMPORTERS } from "../matrix/registry.js";
import { matrixMachine } from "../matrix/machine.js";
import { pluginExporterRecipes, pluginImporterRecipes } from "../matrix/plugin-recipes.js";
import type { MatrixCell } from "../matrix/cell.js";
import { NO_PLUGINS } from "../io/load-plugin.js";
import type { PluginSet } from "../io/load-plugin.js";

/** The built-in rows and columns, then the loaded plugins'. */
function cellsOf(profile: Profile, plugins: PluginSet): MatrixCell[] {
  return computeMatrix(
    profile,
    (p) => matrixMachine(p, undefined, plugins),
    [...MATRIX_EXPORTERS, ...pluginExporterRecipes(plugins)],
    [...MATRIX_IMPORTERS, ...pluginImporterRecipes(plugins)],
  );
}

/**
 * Renders `dmabuf-ref matrix [--profile P]`.
 *
 * @param profile - the profile.
 * @param format - text, a Markdown table, or JSON.
 * @param plugins - the `--load` plugins, whose drivers are rows and columns too.
 * @returns the output.
 */
export function matrixOutput(
  profile: Profile,
  format: ReportFormat,
  plugins: PluginSet = NO_PLUGINS,
): string {
  const cells = cellsOf(profile, plugins);
  if (format === "json") return toJson(cells);
  if (format === "markdown")
    return (
      `dma-buf import matrix under ${profile.id}\n\n` +
      markdownTable(
        ["exporter", "importer", "result"],
        cells.map((c) => [c.exporter, c.importer, describeCell(c)]),
      )
    );
  return renderMatrix(profile.id, cells);
}

/**
 * Renders `dmabuf-ref matrix --diff P1 P2`: only the cells that differ.
 *
 * @param before - the first profile.
 * @param after - the second.
 * @param format - text, a Markdown table, or JSON.
 * @param plugins - the `--load` plugins, whose drivers are rows and columns too.
 * @returns the output.
 */
export function matrixDiffOutput(
  before: Profile,
  after: Profile,
  format: ReportFormat,
  plugins: PluginSet = NO_PLUGINS,
): string {
  return matrixDiffCommand(before, after, format, plugins).output;
}

/**
 * `dmabuf-ref matrix --diff P1 P2` with its exit status, as diff(1): 1
 * when the profiles disagree on a cell, 0 when they agree.
 *
 * @param before - the first profile.
 * @param after - the second.
 * @param format - text, a Markdown table, or JSON.
 * @param plugins - the `--load` plugins, whose drivers are rows and columns too.
 * @returns the output and the exit status.
 */
export function matrixDiffCommand(
  before: Profile,
  after: Profile,
  format: ReportFormat,
  plugins: PluginSet = NO_PLUGINS,
): { output: string; exitCode: 0 | 1 } {
  const diff = diffMatrix(cellsOf(before, plugins), cellsOf(after, plugins));
  const exitCode = diff.length > 0 ? 1 : 0;
  if (format === "json") return { output: toJson(diff), exitCode };
  if (format === "markdown")
    return {
      output:
        `cells that differ: ${before.id} -> ${after.id} (${diff.length})\n\n` +
        markdownTable(
          ["exporter", "importer", before.id, after.id],
          diff.map((d) => [d.exporter, d.importer, describeCell(d.before), describeCell(d.after)]),
        ),
      exitCode,
    };
  const lines = [`cells that differ: ${before.id} -> ${after.id} (${diff.length})`];
  for (const d of diff) {
    lines.push(`${d.exporter} x ${d.importer}`);
    lines.push(...wrapLine(`  ${before.id}: ${describeCell(d.before)}`, EMAIL_WIDTH, 6));
    lines.push(...wrapLine(`  ${after.id}: ${describeCell(d.after)}`, EMAIL_WIDTH, 6));
  }
  return { output: lines.join("\n") + "\n", exitCode };
}
