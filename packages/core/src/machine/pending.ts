import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import { step } from "../lifetime/step.js";
import type { World } from "../world/world.js";
import type { ExporterDriver, ImporterDriver, Machine } from "./machine.js";

/** The drivers of a machine that list deferred work, exporters first (a machine never changes). */
const withPending = new WeakMap<Machine, readonly (ExporterDriver | ImporterDriver)[]>();

function pendingDrivers(m: Machine): readonly (ExporterDriver | ImporterDriver)[] {
  let list = withPending.get(m);
  if (list === undefined) {
    list = [...m.exporters.values(), ...m.importers.values()].filter(
      (d) => d.pending !== undefined,
    );
    withPending.set(m, list);
  }
  return list;
}

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
 * import assert from "node:assert/strict";
 * import { boot, pendingOps, referenceMachine, runScript, startRevoke } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * assert.deepEqual(pendingOps(m, world), []);
 * // a revoke started: its task's next step is the kernel's to take
 * const revoking = startRevoke(world, 1, false, "FLR").world;
 * assert.deepEqual(pendingOps(m, revoking), [{ kind: "task", task: 1 }]);
 * ```
 *
 * @category Exploration
 */
export function pendingOps(m: Machine, w: World): readonly Op[] {
  return pendingSteps(m, w).map((p) => p.op);
}

/**
 * A continuation that can run now, with what running it does.
 *
 * @category Exploration
 */
export interface PendingStep {
  /** The continuation. */
  readonly op: Op;
  /** Its outcome on the world it was listed for (done, or failed: never blocked). */
  readonly outcome: StepOutcome;
}

/**
 * {@link pendingOps} with each continuation's outcome: deciding whether a
 * continuation would sleep means running it, so an explorer that takes
 * every continuation gets the outcomes from here instead of stepping each
 * op twice.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the continuations that run now and their outcomes, in {@link pendingOps}' order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, pendingSteps, referenceMachine, runScript, startRevoke } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const [next] = pendingSteps(m, startRevoke(world, 1, false, "FLR").world);
 * assert.deepEqual(next?.op, { kind: "task", task: 1 });
 * // its outcome, already computed: the task took resv
 * assert.ok(next?.outcome.status === "done");
 * assert.equal(next.outcome.world.bufs.get(1)?.resvHolder, "exp0#FLR");
 * ```
 *
 * @category Exploration
 */
export function pendingSteps(m: Machine, w: World): readonly PendingStep[] {
  const out: PendingStep[] = [];
  for (const id of w.tasks.keys()) {
    const op: Op = { kind: "task", task: id };
    const outcome = step(m, w, op);
    if (outcome.status !== "blocked") out.push({ op, outcome });
  }
  for (const driver of pendingDrivers(m)) {
    for (const op of driver.pending?.(m, w) ?? []) {
      const outcome = step(m, w, op);
      if (outcome.status !== "blocked") out.push({ op, outcome });
    }
  }
  return out;
}
