import type { TraceEvent } from "../trace/event.js";
import type { Effect } from "../world/effect.js";
import type { StepOutcome } from "./outcome.js";

/**
 * The world and events of a step the caller knows cannot fail or sleep
 * (its own resv, unmapping what it mapped): a driver's inner call during
 * an operation it already holds the locks for. Anything else is a bug in
 * the model (DESIGN §3.7: bugs in the model throw), not a kernel errno.
 *
 * @param r - the step's outcome.
 * @param what - who called which kernel function, for the error (e.g. `"iommufd: dma_resv_lock"`).
 * @param into - when given, the step's events are appended to it.
 * @returns the step's world and events.
 * @throws when the step failed or blocked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, mustRun, referenceMachine, resvLock, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const locked = mustRun(resvLock(world, 1, "exp0#FLR"), "exp0: dma_resv_lock");
 * assert.equal(locked.world.bufs.get(1)?.resvHolder, "exp0#FLR");
 * // taking it again is EDEADLOCK: a bug in the caller, so mustRun throws
 * assert.throws(() => mustRun(resvLock(locked.world, 1, "exp0#FLR"), "exp0"), /already holds/);
 * ```
 *
 * @category Lifetime
 */
export function mustRun(r: StepOutcome, what: string, into?: TraceEvent[]): Effect {
  if (r.status !== "done") {
    throw new Error(`${what} did not run: ${r.status === "failed" ? r.error.message : r.reason}`);
  }
  into?.push(...r.events);
  return { world: r.world, events: r.events };
}
