import { DEFAULT_PROFILE_ID, EMAIL_WIDTH, findProfile, wrapLine } from "@dmabuf-ref/core";
import { KNOWN_PROFILES } from "../io/known-profiles.js";
import { computeMatrix, renderMatrix } from "../matrix/matrix.js";
import { matrixMachine } from "../matrix/machine.js";
import { MATRIX_EXPORTERS, MATRIX_IMPORTERS } from "../matrix/registry.js";
import { scenarioFiles } from "../explore/catalogue.js";
import {
  exploreExitCode,
  exploreScenario,
  loadScenario,
  readScenarioFile,
} from "../explore/explore.js";
import { renderExamples } from "./examples.js";
import { columnsRow } from "../io/columns.js";

/** One line per scenario file: whether its expectations hold, and the states explored. */
function scenarioSummary(): string[] {
  const files = scenarioFiles();
  const width = Math.max(...files.map((f) => f.name.length)) + 1;
  return files.flatMap((f) => {
    const r = exploreScenario(loadScenario(readScenarioFile(f.path), { path: f.path }));
    const verdict = exploreExitCode(r) === 0 ? "holds  " : "FAILS  ";
    return columnsRow(`  ${f.name.padEnd(width)} ${verdict} `, `${r.states} states, ${r.profile}`);
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
  const profiles = KNOWN_PROFILES.flatMap((p) =>
    columnsRow(
      `  ${p.id.padEnd(idWidth)} `,
      `types [${p.mappingTypes.map((t) => t.id).join(", ")}]` +
        (p.converters.length === 0 ? "" : ` + ${p.converters.map((c) => c.id).join(", ")}`),
    ),
  );
  const matrix = renderMatrix(
    profile.id,
    computeMatrix(profile, matrixMachine, MATRIX_EXPORTERS, MATRIX_IMPORTERS),
  );
  const examples = renderExamples().flatMap((ex) =>
    wrapLine(`  ${ex.name}: ${ex.title}`, EMAIL_WIDTH, 4),
  );
  return [
    "dmabuf-ref: dma-buf mapping-type negotiation and revoke, executable",
    "",
    "Profiles (dmabuf-ref profiles for details):",
    ...profiles,
    "",
    matrix,
    "Scenarios (rfc/scenarios/<name>.yaml, every interleaving explored:",
    "dmabuf-ref explore FILE; a reference run in rfc/traces/<name>.txt):",
    ...scenarioSummary(),
    "",
    "Worked examples in rfc/examples/<name>.txt (see negotiate --help):",
    ...examples,
    "  revoke-in-flight-dma: the revoke protocol with DMA in flight",
    "",
  ].join("\n");
}
