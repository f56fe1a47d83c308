import { EMAIL_WIDTH, renderMermaid, renderText, wrapLine } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { toJson } from "../io/json.js";
import { markdownTable } from "../io/report-format.js";
import type { ReportFormat } from "../io/report-format.js";
import { UsageError } from "../io/usage-error.js";
import { scenarioFiles } from "../explore/catalogue.js";
import {
  exploreExitCode,
  exploreScenario,
  inFile,
  loadScenario,
  readScenarioFile,
  referenceRun,
} from "../explore/explore.js";
import type { ExpectationVerdict } from "../explore/explore.js";
import type { ScenarioFile } from "../explore/scenario-file.js";
import { NO_PLUGINS } from "../io/load-plugin.js";
import type { PluginSet } from "../io/load-plugin.js";

/** The shipped scenario files, then the `--load` plugins'. */
function allScenarioFiles(plugins: PluginSet): { name: string; path: string }[] {
  return [...scenarioFiles(), ...plugins.scenarios];
}

/** The output formats of `dmabuf-ref scenario NAME`. */
export type ScenarioFormat = "text" | "mermaid" | "json";

/** A scenario `dmabuf-ref scenario` knows: a file in rfc/scenarios, run by the explorer. */
export interface FoundScenario {
  /** Its name (the file's, without `.yaml`). */
  readonly name: string;
  /** Its path. */
  readonly path: string;
  /** The parsed file. */
  readonly file: ScenarioFile;
}

/**
 * Finds a scenario file of rfc/scenarios (or of a `--load` plugin) by name.
 *
 * @param name - the scenario's name.
 * @param plugins - the loaded plugins, whose scenarios are known too.
 * @returns the scenario.
 * @throws UsageError (exit 2) listing the known names.
 */
export function findScenario(name: string, plugins: PluginSet = NO_PLUGINS): FoundScenario {
  const files = allScenarioFiles(plugins);
  const f = files.find((x) => x.name === name);
  if (f === undefined)
    throw new UsageError(
      `unknown scenario "${name}" (known: ${files.map((x) => x.name).join(", ")})`,
    );
  return { name, path: f.path, file: readScenarioFile(f.path) };
}

/**
 * A scenario's one-line summary: its doc's first sentence, in ASCII (a
 * trace header goes into email).
 */
export function summaryOf(file: ScenarioFile): string {
  const para =
    (file.doc ?? "")
      .split(/\n\s*\n/)[0]
      ?.replace(/\s+/g, " ")
      .trim() ?? "";
  const sentence = /^.*?[.:](?=\s|$)/.exec(para)?.[0] ?? para;
  return sentence.replace(/\u00a7/g, "section ").replace(/[^\x20-\x7e]/g, "?");
}

/**
 * Renders `dmabuf-ref scenario --list`.
 *
 * @param format - text, a Markdown table, or JSON (`[{name, profile, expectation}]`).
 * @param plugins - the loaded plugins, whose scenarios follow the shipped ones.
 * @returns the output.
 */
export function scenarioListOutput(format: ReportFormat, plugins: PluginSet = NO_PLUGINS): string {
  const files = allScenarioFiles(plugins).map((f) => {
    const file = readScenarioFile(f.path);
    return { name: f.name, profile: file.profile ?? "linux-7.1", expectation: summaryOf(file) };
  });
  const rows = files;
  if (format === "json") return toJson(rows);
  if (format === "markdown")
    return markdownTable(
      ["scenario", "profile", "what it shows"],
      rows.map((r) => [r.name, r.profile, r.expectation]),
    );
  return (
    rows
      .map((r) =>
        [`${r.name} (${r.profile})`, ...wrapLine(`  ${r.expectation}`, EMAIL_WIDTH, 2)].join("\n"),
      )
      .join("\n") + "\n"
  );
}

/**
 * Runs `dmabuf-ref scenario NAME` for a scenario file: its reference run
 * (the kernel's continuations first, then the threads in file order) as a
 * trace, and the explorer's verdict on every expectation; exit 0 when all
 * hold, 1 when one does not, 3 when a bound left one undecided.
 *
 * @param found - the file.
 * @param profileId - `--profile`, else the file's.
 * @param format - text, mermaid or json.
 * @param plugins - the `--load` plugins: their profiles, hardware and drivers.
 * @returns the output and exit status.
 */
export function runScenarioFile(
  found: FoundScenario,
  profileId: string | undefined,
  format: ScenarioFormat,
  plugins: PluginSet = NO_PLUGINS,
): { output: string; exitCode: 0 | 1 | 3 } {
  const loaded = loadScenario(found.file, {
    path: found.path,
    plugins,
    ...(profileId === undefined ? {} : { profile: profileId }),
  });
  const report = exploreScenario(loaded);
  const run = inFile(loaded, () => referenceRun(loaded.space));
  const events = [...loaded.initEvents, ...run.steps.flatMap((x) => x.events)];
  // The file's names for the dma-bufs it exported (`as: buf0`).
  const names = run.end.bindings.buffers;
  const violations = [...run.end.world.violations.values()];
  const faults = events.filter((e) => e.kind === "dma" && e.outcome === "fault");
  const exitCode = exploreExitCode(report);
  const verdict = (e: ExpectationVerdict): string =>
    `${e.kind} ${e.expr}: ${e.holds === null ? "undecided (bound reached)" : e.holds ? "holds" : "FAILS"}`;
  const output = match(format)
    .with("json", () =>
      toJson({
        scenario: found.name,
        profile: report.profile,
        events,
        violations,
        faults,
        expectation: {
          met: exitCode === 0,
          text: `${summaryOf(found.file)} -- ${report.expectations.map(verdict).join("; ")}`,
        },
        expectations: report.expectations,
        bufferNames: Object.fromEntries(names),
      }),
    )
    .with("mermaid", () => renderMermaid(events, names))
    .with("text", () => {
      const comment = (line: string): string =>
        wrapLine(`# ${line}`, EMAIL_WIDTH, 2).join("\n") + "\n";
      return (
        comment(`${found.name} under ${report.profile}: ${summaryOf(found.file)}`) +
        renderText(events, EMAIL_WIDTH, names) +
        report.expectations.map((e) => comment(verdict(e))).join("") +
        comment(
          `explored ${report.states} states; this run: violations: ` +
            `${violations.length}, faults: ${faults.length}`,
        )
      );
    })
    .exhaustive();
  return { output, exitCode };
}
