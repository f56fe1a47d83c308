import { EMAIL_WIDTH, renderMermaid, renderText, wrapLine } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { toJson } from "../io/json.js";
import { UsageError } from "../io/usage-error.js";
import { SCENARIOS } from "../scenarios/registry.js";
import { scenarioFiles } from "../explore/catalogue.js";
import {
  exploreExitCode,
  exploreScenario,
  loadScenario,
  readScenarioFile,
  referenceRun,
} from "../explore/explore.js";
import type { ExpectationVerdict } from "../explore/explore.js";
import type { ScenarioFile } from "../explore/scenario-file.js";
import { reportScenario } from "../scenarios/scenario.js";
import type { Scenario, ScenarioReport } from "../scenarios/scenario.js";

/** The output formats of `dmabuf-ref scenario NAME`. */
export type ScenarioFormat = "text" | "mermaid" | "json";

/** A scenario `dmabuf-ref scenario` knows: a file in rfc/scenarios, or one still in TypeScript. */
export type FoundScenario =
  | {
      /** A scenario file, run by the explorer. */
      readonly kind: "file";
      /** Its name. */
      readonly name: string;
      /** Its path. */
      readonly path: string;
      /** The parsed file. */
      readonly file: ScenarioFile;
    }
  | {
      /** A TypeScript scenario (one a file cannot express yet). */
      readonly kind: "typescript";
      /** The scenario. */
      readonly scenario: Scenario;
    };

/**
 * Finds a scenario by name: a file in rfc/scenarios first, else a
 * TypeScript scenario.
 *
 * @param name - the scenario's name.
 * @returns the scenario.
 * @throws UsageError (exit 2) listing the known names.
 */
export function findScenario(name: string): FoundScenario {
  const f = scenarioFiles().find((x) => x.name === name);
  if (f !== undefined) return { kind: "file", name, path: f.path, file: readScenarioFile(f.path) };
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) {
    const known = [...scenarioFiles().map((x) => x.name), ...SCENARIOS.map((x) => x.name)];
    throw new UsageError(`unknown scenario "${name}" (known: ${[...new Set(known)].join(", ")})`);
  }
  return { kind: "typescript", scenario: s };
}

/** A file scenario's one-line summary: its doc's first paragraph. */
function summaryOf(file: ScenarioFile): string {
  return (
    (file.doc ?? "")
      .split(/\n\s*\n/)[0]
      ?.replace(/\s+/g, " ")
      .trim() ?? ""
  );
}

/**
 * Renders `dmabuf-ref scenario --list`.
 *
 * @param json - print JSON (`[{name, profile, expectation}]`).
 * @returns the output.
 */
export function scenarioListOutput(json: boolean): string {
  const files = scenarioFiles().map((f) => {
    const file = readScenarioFile(f.path);
    return { name: f.name, profile: file.profile ?? "linux-7.1", expectation: summaryOf(file) };
  });
  const names = new Set(files.map((f) => f.name));
  const rows = [
    ...files,
    ...SCENARIOS.filter((s) => !names.has(s.name)).map((s) => ({
      name: s.name,
      profile: s.profile,
      expectation: s.expectation,
    })),
  ];
  if (json) return toJson(rows);
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
 * @returns the output and exit status.
 */
export function runScenarioFile(
  found: Extract<FoundScenario, { kind: "file" }>,
  profileId: string | undefined,
  format: ScenarioFormat,
): { output: string; exitCode: 0 | 1 | 3 } {
  const loaded = loadScenario(found.file, {
    path: found.path,
    ...(profileId === undefined ? {} : { profile: profileId }),
  });
  const report = exploreScenario(loaded);
  const run = referenceRun(loaded.space);
  const events = [...loaded.initEvents, ...run.steps.flatMap((x) => x.events)];
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
      }),
    )
    .with("mermaid", () => renderMermaid(events))
    .with("text", () => {
      const comment = (line: string): string =>
        wrapLine(`# ${line}`, EMAIL_WIDTH, 2).join("\n") + "\n";
      return (
        comment(`${found.name} under ${report.profile}: ${summaryOf(found.file)}`) +
        renderText(events) +
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

/**
 * A scenario report as email-safe text (at most 72 columns): what it
 * shows, the trace, whether the expectation held, and the counts.
 *
 * @param scenario - the scenario.
 * @param report - its report.
 * @returns the text.
 */
export function scenarioText(scenario: Scenario, report: ScenarioReport): string {
  const comment = (line: string): string => wrapLine(`# ${line}`, EMAIL_WIDTH, 2).join("\n") + "\n";
  return (
    comment(`${report.scenario} under ${report.profile}: ${scenario.expectation}`) +
    renderText(report.events) +
    comment(
      `expectation ${report.expectation.met ? "met" : "NOT met"}: ${report.expectation.text}`,
    ) +
    comment(`violations: ${report.violations.length}, faults: ${report.faults.length}`)
  );
}

/**
 * Runs `dmabuf-ref scenario NAME`: the trace in the chosen format; exit 0
 * when the scenario met its stated expectation, 1 when not.
 *
 * @param scenario - the scenario.
 * @param profile - the profile to run under.
 * @param format - text, mermaid or json.
 * @returns the output and exit status.
 */
export function runScenarioCommand(
  scenario: Scenario,
  profile: Profile,
  format: ScenarioFormat,
): { output: string; exitCode: 0 | 1 } {
  const report = reportScenario(scenario, profile);
  const output = match(format)
    .with("json", () => toJson(report))
    .with("mermaid", () => renderMermaid(report.events))
    .with("text", () => scenarioText(scenario, report))
    .exhaustive();
  return { output, exitCode: report.expectation.met ? 0 : 1 };
}
