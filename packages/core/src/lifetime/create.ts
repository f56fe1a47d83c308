import type { ExportStep } from "../machine/machine.js";
import type { World } from "../world/world.js";
import type { Encoded } from "../encoding/codecs.js";
import { worldWith } from "../world/world.js";

/**
 * What an exporter states when it calls `dma_buf_export()`.
 *
 * @category Lifetime
 */
export interface ExportInfo {
  /** The exporter driver's name. */
  readonly exporter: string;
  /** The exporting device or instance. */
  readonly owner: string;
  /** `exp_info.size`. */
  readonly size: bigint;
  /** Born revoked (VFIO exports while PCI memory is off, kernel-model §2.2). */
  readonly revoked?: boolean;
  /** `exp_info.priv`, stored with the exporter's codec (`encodedWith`). */
  readonly priv: Encoded<unknown>;
}

/**
 * `dma_buf_export()` + `dma_buf_fd()`: a new buffer with one file reference
 * and a free reservation lock. Exporter drivers call this from their export
 * path.
 *
 * @param w - the world.
 * @param info - what the exporter states.
 * @returns the world, the new id and the export event.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_export dma_buf_fd
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   createDmaBuf,
 *   encodedWith,
 *   referenceMachine,
 *   stringCodec,
 * } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * const priv = encodedWith(stringCodec, "bo 7");
 * const r = createDmaBuf(w, { exporter: "gpu", owner: "gpu0", size: 0x20_0000n, priv });
 * assert.equal(r.buf, 1); // the lowest free id, as the kernel hands out fds
 * assert.equal(r.world.bufs.get(1)?.fileRefs, 1);
 * assert.equal(r.world.bufs.get(1)?.resvHolder, null);
 * assert.equal(r.world.bufs.get(1)?.revoked, "usable");
 * ```
 *
 * @category Lifetime
 */
export function createDmaBuf(w: World, info: ExportInfo): ExportStep {
  const buf = w.bufs.lowestFreeId();
  const next = w;
  const world: World = worldWith(next, {
    bufs: next.bufs.set(buf, {
      exporter: info.exporter,
      owner: info.owner,
      size: info.size,
      revoked: info.revoked === true ? "temporary" : "usable",
      resvHolder: null,
      attachments: [],
      fileRefs: 1,
      fds: 1,
      released: false,
      task: null,
      fences: 0,
      priv: info.priv,
    }),
  });
  return { world, buf, events: [{ kind: "export", owner: info.owner, buf, size: info.size }] };
}
