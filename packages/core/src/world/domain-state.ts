import type { Codec } from "../encoding/codec.js";
import { pushU64 } from "../encoding/hash.js";

/** One IOVA range mapped in an IOMMU domain (`iommu_map`). */
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
 * An `iommu_domain`: the IOVA -> physical translation a device attached to
 * it sees (DESIGN §3.5). Ranges, never pages; kept sorted by IOVA.
 */
export interface DomainState {
  /** Mapped ranges, sorted by IOVA, non-overlapping. */
  readonly mappings: readonly IommuMapping[];
  /** Next IOVA the DMA API allocator hands out (a bump allocator). */
  readonly nextIova: bigint;
}

/** Canonical encoding of a {@link DomainState}. */
export const domainCodec: Codec<DomainState> = {
  seed: 0xd0a1,
  encode(d, out) {
    pushU64(out, d.nextIova);
    out.push(d.mappings.length);
    for (const m of d.mappings) {
      pushU64(out, m.iova);
      pushU64(out, m.len);
      pushU64(out, m.phys);
      out.push((m.read ? 1 : 0) | (m.write ? 2 : 0));
    }
  },
};
