import { DEFAULT_PROFILE_ID, findProfile } from "@dmabuf-ref/core";
import { KNOWN_PROFILES } from "../io/known-profiles.js";
import { computeMatrix, renderMatrix } from "../matrix/matrix.js";
import { matrixMachine } from "../matrix/machine.js";
import { MATRIX_EXPORTERS, MATRIX_IMPORTERS } from "../matrix/registry.js";
import { SCENARIOS } from "../scenarios/registry.js";
import { reportScenario } from "../scenarios/scenario.js";
import { renderExamples } from "./examples.js";

/** One line per scenario: met or not, violations and faults. */
function scenarioSummary(): string[] {
  const width = Math.max(...SCENARIOS.map((s) => s.name.length)) + 1;
  return SCENARIOS.map((s) => {
    const profile = findProfile(s.profile);
    if (profile === undefined) throw new Error(`scenario ${s.name}: no profile ${s.profile}`);
    const r = reportScenario(s, profile);
    return (
      `  ${s.name.padEnd(width)} ${r.expectation.met ? "met    " : "NOT MET"} ` +
      `${r.violations.length} violation(s), ${r.faults.length} fault(s)`
    );
  });
}

/**
 * The main demo (`pnpm start`): the profiles in one line each, the
 * exporter x importer matrix under the default profile, a summary of every
 * scenario, and where the worked examples live.
 *
 * @returns the output.
 */
export function demoOutput(): string {
  const profile = findProfile(DEFAULT_PROFILE_ID);
  if (profile === undefined) throw new Error(`no default profile ${DEFAULT_PROFILE_ID}`);
  const idWidth = Math.max(...KNOWN_PROFILES.map((p) => p.id.length)) + 1;
  const profiles = KNOWN_PROFILES.map(
    (p) =>
      `  ${p.id.padEnd(idWidth)} types [${p.mappingTypes.map((t) => t.id).join(", ")}]` +
      (p.converters.length === 0 ? "" : ` + ${p.converters.map((c) => c.id).join(", ")}`),
  );
  const matrix = renderMatrix(
    profile.id,
    computeMatrix(profile, matrixMachine, MATRIX_EXPORTERS, MATRIX_IMPORTERS),
  );
  const examples = renderExamples().map((ex) => `  ${ex.name}: ${ex.title}`);
  return [
    "dmabuf-ref: dma-buf mapping-type negotiation and revoke, executable",
    "",
    "Profiles (dmabuf-ref profiles for details):",
    ...profiles,
    "",
    matrix,
    "Scenarios (dmabuf-ref scenario NAME; each under its own profile;",
    "their traces are in rfc/traces/<name>.txt and .mmd):",
    ...scenarioSummary(),
    "",
    "Worked examples in rfc/examples/<name>.txt (dmabuf-ref negotiate --help):",
    ...examples,
    "  revoke-in-flight-dma: the revoke protocol with DMA in flight",
    "",
  ].join("\n");
}
