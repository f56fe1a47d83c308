import type { Codec } from "../encoding/codec.js";
import { internString, pushU64 } from "../encoding/hash.js";
import type { Region } from "../fabric/topology.js";

/**
 * A physical region and its run-time state: whether memory answers at all
 * (a BAR during FLR or with PCI_COMMAND.MEMORY clear does not; freed memory
 * has no owner) and its epoch, which advances every time the owner resets,
 * moves or frees it (DESIGN §3.5). Exporters may carve sub-regions (a
 * buffer's pages) so that freeing one buffer is visible to the oracle.
 */
export interface RegionState extends Region {
  /** `live` memory answers; `inaccessible` is mid-reset, disabled or freed. */
  readonly status: "live" | "inaccessible";
  /** Bumped on every reset, move or free. */
}

/** Canonical encoding of a {@link RegionState}. */
export const regionStateCodec: Codec<RegionState> = {
  seed: 0x4e61,
  encode(r, out) {
    out.push(internString(r.id), internString(r.kind));
    pushU64(out, r.base);
    pushU64(out, r.size);
    pushU64(out, r.busOffset);
    out.push(r.device === undefined ? 0 : internString(r.device));
    out.push(r.status === "live" ? 1 : 0);
  },
};
