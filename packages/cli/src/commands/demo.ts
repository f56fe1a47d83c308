import { PROFILES, findProfile, renderText, revokeWithDmaInFlight } from "@dmabuf-ref/core";
import { renderExamples } from "./examples.js";
import { SCENARIOS } from "../scenarios/registry.js";
import { reportScenario } from "../scenarios/scenario.js";

/** One line per scenario: met or not, violations and faults. */
function scenarioSummary(): string[] {
  return SCENARIOS.map((s) => {
    const profile = findProfile(s.profile);
    if (profile === undefined) throw new Error(`scenario ${s.name}: no profile ${s.profile}`);
    const r = reportScenario(s, profile);
    return (
      `  ${s.name.padEnd(31)} ${r.expectation.met ? "met    " : "NOT MET"} ` +
      `${r.violations.length} violation(s), ${r.faults.length} fault(s)`
    );
  });
}

/**
 * The main demo (`pnpm start`): the profiles in one line each, then every
 * worked negotiation of `rfc/examples` as an email-safe trace.
 *
 * @returns the output.
 */
export function demoOutput(): string {
  const profiles = PROFILES.map(
    (p) =>
      `  ${p.id.padEnd(21)} types [${p.mappingTypes.map((t) => t.id).join(", ")}]` +
      (p.converters.length === 0
        ? ""
        : ` converters [${p.converters.map((c) => c.id).join(", ")}]`),
  );
  const examples = renderExamples().map((ex) => ex.text);
  return [
    "dmabuf-ref: dma-buf mapping-type negotiation and revoke, executable",
    "",
    "Profiles (dmabuf-ref profiles for details):",
    ...profiles,
    "",
    "Worked negotiations (rfc/examples; dmabuf-ref negotiate --help):",
    "",
    examples.join("\n"),
    "The revoke protocol with DMA in flight (reference exporter and importer):",
    "",
    renderText(revokeWithDmaInFlight().events),
    "Scenarios (dmabuf-ref scenario NAME; each under its own profile):",
    "",
    ...scenarioSummary(),
    "",
  ].join("\n");
}
