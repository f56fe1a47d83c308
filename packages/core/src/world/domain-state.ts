import type { Codec } from "../encoding/codec.js";
import { pushU64 } from "../encoding/hash.js";
import { valueLanes } from "../encoding/ptable.js";
import { IovaTree } from "../fabric/iova-tree.js";

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
 * The ranges an IOMMU domain translates, keyed by their first IOVA (as the
 * domain's page table is): non-overlapping, in a persistent B+tree with
 * the holes between them searchable, so a map, an unmap or a translated
 * access costs O(log n) and shares the rest with the previous world.
 * Nothing else names a mapping (the kernel hands out no mapping ids), so
 * the ranges are hashed and compared as a set: two domains that mapped the
 * same ranges in another order are equal. The hash lanes are kept as
 * ranges come and go, in O(1).
 *
 * @kernel include/linux/iommu.h iommu_domain
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DomainMappings } from "@dmabuf-ref/core";
 *
 * const a = { iova: 0x1000_0000n, len: 0x2000n, phys: 0x1_0000_0000n, read: true, write: true };
 * const b = { iova: 0x1000_4000n, len: 0x1000n, phys: 0x1_0008_0000n, read: true, write: false };
 * const ab = DomainMappings.EMPTY.add(a).add(b);
 * // A set of ranges: the order they were mapped in does not matter.
 * assert.ok(ab.equals(DomainMappings.EMPTY.add(b).add(a)));
 * // Found by any byte they translate; the hole between them by the allocator's first fit.
 * assert.equal(ab.covering(0x1000_1ff0n, 0x10n), a);
 * assert.equal(ab.covering(0x1000_2000n, 1n), undefined);
 * assert.equal(ab.firstFit(0x1000_0000n, 0x2000n), 0x1000_2000n);
 * assert.ok(ab.remove(b.iova).equals(DomainMappings.EMPTY.add(a)));
 * ```
 * @category Fabric and oracle
 */
export class DomainMappings {
  private constructor(
    private readonly ranges: IovaTree<IommuMapping>,
    /** Order-independent hash of the mappings (the lanes a `PTable` of them would have). */
    readonly valuesHash: number,
    /** The second lane: with the first, a 64-bit fingerprint of the set. */
    readonly valuesHash2: number,
  ) {}

  /** No mappings. */
  static readonly EMPTY: DomainMappings = new DomainMappings(IovaTree.empty(IOVA_PAGE), 0, 0);

  /** Number of mapped ranges. */
  get size(): number {
    return this.ranges.size;
  }

  /**
   * These mappings and one more. The caller has checked that it overlaps
   * nothing ({@link DomainMappings.overlapping}).
   *
   * @param m - the new mapping.
   * @returns the new set.
   */
  add(m: IommuMapping): DomainMappings {
    const lanes = valueLanes(iommuMappingCodec, m);
    return new DomainMappings(
      this.ranges.insert(m.iova, m.len, m),
      (this.valuesHash + lanes.lane1) | 0,
      (this.valuesHash2 + lanes.lane2) | 0,
    );
  }

  /**
   * These mappings without the one that starts at `iova`.
   *
   * @param iova - its first IOVA.
   * @returns the new set (this one when nothing starts there).
   */
  remove(iova: bigint): DomainMappings {
    return this.removeExact(iova, undefined);
  }

  /**
   * These mappings without the one that starts at `iova`, when it is `len`
   * bytes long: `iommu_unmap()` of exactly what one map made. One descent
   * of the tree finds, checks and removes it.
   *
   * @param iova - its first IOVA.
   * @param len - its length in bytes; undefined for any.
   * @returns the new set (this one when no mapping of that length starts there).
   */
  removeExact(iova: bigint, len: bigint | undefined): DomainMappings {
    const r = this.ranges.take(iova);
    if (r === undefined) return this;
    const m = r.removed.value;
    if (len !== undefined && m.len !== len) return this;
    const lanes = valueLanes(iommuMappingCodec, m);
    return new DomainMappings(
      r.tree,
      (this.valuesHash - lanes.lane1) | 0,
      (this.valuesHash2 - lanes.lane2) | 0,
    );
  }

  /**
   * The mapping that starts at an IOVA.
   *
   * @param iova - its first IOVA.
   * @returns the mapping, or undefined.
   */
  at(iova: bigint): IommuMapping | undefined {
    return this.ranges.at(iova)?.value;
  }

  /**
   * The mapping that translates every byte of `[iova, iova + len)`.
   *
   * @param iova - the first address.
   * @param len - bytes (at least 1).
   * @returns the mapping, or undefined when no single one covers them all.
   */
  covering(iova: bigint, len: bigint): IommuMapping | undefined {
    return this.ranges.covering(iova, len)?.value;
  }

  /**
   * A mapping that shares a byte with `[iova, iova + len)`.
   *
   * @param iova - the first address.
   * @param len - bytes (at least 1).
   * @returns one such mapping, or undefined.
   */
  overlapping(iova: bigint, len: bigint): IommuMapping | undefined {
    return this.ranges.overlapping(iova, len)?.value;
  }

  /**
   * The lowest IOVA at or above `base` where `size` bytes fit between the
   * mappings (each one's end rounded up to a page): the DMA-API allocator's
   * first fit.
   *
   * @param base - the lowest IOVA to hand out (page aligned).
   * @param size - bytes needed (a multiple of the page).
   * @returns the IOVA.
   */
  firstFit(base: bigint, size: bigint): bigint {
    return this.ranges.firstFit(base, size);
  }

  /**
   * Every mapping, in IOVA order.
   *
   * @yields each mapping.
   */
  *values(): Generator<IommuMapping> {
    for (const e of this.ranges.entries()) yield e.value;
  }

  /**
   * Equality as sets of mappings: after the size and hash lanes, the ranges
   * in IOVA order (two versions of one domain compare in what differs).
   *
   * @param other - the other domain's mappings.
   * @returns true when both map the same ranges to the same memory with the same permissions.
   */
  equals(other: DomainMappings): boolean {
    if (this === other) return true;
    if (
      this.size !== other.size ||
      this.valuesHash !== other.valuesHash ||
      this.valuesHash2 !== other.valuesHash2
    )
      return false;
    return this.ranges.sameRanges(other.ranges, sameMapping);
  }
}

// The key (iova) and the end (iova + len) are compared by the tree.
function sameMapping(a: IommuMapping, b: IommuMapping): boolean {
  return a.phys === b.phys && a.read === b.read && a.write === b.write;
}

/**
 * An `iommu_domain`: the IOVA -> physical translation a device attached to
 * it sees (DESIGN §3.5). Ranges, never pages: mapping or unmapping one range
 * re-hashes O(1) of them however many the domain holds (DESIGN §2a).
 *
 * @kernel include/linux/iommu.h iommu_domain
 *
 * @category Fabric and oracle
 */
export interface DomainState {
  /** Mapped ranges by first IOVA, non-overlapping: what translation, overlap checks and the allocator search. */
  readonly mappings: DomainMappings;
  /**
   * The lowest IOVA the DMA-API allocator hands out; it searches the holes
   * between the mapped ranges from here up (no cursor, so unmapping and
   * mapping again gives the same IOVA back).
   */
  readonly iovaBase: bigint;
}

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
  return { mappings: DomainMappings.EMPTY, iovaBase };
}

/**
 * The mapping that starts at an IOVA.
 *
 * @param d - the domain.
 * @param iova - the first IOVA of the mapping.
 * @returns the mapping, or undefined.
 */
export function mappingAt(d: DomainState, iova: bigint): IommuMapping | undefined {
  return d.mappings.at(iova);
}

/**
 * Canonical encoding of a {@link DomainState}: the mapped ranges enter as a
 * set (their count and hash lanes), so two domains that mapped the same
 * ranges in another order are equal.
 * @category Codecs
 */
export const domainCodec: Codec<DomainState> = {
  seed: 0xd0a1,
  encode(d, out) {
    pushU64(out, d.iovaBase);
    out.push(d.mappings.size, d.mappings.valuesHash | 0, d.mappings.valuesHash2 | 0);
  },
  equals: (a, b) => a.iovaBase === b.iovaBase && a.mappings.equals(b.mappings),
};
