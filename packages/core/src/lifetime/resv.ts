import type { Effect } from "../world/effect.js";
import { kernelError } from "../errors/kernel-error.js";
import { isKernelError, lookupBuf, recordViolation } from "../world/access.js";
import type { World } from "../world/world.js";
import type { StepOutcome } from "./outcome.js";
import { blocked, done, failed } from "./outcome.js";
import { worldWith } from "../world/world.js";
import { bufWith } from "../world/dmabuf-state.js";

/**
 * The participant a resv holder name stands for. Holder names are
 * `"<actor>"` or `"<actor>#<context>"` (e.g. `"ref-importer#6"`,
 * `"exp0#FLR"`): the part before `#` is who acts, the rest tells apart
 * contexts of the same actor, which lock independently.
 *
 * @param holder - a holder name.
 * @returns the actor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holderActor } from "@dmabuf-ref/core";
 *
 * assert.equal(holderActor("exp0#FLR"), "exp0");
 * assert.equal(holderActor("ref-importer#attach 7"), "ref-importer");
 * assert.equal(holderActor("iommufd"), "iommufd");
 * ```
 *
 * @category Lifetime
 */
export function holderActor(holder: string): string {
  const i = holder.indexOf("#");
  return i < 0 ? holder : holder.slice(0, i);
}

/**
 * `dma_resv_lock(dmabuf->resv)`: takes the buffer's reservation lock. The
 * step blocks while another holder has it; taking it twice is a deadlock
 * (`EDEADLOCK`, what ww_mutex reports for a recursive lock).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param holder - who takes it.
 * @returns the outcome.
 * @kernel include/linux/dma-resv.h dma_resv_lock
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, resvLock, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const r = resvLock(world, 1, "exp0#FLR");
 * assert.ok(r.status === "done");
 * assert.equal(r.world.bufs.get(1)?.resvHolder, "exp0#FLR");
 * // another holder sleeps on the ww_mutex; the same one deadlocks
 * assert.equal(resvLock(r.world, 1, "ref-importer#attach 1").status, "blocked");
 * const twice = resvLock(r.world, 1, "exp0#FLR");
 * assert.ok(twice.status === "failed");
 * assert.equal(twice.error.errno, "EDEADLOCK");
 * ```
 *
 * @category Lifetime
 */
export function resvLock(w: World, buf: number, holder: string): StepOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return failed(w, b);
  if (b.resvHolder === holder) {
    return failed(
      w,
      kernelError("EDEADLOCK", () => `${holder} already holds the resv of buf ${buf}`),
    );
  }
  if (b.resvHolder !== null) {
    return blocked(w, "resv", () => `resv of buf ${buf} is held by ${String(b.resvHolder)}`);
  }
  return done(worldWith(w, { bufs: w.bufs.set(buf, bufWith(b, { resvHolder: holder })) }), [
    { kind: "resv", holder, owner: b.owner, buf, action: "lock" },
  ]);
}

/**
 * `dma_resv_unlock()`: drops the lock; dropping a lock one does not hold is `EPERM`.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param holder - who drops it.
 * @returns the outcome.
 * @kernel include/linux/dma-resv.h dma_resv_unlock
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, resvUnlock, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "lock", buf: 1, holder: "exp0#FLR" },
 * ]);
 * const wrong = resvUnlock(world, 1, "ref-importer#attach 1");
 * assert.ok(wrong.status === "failed");
 * assert.equal(wrong.error.errno, "EPERM");
 * const r = resvUnlock(world, 1, "exp0#FLR");
 * assert.ok(r.status === "done");
 * assert.equal(r.world.bufs.get(1)?.resvHolder, null);
 * ```
 *
 * @category Lifetime
 */
export function resvUnlock(w: World, buf: number, holder: string): StepOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return failed(w, b);
  if (b.resvHolder !== holder) {
    return failed(
      w,
      kernelError("EPERM", () => `${holder} does not hold the resv of buf ${buf}`),
    );
  }
  return done(worldWith(w, { bufs: w.bufs.set(buf, bufWith(b, { resvHolder: null })) }), [
    { kind: "resv", holder, owner: b.owner, buf, action: "unlock" },
  ]);
}

/**
 * `dma_resv_assert_held()`: when `holder` does not hold the buffer's lock,
 * records a contract violation naming the rule and lets the call go on, as
 * lockdep warns and the kernel continues (kernel-model §1.2, §7.3).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param holder - who claims to hold it (null: nobody).
 * @param rule - the rule, e.g. "dma_buf_map_attachment() of a dynamic attachment holds resv".
 * @returns the world and any violation event.
 * @kernel include/linux/dma-resv.h dma_resv_assert_held
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertResvHeld, boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const rule = "dma_buf_pin() holds dmabuf->resv";
 * // nobody holds resv: a contract violation is recorded, and the call goes on
 * const r = assertResvHeld(world, 1, "ref-importer#attach 1", rule);
 * assert.deepEqual(
 *   [...r.world.violations.values()].map((v) => [v.kind, v.rule]),
 *   [["contract", rule]],
 * );
 * ```
 *
 * @category Lifetime
 */
export function assertResvHeld(w: World, buf: number, holder: string | null, rule: string): Effect {
  const b = w.bufs.get(buf);
  if (b === undefined || (holder !== null && b.resvHolder === holder))
    return { world: w, events: [] };
  const { world, event } = recordViolation(w, {
    kind: "contract",
    rule,
    actor: holder ?? "caller",
    message: `resv of buf ${buf} is ${b.resvHolder === null ? "not held" : `held by ${b.resvHolder}`}`,
  });
  return { world, events: [event] };
}
