import type { Hardware } from "./topology.js";
import { err, ok } from "../errors/result.js";
import type { Result } from "../errors/result.js";
import type { PhysVec } from "../schemas.js";
import type { IovaRange } from "../world/attachment-state.js";
import type { World } from "../world/world.js";
import { grantIn } from "./grants.js";
import { allocIova, domainOf, iommuMap, iommuUnmap } from "./iommu.js";
import { regionContaining } from "./regions.js";
import { p2pMapType } from "./topology.js";

/**
 * One DMA-mapped entry: what the importing device must issue.
 *
 * @category Fabric and oracle
 */
export interface DmaEntry {
  /** DMA address (bus address or IOVA). */
  readonly dmaAddress: bigint;
  /** Length in bytes. */
  readonly length: bigint;
}

/**
 * What {@link dmaMapRanges} built: entries, grants and IOVA to undo.
 *
 * @category Fabric and oracle
 */
export interface DmaMapped {
  /** The world with the IOMMU mappings and grants added. */
  readonly world: World;
  /** The DMA addresses, one per range, in order. */
  readonly entries: readonly DmaEntry[];
  /** The grants created (the oracle's record of the access). */
  readonly grants: readonly number[];
  /** IOVA allocated in the device's domain. */
  readonly iova: readonly IovaRange[];
}

/**
 * Maps physical ranges for one importing device, as the DMA API does: the
 * model of `dma_buf_phys_vec_to_sgt()` for MMIO (kernel-model §1.4) and of
 * `dma_map_sgtable()` for RAM.
 *
 * For MMIO, `pci_p2pdma_map_type(provider, device)` decides: BUS_ADDR uses
 * the bus address (CPU physical plus the region's bus offset) with no IOVA;
 * THRU_HOST_BRIDGE maps an IOVA in the device's domain; anything else is
 * `-EINVAL` ("not P2P reachable"). RAM gets an IOVA when the device is
 * behind an IOMMU and its physical address otherwise. Each range also
 * becomes a grant for the oracle, tied to the attachment.
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param device - the importing DMA device.
 * @param ranges - the physical ranges, in order.
 * @param opts - the attachment the grants belong to and whether writes are allowed.
 * @returns the mapped entries, or the errno.
 * @kernel drivers/dma-buf/dma-buf-mapping.c dma_buf_phys_vec_to_sgt kernel/dma/mapping.c
 *   dma_map_sgtable
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, dmaMapRanges, referenceMachine } from "@dmabuf-ref/core";
 *
 * // 16 KiB of RAM mapped for dev0 (behind the IOMMU: an IOVA) and dev2 (no IOMMU: physical).
 * const m = referenceMachine();
 * const ranges = [{ paddr: 0x1_0000_0000n, len: 0x4000n }];
 * const viaIommu = dmaMapRanges(m, boot(m), "dev0", ranges, { att: null, write: true });
 * assert.ok(viaIommu.ok);
 * assert.deepEqual(viaIommu.value.entries, [{ dmaAddress: 0x1000_0000n, length: 0x4000n }]);
 * assert.deepEqual(viaIommu.value.iova, [{ domain: 1, iova: 0x1000_0000n, len: 0x4000n }]);
 * const direct = dmaMapRanges(m, boot(m), "dev2", ranges, { att: null, write: true });
 * assert.equal(direct.ok && direct.value.entries[0]?.dmaAddress, 0x1_0000_0000n);
 * ```
 * @category Fabric and oracle
 */
export function dmaMapRanges(
  m: Hardware,
  w: World,
  device: string,
  ranges: readonly PhysVec[],
  opts: { readonly att: number | null; readonly write: boolean },
): Result<DmaMapped> {
  let world = w;
  const entries: DmaEntry[] = [];
  const grants: number[] = [];
  const iova: IovaRange[] = [];
  for (const r of ranges) {
    const found = regionContaining(world, r.paddr, r.len);
    if (found === undefined) throw new Error(`no region holds 0x${r.paddr.toString(16)}`);
    const [, region] = found;
    const domain = domainOf(m, world, device);
    let dmaAddress = r.paddr;
    let useIova = region.kind === "ram" && domain !== undefined;
    if (region.kind !== "ram") {
      const provider = region.device;
      const how =
        provider === undefined ? "not-supported" : p2pMapType(m.topology, provider, device);
      if (how === "not-supported") {
        return err(
          "EINVAL",
          () => `${device} cannot reach ${region.id} peer to peer (pci_p2pdma_map_type)`,
        );
      }
      if (how === "bus-addr") dmaAddress = r.paddr + region.busOffset;
      else useIova = domain !== undefined;
    }
    if (useIova && domain !== undefined) {
      const [addr, next] = allocIova(world, domain, r.len);
      world = iommuMap(next, domain, {
        iova: addr,
        len: r.len,
        phys: r.paddr,
        read: true,
        write: opts.write,
      });
      iova.push({ domain, iova: addr, len: r.len });
      dmaAddress = addr;
    }
    const granted = grantIn(world, found, {
      device,
      phys: r.paddr,
      len: r.len,
      write: opts.write,
      att: opts.att,
    });
    world = granted.world;
    grants.push(granted.id);
    entries.push({ dmaAddress, length: r.len });
  }
  return ok({ world, entries, grants, iova });
}

/**
 * Undoes the IOVA a map allocated (`dma_buf_free_sgt()` / `dma_unmap_sgtable()`).
 * The grants are ended by core when the unmap returns.
 *
 * @param w - the world.
 * @param iova - the ranges the map allocated.
 * @returns the new world.
 * @kernel drivers/dma-buf/dma-buf-mapping.c dma_buf_free_sgt kernel/dma/mapping.c dma_unmap_sgtable
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, dmaMapRanges, dmaUnmapIova, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const ranges = [{ paddr: 0x1_0000_0000n, len: 0x4000n }];
 * const mapped = dmaMapRanges(m, boot(m), "dev0", ranges, { att: null, write: true });
 * assert.ok(mapped.ok);
 * assert.equal(mapped.value.world.domains.get(1)?.mappings.size, 1);
 * const w = dmaUnmapIova(mapped.value.world, mapped.value.iova);
 * assert.equal(w.domains.get(1)?.mappings.size, 0);
 * ```
 * @category Fabric and oracle
 */
export function dmaUnmapIova(w: World, iova: readonly IovaRange[]): World {
  return iova.reduce((world, r) => iommuUnmap(world, r.domain, r.iova, r.len), w);
}
