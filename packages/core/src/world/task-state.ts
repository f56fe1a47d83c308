import type { Codec } from "../encoding/codec.js";
import { pushString } from "../encoding/hash.js";

/**
 * The multi-step kernel operations the model runs as tasks.
 *
 * @category Lifetime
 */
export type TaskKind =
  /** The exporter revoke sequence (kernel-model §1.3, §2.5). */
  | "revoke"
  /** The v7 un-revoke sequence (kernel-model §2.5). */
  | "unrevoke";

/**
 * A kernel operation in progress: which program, on which buffer, and how
 * far it got (`pc`). Tasks let the explorer interleave other actors at the
 * points where the kernel really blocks (DESIGN §2a).
 *
 * @category Lifetime
 */
export interface TaskState {
  /** Which program. */
  readonly kind: TaskKind;
  /** The dma-buf it works on. */
  readonly buf: number;
  /** Index of the next step of the program. */
  readonly pc: number;
  /** For a revoke: permanent (close, unbind) or temporary (reset, memory off). */
  readonly permanent: boolean;
  /** Who started it, as traces name it (e.g. "vfio0 FLR"). */
  readonly by: string;
}

/** Canonical encoding of a {@link TaskState}. */
export const taskCodec: Codec<TaskState> = {
  seed: 0x7a5c,
  encode(t, out) {
    out.push(t.kind === "revoke" ? 1 : 2, t.buf, t.pc, t.permanent ? 1 : 0);
    pushString(out, t.by);
  },
};
