/*
 * The type1 container's DMA list (`iommu->dma_list`, an rb-tree of
 * `struct vfio_dma` by IOVA) as a driver slice of the World.
 */
import { readSlice, tableSlice, writeSlice } from "@dmabuf-ref/core";
import type { Codec, Machine, PagePiece, SliceDef, World } from "@dmabuf-ref/core";
import { PTable, pushString, pushU64 } from "@dmabuf-ref/core/encoding";
import { VFIO_TYPE1 } from "./constants.js";

/**
 * One IOMMU mapping a `vfio_dma` made: `[iova, iova + len)` translates to `[phys, phys + len)`.
 *
 * @category Drivers
 */
export interface VfioDmaChunk {
  /** First IOVA. */
  readonly iova: bigint;
  /** CPU physical address it reaches. */
  readonly phys: bigint;
  /** Bytes. */
  readonly len: bigint;
}

/**
 * One `struct vfio_dma` (drivers/vfio/vfio_iommu_type1.c): a user mapping
 * `VFIO_IOMMU_MAP_DMA` made, as the model keeps it. It names no VMA, no
 * file and no device of the memory it maps: for `VM_PFNMAP` memory (a BAR
 * mmap) type1 kept only the PFNs, which is why nothing tells it when they
 * go away (seeds 000, 001).
 *
 * @category Drivers
 */
export interface VfioDma {
  /** The device whose container (and IOMMU domain) it is in. */
  readonly device: string;
  /** The IOMMU domain it was mapped into. */
  readonly domain: number;
  /** `dma->iova`. */
  readonly iova: bigint;
  /** `dma->size`. */
  readonly size: bigint;
  /** `dma->vaddr`. */
  readonly vaddr: bigint;
  /** `dma->prot & IOMMU_READ`. */
  readonly read: boolean;
  /** `dma->prot & IOMMU_WRITE`. */
  readonly write: boolean;
  /** The IOMMU mappings, in IOVA order (`vfio_iommu_map` per contiguous PFN run). */
  readonly chunks: readonly VfioDmaChunk[];
  /** The pages it pinned (`pin_user_pages_remote`); empty for `VM_PFNMAP` PFNs, which are not refcounted. */
  readonly pinned: readonly PagePiece[];
  /** The oracle's grants for the device's access (tied to no dma-buf attachment; DESIGN §3.5). */
  readonly grants: readonly number[];
}

/** Canonical encoding of a {@link VfioDma}: every field, in declaration order. */
export const vfioDmaCodec: Codec<VfioDma> = {
  seed: 0x7e01,
  encode(d, out) {
    pushString(out, d.device);
    out.push(d.domain);
    pushU64(out, d.iova);
    pushU64(out, d.size);
    pushU64(out, d.vaddr);
    out.push((d.read ? 1 : 0) | (d.write ? 2 : 0), d.chunks.length, d.pinned.length);
    for (const c of d.chunks) {
      pushU64(out, c.iova);
      pushU64(out, c.phys);
      pushU64(out, c.len);
    }
    for (const p of d.pinned) {
      pushU64(out, p.start);
      pushU64(out, p.len);
      pushU64(out, p.phys);
      pushString(out, p.region);
      out.push(p.memfd ?? -1);
    }
    out.push(d.grants.length, ...d.grants);
  },
};

/**
 * The type1 driver's slice: its `vfio_dma` entries (every container's
 * `iommu->dma_list`, each entry naming its device), a table keyed by a
 * slot number nobody observes (entries are found by device and IOVA).
 *
 * @category Drivers
 */
export const vfioDmaListSlice: SliceDef<PTable<VfioDma>> = tableSlice("dma_list", vfioDmaCodec);

/**
 * The type1 DMA list in a world.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the table (empty before the first map).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { vfioDmaDoMap, vfioDmaList, vfioType1Importer } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [vfioType1Importer()] });
 * assert.equal(vfioDmaList(m, boot(m)).size, 0);
 * const r = vfioDmaDoMap(m, boot(m), { process: "vmm", device: "dev0",
 *   vaddr: 0x7f00_0000_0000n, iova: 0x10_0000n, size: 0x4000n, flags: ["READ"] });
 * const dmas = [...vfioDmaList(m, r.world).values()].map((d) => [d.device, d.iova, d.write]);
 * assert.deepEqual(dmas, [["dev0", 0x10_0000n, false]]);
 * ```
 * @category Drivers
 */
export function vfioDmaList(m: Machine, w: World): PTable<VfioDma> {
  return readSlice(m, w, VFIO_TYPE1, vfioDmaListSlice);
}

/**
 * The world with the DMA list replaced.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param list - the new table.
 * @returns the new world.
 */
export function putDmaList(m: Machine, w: World, list: PTable<VfioDma>): World {
  return writeSlice(m, w, VFIO_TYPE1, vfioDmaListSlice, list);
}

/**
 * The type1 driver's state as lists, for tests and the CLI.
 *
 * @category Drivers
 */
export interface VfioType1State {
  /** Every `vfio_dma`, in IOVA order per device. */
  readonly dmas: readonly VfioDma[];
}

/**
 * The type1 driver's state in a world (`iommu->dma_list` of every container).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the state.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { vfioType1Importer, vfioType1StateOf } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [vfioType1Importer()] });
 * const map = (device: string, iova: bigint) => ({ kind: "driver", driver: "vfio-type1",
 *   action: { op: "VFIO_IOMMU_MAP_DMA", device, vaddr: 0x7f00_0000_0000n + iova, iova,
 *     size: 0x1000n } }) as const;
 * const { world } = runScript(m, boot(m), [map("dev1", 0x2000n), map("dev0", 0x3000n),
 *   map("dev0", 0x1000n)]);
 * // Every container's dma_list, by device then IOVA.
 * const dmas = vfioType1StateOf(m, world).dmas.map((d) => [d.device, d.iova]);
 * assert.deepEqual(dmas, [["dev0", 0x1000n], ["dev0", 0x3000n], ["dev1", 0x2000n]]);
 * ```
 * @category Drivers
 */
export function vfioType1StateOf(m: Machine, w: World): VfioType1State {
  const dmas = [...vfioDmaList(m, w).values()].sort((a, b) =>
    a.device === b.device ? (a.iova < b.iova ? -1 : 1) : a.device < b.device ? -1 : 1,
  );
  return { dmas };
}
