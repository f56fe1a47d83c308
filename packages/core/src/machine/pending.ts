import type { Op } from "../lifetime/op.js";
import { step } from "../lifetime/step.js";
import type { World } from "../world/world.js";
import type { Machine } from "./machine.js";

/**
 * The kernel-internal continuations that can run now (DESIGN §2a): the next
 * step of every revoke or un-revoke task, then the work every driver owes
 * on its own (an exporter's next stage of an FLR or close, an importer's
 * unmap after an invalidate), in that order. A continuation that would
 * sleep (its task waits on resv, fences or unmaps; a driver's stage waits
 * for a lock) is not listed: it is not a choice the kernel can make until
 * something else runs. Userspace and device ops are not listed here; an
 * explorer interleaves these with them.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the ops that run (done or failed) if stepped now.
 *
 * @example
 * ```ts
 * for (const op of pendingOps(m, w)) {
 *   const r = step(m, w, op);
 *   // r.status is "done" (or "failed", which would be a model bug)
 * }
 * ```
 */
export function pendingOps(m: Machine, w: World): readonly Op[] {
  const ops: Op[] = [];
  for (const id of w.tasks.keys()) {
    const op: Op = { kind: "task", task: id };
    if (step(m, w, op).status !== "blocked") ops.push(op);
  }
  for (const driver of [...m.exporters.values(), ...m.importers.values()]) {
    for (const op of driver.pending?.(m, w) ?? []) {
      if (step(m, w, op).status !== "blocked") ops.push(op);
    }
  }
  return ops;
}
