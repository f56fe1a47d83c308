import type { Effect } from "../world/effect.js";
import { kernelError } from "../errors/kernel-error.js";
import { exporterOf, isKernelError, lookupBuf, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";
import type { StepOutcome } from "./outcome.js";
import { done, failed } from "./outcome.js";
import { taskOn } from "./revoke.js";

/**
 * Drops one reference to a buffer's file; the last one runs the exporter's
 * `release` (kernel-facts §1.1; VFIO's unlinks the buffer and drops the
 * device registration, §2.3).
 *
 * @param w - the world.
 * @param buf - the dma-buf id; it must be live.
 * @returns the world and events.
 */
export function dropFileRef(w: World, buf: number): Effect {
  const b = mustBuf(w, buf);
  if (b.fileRefs > 1) {
    return {
      world: { ...w, bufs: w.bufs.set(buf, { ...b, fileRefs: b.fileRefs - 1 }) },
      events: [],
    };
  }
  const dropped: World = { ...w, bufs: w.bufs.set(buf, { ...b, fileRefs: 0, released: true }) };
  const released = exporterOf(w, b).release(dropped, buf);
  return {
    world: released.world,
    events: [...released.events, { kind: "release", owner: b.owner, buf }],
  };
}

/**
 * `close()` of a dma-buf fd: `fput()` of the fd's reference.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the outcome.
 */
export function closeBuf(w: World, buf: number): StepOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return failed(w, b);
  // Attachments and running tasks hold references of their own; the rest are fds.
  const internal = b.attachments.length + (taskOn(w, buf) === undefined ? 0 : 1);
  if (b.fileRefs <= internal) {
    return failed(w, kernelError("EBADF", `no open fd of buf ${buf} is left to close`));
  }
  const { world, events } = dropFileRef(w, buf);
  return done(world, events);
}
