import type { Codec } from "../encoding/codec.js";
import { pushString, pushU64 } from "../encoding/hash.js";

/**
 * The oracle's record that a device may reach a physical range: created by
 * whatever legitimately arranged the access (a dma-buf map, a pinned
 * user-memory IOMMU map, a legacy PFN map) and removed when that access is
 * torn down. A device reaching memory with no live grant is a violation
 * (DESIGN §3.5). Not a kernel object: the kernel has no such check, which is
 * exactly what the oracle adds.
 *
 * @category Fabric and oracle
 */
export interface Grant {
  /** The device allowed to access. */
  readonly device: string;
  /** The name of the region the range lies in. */
  readonly region: string;
  /**
   * That region's id in `World.regions`: the oracle's index finds a
   * region's grants by it. A name can outlive its region (a freed memfd's
   * region stays while a grant names it, and a new memfd of the same id
   * takes the name again); the id tells the two apart.
   */
  readonly regionId: number;
  /** CPU physical start. */
  readonly phys: bigint;
  /** Length in bytes. */
  readonly len: bigint;
  /** Whether writes are allowed. */
  readonly write: boolean;
  /**
   * The region was reset, disabled or freed since the grant was made: the
   * mapping behind it points at memory whose contents or owner changed.
   * Kept as a flag, not an epoch number, so that a world does not count
   * resets for ever (DESIGN §2a, finite worlds).
   */
  readonly stale: boolean;
  /** The dma-buf attachment whose mapping made it, or null for other paths. */
  readonly att: number | null;
}

/** Canonical encoding of a {@link Grant}. */
export const grantCodec: Codec<Grant> = {
  seed: 0x96a7,
  encode(g, out) {
    pushString(out, g.device);
    pushString(out, g.region);
    out.push(g.regionId);
    pushU64(out, g.phys);
    pushU64(out, g.len);
    out.push(g.write ? 1 : 0, g.stale ? 1 : 0, g.att === null ? -1 : g.att);
  },
};
