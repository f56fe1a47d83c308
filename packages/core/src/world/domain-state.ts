import type { Codec } from "../encoding/codec.js";
import { equalWith } from "../encoding/codec.js";
import { setCodec } from "./driver-slice.js";
import { pushU64 } from "../encoding/hash.js";
import { PTable } from "../encoding/ptable.js";
import type { IovaTree } from "../fabric/iova-tree.js";
import { iovaIndex } from "../fabric/iova-tree.js";

/**
 * IOVA alignment of the DMA-API allocator: one 4 KiB page.
 *
 * @category Fabric and oracle
 */
export const IOVA_PAGE = 0x1000n;

/**
 * One IOVA range mapped in an IOMMU domain (`iommu_map`).
 *
 * @category Fabric and oracle
 */
export interface IommuMapping {
  /** First IOVA. */
  readonly iova: bigint;
  /** Length in bytes. */
  readonly len: bigint;
  /** CPU physical address of the first byte. */
  readonly phys: bigint;
  /** `IOMMU_READ`. */
  readonly read: boolean;
  /** `IOMMU_WRITE`. */
  readonly write: boolean;
}

/**
 * Canonical encoding of an {@link IommuMapping}.
 *
 * @category Codecs
 */
export const iommuMappingCodec: Codec<IommuMapping> = {
  seed: 0x10a4,
  encode(m, out) {
    pushU64(out, m.iova);
    pushU64(out, m.len);
    pushU64(out, m.phys);
    out.push((m.read ? 1 : 0) | (m.write ? 2 : 0));
  },
};

/**
 * An `iommu_domain`: the IOVA -> physical translation a device attached to
 * it sees (DESIGN §3.5). Ranges, never pages. The mappings are a table of
 * their own, so mapping or unmapping one range re-hashes O(1) entries
 * however many ranges the domain holds (DESIGN §2a).
 *
 * @kernel include/linux/iommu.h iommu_domain
 *
 * @category Fabric and oracle
 */
export interface DomainState {
  /**
   * Mapped ranges, non-overlapping, keyed by the lowest free slot number;
   * indexed by IOVA (each range names its slot), which is what translation,
   * overlap checks and the allocator search.
   */
  readonly mappings: PTable<IommuMapping, IovaTree<number>>;
  /**
   * The lowest IOVA the DMA-API allocator hands out; it searches the holes
   * between the mapped ranges from here up (no cursor, so unmapping and
   * mapping again gives the same IOVA back).
   */
  readonly iovaBase: bigint;
}

const mappingIndex = iovaIndex<IommuMapping>(
  (m) => m.iova,
  (m) => m.len,
  IOVA_PAGE,
);

/**
 * A domain with nothing mapped.
 *
 * @param iovaBase - the lowest IOVA the DMA-API allocator hands out (default 0x10000000).
 * @returns the empty domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allocIova, boot, emptyDomain, referenceMachine, worldWith } from "@dmabuf-ref/core";
 *
 * // The DMA-API allocator of a fresh domain hands out IOVA from 0x1000_0000.
 * const d = emptyDomain();
 * assert.equal(d.iovaBase, 0x1000_0000n);
 * assert.equal(d.mappings.size, 0);
 * // A domain whose allocator starts at 4 GiB, put in the place of dev0's.
 * const w0 = boot(referenceMachine());
 * const w = worldWith(w0, { domains: w0.domains.set(1, emptyDomain(0x1_0000_0000n)) });
 * assert.equal(allocIova(w, 1, 0x1000n)[0], 0x1_0000_0000n);
 * ```
 * @category Fabric and oracle
 */
export function emptyDomain(iovaBase = 0x1000_0000n): DomainState {
  return { mappings: PTable.indexed(iommuMappingCodec, mappingIndex), iovaBase };
}

/**
 * The mapping that starts at an IOVA.
 *
 * @param d - the domain.
 * @param iova - the first IOVA of the mapping.
 * @returns the mapping, or undefined.
 */
export function mappingAt(d: DomainState, iova: bigint): IommuMapping | undefined {
  const e = d.mappings.index.at(iova);
  return e === undefined ? undefined : d.mappings.get(e.value);
}

const mappingSet = setCodec(iommuMappingCodec);

/**
 * Canonical encoding of a {@link DomainState}: the mapped ranges enter as a
 * set (their slots are the model's, nothing the kernel or a device sees), so
 * two domains that mapped the same ranges in another order are equal.
 * @category Codecs
 */
export const domainCodec: Codec<DomainState> = {
  seed: 0xd0a1,
  encode(d, out) {
    pushU64(out, d.iovaBase);
    mappingSet.encode(d.mappings, out);
  },
  equals: (a, b) => a.iovaBase === b.iovaBase && equalWith(mappingSet, a.mappings, b.mappings),
};
