import { join } from "node:path";
import {
  negotiate,
  negotiationEvents,
  p2pTopology,
  parseAcceptsDocument,
  parseOffersDocument,
  parseTopologyDocument,
  renderMermaid,
  renderText,
} from "@dmabuf-ref/core";
import type { DocumentResult, NegotiationResult } from "@dmabuf-ref/core";
import * as z from "zod";
import { loadDocument } from "../io/load-document.js";
import { resolveProfile } from "../io/profile-option.js";
import { RFC_DIR } from "../rfc/rfc-dir.js";

/**
 * The folder holding the worked examples: `rfc/examples` (in a checkout or bundled).
 *
 * @category Rendering
 */
export const EXAMPLES_DIR = join(RFC_DIR, "examples");

const indexSchema = z.array(
  z.object({
    /** File stem of the rendered outputs. */
    name: z.string().regex(/^[a-z0-9.-]+$/),
    /** One line shown above the trace. */
    title: z.string().min(1),
    /** Profile id. */
    profile: z.string(),
    /** Offers file, relative to the index. */
    offers: z.string(),
    /** Accepts file, relative to the index. */
    accepts: z.string(),
    /** Optional topology file, relative to the index. */
    topology: z.string().optional(),
  }),
);

/**
 * One worked negotiation of `rfc/examples/index.yaml`, run and rendered.
 *
 * @category Rendering
 */
export interface RenderedExample {
  /** File stem, e.g. `"rfc-vfio-to-iommufd"`. */
  readonly name: string;
  /** The one-line title. */
  readonly title: string;
  /** What negotiate returned. */
  readonly result: NegotiationResult;
  /** The email-safe text trace (title line first). */
  readonly text: string;
  /** The Mermaid sequence diagram. */
  readonly mermaid: string;
}

function validateIndex(raw: unknown): DocumentResult<z.output<typeof indexSchema>> {
  const r = indexSchema.safeParse(raw);
  return r.success
    ? { ok: true, value: r.data }
    : {
        ok: false,
        issues: r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      };
}

/**
 * Runs every worked example and renders its trace as text and Mermaid.
 *
 * @param dir - the examples folder (default {@link EXAMPLES_DIR}).
 * @returns the examples in index order.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderExamples } from "@dmabuf-ref/cli";
 *
 * // The worked negotiations of rfc/examples/index.yaml, run with the model as it is now.
 * const [first] = renderExamples();
 * assert.equal(first?.name, "rfc-vfio-to-iommufd");
 * assert.ok(first?.result.ok);
 * assert.equal(first.text.split("\n")[0], `# ${first.title}`);
 * assert.ok(first.text.split("\n").every((l) => l.length <= 72));
 * assert.match(first.mermaid, /^sequenceDiagram/);
 * ```
 * @category Rendering
 */
export function renderExamples(dir: string = EXAMPLES_DIR): RenderedExample[] {
  const index = loadDocument(join(dir, "index.yaml"), validateIndex);
  return index.map((ex) => {
    const profile = resolveProfile(ex.profile);
    const { exporter, offers } = loadDocument(join(dir, ex.offers), parseOffersDocument);
    const { importer, accepts } = loadDocument(join(dir, ex.accepts), parseAcceptsDocument);
    const distances =
      ex.topology === undefined ? [] : loadDocument(join(dir, ex.topology), parseTopologyDocument);
    const result = negotiate(offers, accepts, profile, p2pTopology(distances));
    const events = negotiationEvents({ exporter, importer }, offers, accepts, profile.id, result);
    return {
      name: ex.name,
      title: ex.title,
      result,
      text: `# ${ex.title}\n` + renderText(events),
      mermaid: renderMermaid(events),
    };
  });
}
