import { recordWith } from "../encoding/record-with.js";
import type { Codec } from "../encoding/codec.js";
import { pushString, pushU64, pushOptionalString } from "../encoding/hash.js";
import type { Encoded } from "../encoding/codecs.js";
import { encodedCodec } from "../encoding/codecs.js";

/**
 * A dma-buf's revoke state. VFIO keeps a `revoked` bit (kernel-model §2.3);
 * Matt Evans' series turns it into usable / revoked temporarily / revoked
 * permanently, which the model uses for every exporter.
 *
 * @category Lifetime
 */
export type RevokeState = "usable" | "temporary" | "permanent";

/**
 * Core's view of one `struct dma_buf` (kernel-model §1): who exported it, its
 * size, the reservation lock, its attachment list and file references. What
 * only the exporter knows lives in `priv` (like `dmabuf->priv`).
 *
 * @kernel include/linux/dma-buf.h dma_buf
 *
 * @category Lifetime
 */
export interface DmaBufState {
  /** The exporter driver's name (its callbacks are in the world's config). */
  readonly exporter: string;
  /** The exporting device or instance, as traces name it (e.g. "vfio0"). */
  readonly owner: string;
  /** `dmabuf->size` in bytes. */
  readonly size: bigint;
  /** Revoked or not; changes only under the reservation lock. */
  readonly revoked: RevokeState;
  /** Who holds `dmabuf->resv` (a task or an actor), or null when free. */
  readonly resvHolder: string | null;
  /** `dmabuf->attachments`, newest first (`dma_buf_dynamic_attach` adds at the head with `list_add`). */
  readonly attachments: readonly number[];
  /** References to the `struct file` (open fds plus kernel `get_file`s). */
  readonly fileRefs: number;
  /**
   * How many of {@link fileRefs} are userspace fds. Counted, not derived:
   * kernel references (an attachment, a revoke task, a GPU move, a VMA's
   * `get_file`) come and go without an fd, so "fileRefs minus the ones we
   * know of" miscounts as soon as a driver takes one of its own.
   */
  readonly fds: number;
  /** `ops->release` has run: the last reference is gone. */
  readonly released: boolean;
  /**
   * The revoke or un-revoke sequence in progress on this buffer (its task
   * id), or null: one at a time, as VFIO's `memory_lock` serialises them.
   */
  readonly task: number | null;
  /** Unsignalled BOOKKEEP fences in `dmabuf->resv` (jobs in flight through it). */
  readonly fences: number;
  /**
   * Exporter-private data (`dmabuf->priv`), stored with the exporter's codec
   * (`encodedWith`); the exporter reads it back with the same codec.
   */
  readonly priv: Encoded<unknown>;
}

const REVOKE_CODE: Readonly<Record<RevokeState, number>> = {
  usable: 0,
  temporary: 1,
  permanent: 2,
};

/**
 * The buffer's state with some fields replaced (`struct dma_buf` after an
 * op). One object literal with every field, not `{ ...b, resvHolder }`:
 * V8 copies a spread 12-field object through its slow path once the
 * fields' types vary, with most fields out of line in a second object.
 *
 * @param b - the state.
 * @param change - the fields that change (`null` is a value, as for `resvHolder`).
 * @returns the new state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bufWith, referenceMachine, boot, step } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const args = { size: 0x4000 };
 * const r = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "exp0", args });
 * const b = r.world.bufs.get(1);
 * assert.ok(b !== undefined);
 * const locked = bufWith(b, { resvHolder: "imp1" });
 * assert.equal(locked.resvHolder, "imp1");
 * assert.equal(bufWith(locked, { resvHolder: null }).resvHolder, null);
 * assert.equal(locked.size, b.size);
 * ```
 * @category Lifetime
 */
export function bufWith(b: DmaBufState, change: Partial<DmaBufState>): DmaBufState {
  return copyBuf(b, change);
}

/** Every field of {@link DmaBufState}, for its copier. */
const DMABUF_FIELDS = [
  "exporter",
  "owner",
  "size",
  "revoked",
  "resvHolder",
  "attachments",
  "fileRefs",
  "fds",
  "released",
  "task",
  "fences",
  "priv",
] as const;

/** {@link bufWith}'s copier: one literal naming every field (`encoding/record-with.ts`). */
const copyBuf = recordWith<DmaBufState, typeof DMABUF_FIELDS>(DMABUF_FIELDS);

/**
 * Canonical encoding of a {@link DmaBufState}.
 *
 * @category Codecs
 */
export const dmaBufCodec: Codec<DmaBufState> = {
  seed: 0x0b0f,
  encode(b, out) {
    pushString(out, b.exporter);
    pushString(out, b.owner);
    pushU64(out, b.size);
    out.push(REVOKE_CODE[b.revoked]);
    pushOptionalString(out, b.resvHolder);
    out.push(b.attachments.length, ...b.attachments, b.fileRefs, b.fds, b.released ? 1 : 0);
    out.push(b.task ?? -1, b.fences);
    encodedCodec.encode(b.priv, out);
  },
};
