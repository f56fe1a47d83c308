import type { Codec } from "../encoding/codec.js";
import { pushString, pushU64 } from "../encoding/hash.js";

/**
 * DMA direction of an access, as the device issues it.
 *
 * @category Lifetime
 */
export type DmaDirection = "read" | "write";

/**
 * An in-flight DMA job: the device's work behind one `dma_fence` added to the
 * buffer's reservation object with `DMA_RESV_USAGE_BOOKKEEP`
 * (kernel-model §1.3). It exists until the device signals the fence.
 *
 * @category Lifetime
 */
export interface DmaJob {
  /** The device doing the DMA. */
  readonly device: string;
  /** The attachment whose mapping the job uses. */
  readonly att: number;
  /** The dma-buf whose resv holds the fence. */
  readonly buf: number;
  /** The DMA address the job accesses. */
  readonly addr: bigint;
  /** Bytes per access. */
  readonly len: bigint;
  /** Read or write. */
  readonly dir: DmaDirection;
  /**
   * Submitted before the mapping was invalidated: such a job may keep full
   * access until its fence signals; one submitted after may not.
   */
  readonly beforeInvalidate: boolean;
}

/** Canonical encoding of a {@link DmaJob}. */
export const jobCodec: Codec<DmaJob> = {
  seed: 0xf3c3,
  encode(j, out) {
    pushString(out, j.device);
    out.push(j.att, j.buf);
    pushU64(out, j.addr);
    pushU64(out, j.len);
    out.push(j.dir === "write" ? 1 : 0, j.beforeInvalidate ? 1 : 0);
  },
};
