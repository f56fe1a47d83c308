import type { Machine } from "../machine/machine.js";
import type { AttachRequest, ImporterDriver } from "../machine/machine.js";
import { p2pDistanceIn } from "../fabric/topology.js";
import { negotiate } from "../negotiation/negotiate.js";
import type { NegotiationResult } from "../negotiation/negotiate.js";
import type { ExporterOffer } from "../negotiation/offer.js";
import { exporterOf, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";

/**
 * The exporter's offers for a buffer, in priority order: what its
 * `match_mapping` would pass to `dma_buf_match_mapping()` now (kernel-model
 * §4.2).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buf - the dma-buf id; it must exist.
 * @returns the offers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, offersOf, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * // the reference exporter offers one SGT that needs no P2P
 * assert.deepEqual(
 *   offersOf(m, world, 1).map((o) => o.type.id),
 *   ["sgt"],
 * );
 * ```
 *
 * @category Negotiation
 */
export function offersOf(m: Machine, w: World, buf: number): readonly ExporterOffer[] {
  return exporterOf(m, mustBuf(w, buf)).offers(m, w, buf);
}

/**
 * The negotiation `dma_buf_mapping_attach()` would run for this attach
 * (kernel-model §4.2): the buffer's offers against the importer's accepts
 * for the request, with P2P distances from the machine's topology. The
 * attach itself uses it, and so can anyone who must tell a failed
 * negotiation apart from the exporter's `attach` refusing.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buf - the dma-buf id; it must exist.
 * @param imp - the importer driver.
 * @param request - the importing device and the attach's kind.
 * @returns the match or the failure, with every pair considered.
 * @kernel dma_buf_mapping_attach
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, negotiateAttach, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const imp = m.importers.get("ref-importer");
 * assert.ok(imp !== undefined);
 * const r = negotiateAttach(m, world, 1, imp, { device: "dev0", dynamic: true, peer2peer: true });
 * assert.ok(r.ok);
 * assert.equal(r.match.type.id, "sgt");
 * ```
 *
 * @category Negotiation
 */
export function negotiateAttach(
  m: Machine,
  w: World,
  buf: number,
  imp: ImporterDriver,
  request: AttachRequest,
): NegotiationResult {
  const topology = m.topology;
  return negotiate(offersOf(m, w, buf), imp.accepts(m, w, request), m.profile, {
    p2pDistance: (provider, client) => p2pDistanceIn(topology, provider, client),
  });
}
