import { join } from "node:path";
import {
  DEFAULT_PROFILE_ID,
  renderMermaid,
  renderText,
  revokeWithDmaInFlight,
} from "@dmabuf-ref/core";
import { findScenario, runScenarioFile } from "../commands/scenario.js";
import { EXAMPLES_DIR, renderExamples } from "../commands/examples.js";
import { scenarioFiles } from "../explore/catalogue.js";
import { RFC_DIR } from "./rfc-dir.js";

export { RFC_DIR };

/**
 * `rfc/traces`: every scenario's trace under its declared profile: a
 * scenario file's reference run, a TypeScript scenario's one run.
 *
 * @category Rendering
 */
export const TRACES_DIR = join(RFC_DIR, "traces");

/**
 * One rendered trace an RFC document can embed (DESIGN §3.8): the same
 * events as email-safe text (at most 72 columns) and as a Mermaid
 * `sequenceDiagram`, written to `<dir>/<name>.txt` and `.mmd`.
 *
 * @category Rendering
 */
export interface RfcRendering {
  /** The folder the files live in. */
  readonly dir: string;
  /** File stem, e.g. `"qemu-p2p-flr"`. */
  readonly name: string;
  /** One line: what it shows. */
  readonly title: string;
  /** The email-safe text. */
  readonly text: string;
  /** The Mermaid sequence diagram. */
  readonly mermaid: string;
}

/**
 * Every rendering under `rfc/`, from the code as it is now: the worked
 * negotiations of `rfc/examples/index.yaml`, the core's worked revoke with
 * DMA in flight, and every scenario under its declared profile (a file's
 * reference run with the explorer's verdicts, as `dmabuf-ref scenario
 * NAME` prints it; then the TypeScript scenarios no file replaces). One list
 * serves `dmabuf-ref render-examples` (which writes it) and the test that
 * fails when a committed file has drifted from it, so documents never drift
 * from the model.
 *
 * @returns the renderings, examples first, then the scenarios' traces.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXAMPLES_DIR, renderExamples } from "@dmabuf-ref/cli";
 * import type { RfcRendering } from "@dmabuf-ref/cli";
 *
 * // rfcRenderings() runs every scenario, a second or two. Its first entries are the worked
 * // negotiations as renderExamples() gives them, each written to <dir>/<name>.txt and .mmd:
 * const renderings: RfcRendering[] = renderExamples().map((ex) => ({
 *   dir: EXAMPLES_DIR, name: ex.name, title: ex.title, text: ex.text, mermaid: ex.mermaid,
 * }));
 * assert.equal(renderings[0]?.name, "rfc-vfio-to-iommufd");
 * // Every text pastes into an email: at most 72 columns.
 * assert.ok(renderings.every((r) => r.text.split("\n").every((l) => l.length <= 72)));
 * ```
 * @category Rendering
 */
export function rfcRenderings(): RfcRendering[] {
  const examples = renderExamples().map((ex) => ({
    dir: EXAMPLES_DIR,
    name: ex.name,
    title: ex.title,
    text: ex.text,
    mermaid: ex.mermaid,
  }));
  const revoke = revokeWithDmaInFlight().events;
  const files = scenarioFiles().map((f) => {
    const found = findScenario(f.name);
    const text = runScenarioFile(found, undefined, "text").output;
    return {
      dir: TRACES_DIR,
      name: f.name,
      title: `${f.name} under ${found.file.profile ?? DEFAULT_PROFILE_ID}`,
      text,
      mermaid: runScenarioFile(found, undefined, "mermaid").output,
    };
  });
  return [
    ...examples,
    {
      dir: EXAMPLES_DIR,
      name: "revoke-in-flight-dma",
      title: "the revoke protocol with DMA in flight",
      text: renderText(revoke),
      mermaid: renderMermaid(revoke),
    },
    ...files,
  ];
}
