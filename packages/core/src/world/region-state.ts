import type { Codec } from "../encoding/codec.js";
import { pushString, pushU64, pushOptionalString } from "../encoding/hash.js";
import type { Region } from "../fabric/topology.js";

/**
 * What state a region's memory is in: `live` answers; `inaccessible` is
 * still owned but mid-reset or disabled (a BAR during FLR or with
 * PCI_COMMAND.MEMORY clear); `freed` has no owner any more and may be
 * handed out again (a released buffer's pages, a moved BO's old placement).
 *
 * @category Fabric and oracle
 */
export type RegionStatus = "live" | "inaccessible" | "freed";

/**
 * A physical region and its run-time state (DESIGN §3.5). Exporters may
 * carve sub-regions (a buffer's pages) so that freeing one buffer is
 * visible to the oracle: a freed region stays until its memory is handed
 * out again, and every grant made before it went away is stale.
 *
 * @category Fabric and oracle
 */
export interface RegionState extends Region {
  /** Whether the memory answers, and whether it still has an owner. */
  readonly status: RegionStatus;
}

const STATUS_CODE: Readonly<Record<RegionStatus, number>> = { live: 1, inaccessible: 0, freed: 2 };

/** Canonical encoding of a {@link RegionState}. */
export const regionStateCodec: Codec<RegionState> = {
  seed: 0x4e61,
  encode(r, out) {
    pushString(out, r.id);
    pushString(out, r.kind);
    pushU64(out, r.base);
    pushU64(out, r.size);
    pushU64(out, r.busOffset);
    pushOptionalString(out, r.device);
    out.push(STATUS_CODE[r.status]);
  },
};
