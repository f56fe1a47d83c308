import { EMAIL_WIDTH, renderMermaid, renderText, wrapLine } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { toJson } from "../io/json.js";
import { UsageError } from "../io/usage-error.js";
import { SCENARIOS } from "../scenarios/registry.js";
import { reportScenario } from "../scenarios/scenario.js";
import type { Scenario, ScenarioReport } from "../scenarios/scenario.js";

/** The output formats of `dmabuf-ref scenario NAME`. */
export type ScenarioFormat = "text" | "mermaid" | "json";

/**
 * Finds a scenario by name.
 *
 * @param name - the scenario's name.
 * @returns the scenario.
 * @throws UsageError (exit 2) listing the known names.
 */
export function findScenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) {
    throw new UsageError(
      `unknown scenario "${name}" (known: ${SCENARIOS.map((x) => x.name).join(", ")})`,
    );
  }
  return s;
}

/**
 * Renders `dmabuf-ref scenario --list`.
 *
 * @param json - print JSON (`[{name, profile, expectation}]`).
 * @returns the output.
 */
export function scenarioListOutput(json: boolean): string {
  const rows = SCENARIOS.map((s) => ({
    name: s.name,
    profile: s.profile,
    expectation: s.expectation,
  }));
  if (json) return toJson(rows);
  return rows.map((r) => `${r.name} (${r.profile})\n  ${r.expectation}`).join("\n") + "\n";
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
