import type { Machine } from "../machine/machine.js";
import type { Effect } from "../world/effect.js";
import { kernelError } from "../errors/kernel-error.js";
import type { KernelError } from "../errors/kernel-error.js";
import type { DmaBufState } from "../world/dmabuf-state.js";
import { exporterOf, isKernelError, lookupBuf, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";
import type { StepOutcome } from "./outcome.js";
import { done, failed } from "./outcome.js";
import { worldWith } from "../world/world.js";
import { bufWith } from "../world/dmabuf-state.js";

/**
 * Drops one reference to a buffer's file; the last one runs the exporter's
 * `release` (kernel-model §1.1; VFIO's unlinks the buffer and drops the
 * device registration, §2.3) and frees the buffer: it leaves the world.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buf - the dma-buf id; it must be live.
 * @returns the world and events.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_release
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, dropFileRef, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * // the fd's reference is the last one: release frees the buffer and its pages
 * const r = dropFileRef(m, world, 1);
 * assert.equal(r.world.bufs.get(1), undefined);
 * assert.deepEqual(
 *   r.events.map((e) => e.kind),
 *   ["region", "release"],
 * );
 * ```
 *
 * @category Lifetime
 */
export function dropFileRef(m: Machine, w: World, buf: number): Effect {
  const b = mustBuf(w, buf);
  if (b.fileRefs > 1) {
    return {
      world: worldWith(w, { bufs: w.bufs.set(buf, bufWith(b, { fileRefs: b.fileRefs - 1 })) }),
      events: [],
    };
  }
  const dropped: World = worldWith(w, {
    bufs: w.bufs.set(buf, bufWith(b, { fileRefs: 0, released: true })),
  });
  const released = exporterOf(m, b).release(m, dropped, buf);
  // The file is freed: its id (the fd) is free for the next export, as the
  // kernel's fd and the struct dma_buf are (DESIGN §2a, finite worlds).
  return {
    world: worldWith(released.world, { bufs: released.world.bufs.delete(buf) }),
    events: [...released.events, { kind: "release", owner: b.owner, buf }],
  };
}

/**
 * How many userspace fds of a buffer are open (the model has no fd table:
 * an fd is the buffer id, and the buffer counts its fds apart from the
 * kernel's own file references).
 *
 * @param w - the world.
 * @param buf - the dma-buf id; it must exist.
 * @returns the number of open fds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, openFds, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 * ]);
 * assert.equal(openFds(world, 1), 1); // the attachment's reference is no fd
 * assert.equal(world.bufs.get(1)?.fileRefs, 2);
 * ```
 *
 * @category Lifetime
 */
export function openFds(w: World, buf: number): number {
  return mustBuf(w, buf).fds;
}

/**
 * `dma_buf_get(fd)`: the dma-buf behind a userspace fd, or `EBADF`
 * (drivers/dma-buf/dma-buf.c). Every importer's uAPI entry point that takes
 * a dma-buf fd (iommufd's `IOMMU_IOAS_MAP_FILE`, KVM's memslot, RDMA's
 * `ib_umem_dmabuf_get*`) looks the fd up through it. In the model an fd is
 * a buffer id; a buffer whose every fd was closed, but which an attachment
 * or a running revoke still keeps alive, has no fd left, so it is `EBADF`
 * too.
 *
 * @param w - the world.
 * @param fd - the fd (a dma-buf id).
 * @returns the buffer, or `EBADF`.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_get
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, dmaBufGet, isKernelError, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const b = dmaBufGet(world, 1);
 * assert.ok(!isKernelError(b));
 * assert.equal(b.size, 0x4000n);
 * const none = dmaBufGet(world, 7);
 * assert.ok(isKernelError(none));
 * assert.equal(none.errno, "EBADF");
 * ```
 *
 * @category Lifetime
 */
export function dmaBufGet(w: World, fd: number): DmaBufState | KernelError {
  const b = lookupBuf(w, fd);
  if (isKernelError(b)) return b;
  return openFds(w, fd) > 0 ? b : kernelError("EBADF", () => `every fd of buf ${fd} is closed`);
}

/**
 * `close()` of a dma-buf fd: `fput()` of the fd's reference.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, closeBuf, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 * ]);
 * const r = closeBuf(m, world, 1);
 * assert.ok(r.status === "done");
 * // the attachment keeps the buffer alive, with no fd left
 * assert.equal(r.world.bufs.get(1)?.fds, 0);
 * assert.equal(closeBuf(m, r.world, 1).status, "failed"); // EBADF
 * ```
 *
 * @category Lifetime
 */
export function closeBuf(m: Machine, w: World, buf: number): StepOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return failed(w, b);
  if (openFds(w, buf) === 0) {
    return failed(
      w,
      kernelError("EBADF", () => `no open fd of buf ${buf} is left to close`),
    );
  }
  const closed: World = worldWith(w, { bufs: w.bufs.set(buf, bufWith(b, { fds: b.fds - 1 })) });
  const { world, events } = dropFileRef(m, closed, buf);
  return done(world, events);
}
