import type { Machine } from "../machine/machine.js";
import type { Effect } from "../world/effect.js";
import { kernelError } from "../errors/kernel-error.js";
import { exporterOf, isKernelError, lookupBuf, mustBuf } from "../world/access.js";
import type { RevokeState } from "../world/dmabuf-state.js";
import type { TaskState } from "../world/task-state.js";
import type { World } from "../world/world.js";
import { unsignalledFences } from "./fence.js";
import { invalidateMappings } from "./invalidate.js";
import type { StepOutcome } from "./outcome.js";
import { blocked, done, failed } from "./outcome.js";
import { dropFileRef } from "./release.js";
import { assertResvHeld, resvLock, resvUnlock } from "./resv.js";
import { worldWith } from "../world/world.js";
import { bufWith } from "../world/dmabuf-state.js";

/**
 * Changes a buffer's revoked state. The rule "revoked changes only under
 * resv" (kernel-model §2.5, Matt Evans' invariant) is checked: breaking it
 * is a contract violation.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param state - the new state.
 * @param holder - who claims to hold resv.
 * @returns the world and events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, setRevoked } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "lock", buf: 1, holder: "exp0#FLR" },
 * ]);
 * const r = setRevoked(world, 1, "temporary", "exp0#FLR");
 * assert.equal(r.world.bufs.get(1)?.revoked, "temporary");
 * assert.equal(r.world.violations.size, 0);
 * // without resv, Matt Evans' invariant is broken: a contract violation
 * assert.equal(setRevoked(world, 1, "temporary", "exp0#other").world.violations.size, 1);
 * ```
 *
 * @category Lifetime
 */
export function setRevoked(
  w: World,
  buf: number,
  state: RevokeState,
  holder: string | null,
): Effect {
  const held = assertResvHeld(
    w,
    buf,
    holder,
    "a dma-buf's revoked state changes only under dmabuf->resv",
  );
  const b = mustBuf(held.world, buf);
  return {
    world: worldWith(held.world, {
      bufs: held.world.bufs.set(buf, bufWith(b, { revoked: state })),
    }),
    events: [...held.events, { kind: "revoked", owner: b.owner, buf, state }],
  };
}

/** How many of a buffer's attachments still hold a mapping. */
function liveMappings(w: World, buf: number): number {
  let n = 0;
  for (const id of mustBuf(w, buf).attachments) if (w.atts.get(id)?.mapping != null) n++;
  return n;
}

/**
 * One step of a task's program: runs, fails or blocks, like any step.
 *
 * @category Lifetime
 */
export type TaskStep = (m: Machine, w: World, t: TaskState) => StepOutcome;

/**
 * The resv holder of a task: the exporting owner, with the task's reason as
 * context (`"exp0#FLR"`; the part before `#` is the actor).
 *
 * @param w - the world.
 * @param t - the task.
 * @returns the holder name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, taskHolder } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const task = { kind: "revoke", buf: 1, pc: 0, permanent: false, by: "FLR" } as const;
 * assert.equal(taskHolder(world, task), "exp0#FLR");
 * ```
 *
 * @category Lifetime
 */
export function taskHolder(w: World, t: TaskState): string {
  return `${mustBuf(w, t.buf).owner}#${t.by}`;
}

const lock: TaskStep = (_m, w, t) => resvLock(w, t.buf, taskHolder(w, t));
const unlock: TaskStep = (_m, w, t) => resvUnlock(w, t.buf, taskHolder(w, t));
const markRevoked: TaskStep = (_m, w, t) => {
  const r = setRevoked(w, t.buf, t.permanent ? "permanent" : "temporary", taskHolder(w, t));
  return done(r.world, r.events);
};
const markUsable: TaskStep = (_m, w, t) => {
  const r = setRevoked(w, t.buf, "usable", taskHolder(w, t));
  return done(r.world, r.events);
};
const invalidate: TaskStep = (m, w, t) => {
  const r = invalidateMappings(m, w, t.buf, taskHolder(w, t));
  return done(r.world, r.events);
};
const waitFences: TaskStep = (_m, w, t) => {
  const n = unsignalledFences(w, t.buf);
  const owner = mustBuf(w, t.buf).owner;
  if (n > 0)
    return blocked(w, "fences", () => `${n} BOOKKEEP fence(s) of buf ${t.buf} unsignalled`, n);
  return done(w, [
    { kind: "wait", by: t.by, owner, buf: t.buf, what: "fences", state: "done", outstanding: 0 },
  ]);
};
const waitUnmaps: TaskStep = (m, w, t) => {
  const b = mustBuf(w, t.buf);
  if (exporterOf(m, b).revokeWaitsForUnmap?.(m) === false) return done(w, []);
  const n = liveMappings(w, t.buf);
  if (n > 0)
    return blocked(w, "unmaps", () => `${n} mapping(s) of buf ${t.buf} not yet unmapped`, n);
  return done(w, [
    {
      kind: "wait",
      by: t.by,
      owner: b.owner,
      buf: t.buf,
      what: "unmaps",
      state: "done",
      outstanding: 0,
    },
  ]);
};

/**
 * The exporter revoke sequence (kernel-model §1.3 cover letter, §2.5):
 * lock resv, revoked = true, invalidate every attachment, wait for the
 * BOOKKEEP fences, unlock, then wait until every mapping is unmapped.
 *
 * @category Lifetime
 */
export const REVOKE_PROGRAM: readonly TaskStep[] = [
  lock,
  markRevoked,
  invalidate,
  waitFences,
  unlock,
  waitUnmaps,
];

/**
 * The v7 un-revoke sequence (kernel-model §2.5): under resv, invalidate and
 * wait for fences while still revoked; unlock; then under resv again,
 * revoked = false. Importers get an invalidate; nothing re-maps by itself.
 *
 * @category Lifetime
 */
export const UNREVOKE_PROGRAM: readonly TaskStep[] = [
  lock,
  invalidate,
  waitFences,
  unlock,
  lock,
  markUsable,
  unlock,
];

function programOf(t: TaskState): readonly TaskStep[] {
  return t.kind === "revoke" ? REVOKE_PROGRAM : UNREVOKE_PROGRAM;
}

/**
 * The task working on a buffer, if any (one at a time per buffer).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the task id, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, startRevoke, step, taskOn } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const r = step(m, boot(m), {
 *   kind: "export",
 *   exporter: "ref-exporter",
 *   owner: "exp0",
 *   args: { size: 0x4000 },
 * });
 * assert.equal(taskOn(r.world, 1), undefined);
 * const revoke = startRevoke(r.world, 1, false, "FLR");
 * assert.equal(taskOn(revoke.world, 1), 1);
 * ```
 *
 * @category Lifetime
 */
export function taskOn(w: World, buf: number): number | undefined {
  return w.bufs.get(buf)?.task ?? undefined;
}

/**
 * Starts the revoke sequence as a task. A permanent revoke is what device
 * close or unbind does; a temporary one precedes a reset or a memory
 * disable. Revoking a permanently revoked buffer is `EBADFD` (as the
 * proposed VFIO REVOKE answers, kernel-model §2.6); a temporary revoke of a
 * revoked buffer is `EINVAL`; one sequence at a time per buffer (`EBUSY`).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param permanent - close/unbind (true) or reset/disable (false).
 * @param by - who revokes, as traces name it.
 * @returns the outcome; `created` is the task id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, startRevoke } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const r = startRevoke(world, 1, false, "FLR");
 * assert.ok(r.status === "done");
 * assert.equal(r.created, 1); // the task; `settle` or `task` ops run it
 * assert.equal(r.world.bufs.get(1)?.fileRefs, 2); // it holds the file while it runs
 * const second = startRevoke(r.world, 1, true, "close");
 * assert.ok(second.status === "failed");
 * assert.equal(second.error.errno, "EBUSY"); // one sequence at a time
 * ```
 *
 * @category Lifetime
 */
export function startRevoke(w: World, buf: number, permanent: boolean, by: string): StepOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return failed(w, b);
  if (taskOn(w, buf) !== undefined)
    return failed(
      w,
      kernelError("EBUSY", () => `a revoke of buf ${buf} is in progress`),
    );
  if (b.revoked === "permanent")
    return failed(
      w,
      kernelError("EBADFD", () => `buf ${buf} is already revoked for good`),
    );
  if (b.revoked === "temporary" && !permanent) {
    return failed(
      w,
      kernelError("EINVAL", () => `buf ${buf} is already revoked`),
    );
  }
  return startTask(w, { kind: "revoke", buf, pc: 0, permanent, by }, b.owner);
}

/**
 * Starts the un-revoke sequence as a task. Only a temporarily revoked buffer
 * can come back: a permanent revoke is `ENODEV` (never after close), a
 * usable buffer is `EINVAL`.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param by - who un-revokes.
 * @returns the outcome; `created` is the task id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, startUnrevoke } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const usable = startUnrevoke(world, 1, "FLR");
 * assert.ok(usable.status === "failed");
 * assert.equal(usable.error.errno, "EINVAL"); // not revoked
 * const revoked = runScript(m, world, [{ kind: "revoke", buf: 1, permanent: false, by: "FLR" }]);
 * assert.equal(revoked.world.bufs.get(1)?.revoked, "temporary");
 * assert.equal(startUnrevoke(revoked.world, 1, "FLR").status, "done");
 * ```
 *
 * @category Lifetime
 */
export function startUnrevoke(w: World, buf: number, by: string): StepOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return failed(w, b);
  if (taskOn(w, buf) !== undefined)
    return failed(
      w,
      kernelError("EBUSY", () => `a revoke of buf ${buf} is in progress`),
    );
  if (b.revoked === "permanent")
    return failed(
      w,
      kernelError("ENODEV", () => `buf ${buf} is revoked for good`),
    );
  if (b.revoked === "usable")
    return failed(
      w,
      kernelError("EINVAL", () => `buf ${buf} is not revoked`),
    );
  return startTask(w, { kind: "unrevoke", buf, pc: 0, permanent: false, by }, b.owner);
}

/**
 * Creates a task. Like VFIO's `get_file_active()` before it revokes
 * (kernel-model §2.5), the task holds a file reference for its whole run,
 * so the buffer cannot be released under it; completion drops it.
 */
function startTask(w: World, t: TaskState, owner: string): StepOutcome {
  const id = w.tasks.lowestFreeId();
  const next = w;
  const b = mustBuf(next, t.buf);
  const held: World = worldWith(next, {
    bufs: next.bufs.set(t.buf, bufWith(b, { fileRefs: b.fileRefs + 1, task: id })),
  });
  return done(
    worldWith(held, { tasks: held.tasks.set(id, t) }),
    [
      {
        kind: "task",
        by: t.by,
        owner,
        buf: t.buf,
        task: t.kind,
        phase: "start",
        permanent: t.permanent,
      },
    ],
    id,
  );
}

/**
 * Runs the next step of a task, or reports that it is blocked. The last
 * step removes the task and reports it complete.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the task id.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, stepTask } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "lock", buf: 1, holder: "iommufd" },
 * ]);
 * const started = runScript(m, world, [{ kind: "revoke", buf: 1, permanent: false, by: "FLR" }]);
 * // the task's first step takes resv, which iommufd holds: it sleeps
 * assert.equal(stepTask(m, started.world, 1).status, "blocked");
 * const freed = runScript(m, started.world, [{ kind: "unlock", buf: 1, holder: "iommufd" }]);
 * assert.equal(freed.world.bufs.get(1)?.revoked, "temporary"); // it ran to its end
 * ```
 *
 * @category Lifetime
 */
export function stepTask(m: Machine, w: World, id: number): StepOutcome {
  const t = w.tasks.get(id);
  if (t === undefined)
    return failed(
      w,
      kernelError("EINVAL", () => `task ${id} does not exist`),
    );
  const program = programOf(t);
  const run = program[t.pc];
  if (run === undefined) throw new Error(`task ${id} ran past its program`);
  const r = run(m, w, t);
  if (r.status !== "done") return r;
  if (t.pc + 1 < program.length) {
    return done(
      worldWith(r.world, { tasks: r.world.tasks.set(id, { ...t, pc: t.pc + 1 }) }),
      r.events,
    );
  }
  const owner = mustBuf(r.world, t.buf).owner;
  const ended = mustBuf(r.world, t.buf);
  const cleared = worldWith(r.world, {
    bufs: r.world.bufs.set(t.buf, bufWith(ended, { task: null })),
  });
  const put = dropFileRef(m, worldWith(cleared, { tasks: r.world.tasks.delete(id) }), t.buf);
  return done(put.world, [
    ...r.events,
    {
      kind: "task",
      by: t.by,
      owner,
      buf: t.buf,
      task: t.kind,
      phase: "complete",
      permanent: t.permanent,
    },
    ...put.events,
  ]);
}
