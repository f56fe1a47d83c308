import { wrapLine } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import { describeCell, computeMatrix, diffMatrix, renderMatrix } from "../matrix/matrix.js";
import { MATRIX_EXPORTERS, MATRIX_IMPORTERS } from "../matrix/registry.js";
import { matrixMachine } from "../matrix/machine.js";
import type { MatrixCell } from "../matrix/cell.js";

function cellsOf(profile: Profile): MatrixCell[] {
  return computeMatrix(profile, matrixMachine, MATRIX_EXPORTERS, MATRIX_IMPORTERS);
}

/**
 * Renders `dmabuf-ref matrix [--profile P]`.
 *
 * @param profile - the profile.
 * @param json - print JSON.
 * @returns the output.
 */
export function matrixOutput(profile: Profile, json: boolean): string {
  const cells = cellsOf(profile);
  return json ? toJson(cells) : renderMatrix(profile.id, cells);
}

/**
 * Renders `dmabuf-ref matrix --diff P1 P2`: only the cells that differ.
 *
 * @param before - the first profile.
 * @param after - the second.
 * @param json - print JSON.
 * @returns the output.
 */
export function matrixDiffOutput(before: Profile, after: Profile, json: boolean): string {
  const diff = diffMatrix(cellsOf(before), cellsOf(after));
  if (json) return toJson(diff);
  const lines = [`cells that differ: ${before.id} -> ${after.id} (${diff.length})`];
  for (const d of diff) {
    lines.push(`${d.exporter} x ${d.importer}`);
    lines.push(...wrapLine(`  ${before.id}: ${describeCell(d.before)}`, 100, 6));
    lines.push(...wrapLine(`  ${after.id}: ${describeCell(d.after)}`, 100, 6));
  }
  return lines.join("\n") + "\n";
}
