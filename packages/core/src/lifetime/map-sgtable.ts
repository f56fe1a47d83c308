import { err, ok } from "../errors/result.js";
import type { Result } from "../errors/result.js";
import { dmaMapRanges } from "../fabric/dma-map.js";
import type { MapStep } from "../machine/machine.js";
import { mappingPayload } from "../mapping-types/define.js";
import { sgt } from "../mapping-types/sgt.js";
import type { PhysVec } from "../schemas.js";
import { mustAtt } from "../world/access.js";
import type { World } from "../world/world.js";
import type { Hardware } from "../fabric/topology.js";

/**
 * An exporter's `map_dma_buf` for an SGT attachment: DMA-map the buffer's
 * physical ranges for the attachment's device (`dma_map_sgtable`, or the
 * P2P bus-address path, kernel-model §1.1) and hand the importer the
 * scatterlist. The one way every SGT exporter of the model maps; an
 * attachment with no device (KVM's `dev = NULL`) has nothing to map for.
 *
 * @param m - the machine's hardware.
 * @param w - the current world.
 * @param att - the attachment id.
 * @param ranges - the CPU physical ranges of the buffer (or of the part mapped).
 * @param write - whether the device may write (default true).
 * @returns the mapping (SGT payload, grants, IOVA to undo) or the errno.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_map_attachment
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, mapSgtable, payloadAs, referenceMachine, runScript, sgt } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev2", dynamic: true },
 * ]);
 * // dev2 has no IOMMU: its DMA address is the physical one
 * const r = mapSgtable(m, world, 1, [{ paddr: 0x1_0000_0000n, len: 0x4000n }]);
 * assert.ok(r.ok);
 * const entries = payloadAs(sgt, r.value.mapping.payload).entries;
 * assert.deepEqual(entries, [{ dmaAddress: 0x1_0000_0000n, length: 0x4000n }]);
 * ```
 *
 * @category Lifetime
 */
export function mapSgtable(
  m: Hardware,
  w: World,
  att: number,
  ranges: readonly PhysVec[],
  write = true,
): Result<MapStep> {
  const device = mustAtt(w, att).device;
  if (device === null) return err("EINVAL", "no DMA device to map for");
  const mapped = dmaMapRanges(m, w, device, ranges, { att, write });
  if (!mapped.ok) return mapped;
  const { world, entries, grants, iova } = mapped.value;
  return ok({
    world,
    events: [],
    mapping: { payload: mappingPayload(sgt, { entries }), grants, iova },
  });
}
