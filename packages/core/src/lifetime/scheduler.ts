import type { Machine } from "../machine/machine.js";
import type { Effect } from "../world/effect.js";
import type { KernelError } from "../errors/kernel-error.js";
import type { TraceEvent } from "../trace/event.js";
import { mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";
import type { Op } from "./op.js";
import { stepTask } from "./revoke.js";
import { step } from "./step.js";

/**
 * One entry of a script: an operation, or a function building it from the
 * ids the earlier entries created (`created[i]` for entry `i`).
 *
 * @category Lifetime
 */
export type ScriptEntry = Op | ((created: readonly (number | undefined)[]) => Op);

/**
 * What became of one scripted operation.
 *
 * @category Lifetime
 */
export interface ScriptResult {
  /** The operation as run. */
  readonly op: Op;
  /** done, failed (with the errno) or blocked (could not run even after everything settled). */
  readonly status: "done" | "failed" | "blocked";
  /** The errno, when failed. */
  readonly error?: KernelError;
  /** The id it created, if any. */
  readonly created?: number;
}

/**
 * A script's run: the final world, the whole trace and each entry's result.
 *
 * @category Lifetime
 */
export interface ScriptRun {
  /** The world after the last entry settled. */
  readonly world: World;
  /** Every event, in order, including waits and errors. */
  readonly events: readonly TraceEvent[];
  /** One result per script entry. */
  readonly results: readonly ScriptResult[];
}

const SETTLE_LIMIT = 100_000;

/**
 * Runs kernel work that is ready until nothing more can run: task steps
 * first (in id order), then the work drivers owe (their `pending` ops:
 * exporters' continuations, importers' owed unmaps).
 * A task that blocks is reported once per program step with a `wait`
 * event. This is one fair interleaving for ordinary use; the explorer tries
 * them all.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param reported - blocked task steps already reported (shared across calls of one run).
 * @returns the settled world and the events produced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, settle, startRevoke } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const started = startRevoke(world, 1, false, "FLR");
 * // nothing is mapped, so the revoke task runs to its end
 * const s = settle(m, started.world);
 * assert.equal(s.world.tasks.size, 0);
 * assert.equal(s.world.bufs.get(1)?.revoked, "temporary");
 * ```
 *
 * @category Lifetime
 */
export function settle(
  m: Machine,
  world: World,
  reported: Set<string> = new Set<string>(),
): Effect {
  let w = world;
  const events: TraceEvent[] = [];
  for (let i = 0; i < SETTLE_LIMIT; i++) {
    let progressed = false;
    for (const [id, t] of w.tasks.entries()) {
      const r = stepTask(m, w, id);
      if (r.status === "done") {
        w = r.world;
        events.push(...r.events);
        progressed = true;
        break;
      }
      if (r.status === "failed")
        throw new Error(`task ${id} failed: ${r.error.errno} ${r.error.message}`);
      const key = `${id}:${t.pc}`;
      if (!reported.has(key)) {
        reported.add(key);
        events.push({
          kind: "wait",
          by: t.by,
          owner: mustBuf(w, t.buf).owner,
          buf: t.buf,
          what: r.waitFor,
          state: "blocked",
          outstanding: r.outstanding,
        });
      }
    }
    if (progressed) continue;
    const drivers = [...m.exporters.values(), ...m.importers.values()];
    for (const driver of drivers) {
      for (const op of driver.pending?.(m, w) ?? []) {
        const r = step(m, w, op);
        if (r.status === "done") {
          w = r.world;
          events.push(...r.events);
          progressed = true;
          break;
        }
        if (r.status === "failed") {
          throw new Error(
            `${driver.name}'s own ${op.kind} failed: ${r.error.errno} ${r.error.message}`,
          );
        }
      }
      if (progressed) break;
    }
    if (!progressed) return { world: w, events };
  }
  throw new Error("the world did not settle: a task or driver loops");
}

/**
 * Runs a script for ordinary use: each entry is stepped, then the world is
 * settled (tasks run until they block, importers do the work they owe). An
 * entry that blocks is retried once after settling. Failures are recorded
 * as `error` events and the script goes on, as a process goes on after a
 * failed syscall.
 *
 * @param m - the machine.
 * @param world - the starting world.
 * @param script - the operations.
 * @param actor - who runs the script, as `error` events name it.
 * @returns the final world, the trace and each entry's result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const run = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   (created) => ({
 *     kind: "attach",
 *     buf: created[0] ?? -1,
 *     importer: "ref-importer",
 *     device: "dev0",
 *     dynamic: true,
 *   }),
 *   { kind: "close", buf: 7 },
 * ]);
 * assert.deepEqual(
 *   run.results.map((r) => [r.status, r.created ?? r.error?.errno]),
 *   [
 *     ["done", 1],
 *     ["done", 1],
 *     ["failed", "EBADF"],
 *   ],
 * );
 * ```
 *
 * @category Lifetime
 */
export function runScript(
  m: Machine,
  world: World,
  script: readonly ScriptEntry[],
  actor = "script",
): ScriptRun {
  let w = world;
  const events: TraceEvent[] = [];
  const results: ScriptResult[] = [];
  const created: (number | undefined)[] = [];
  const reported = new Set<string>();
  for (const entry of script) {
    const op = typeof entry === "function" ? entry(created) : entry;
    let r = step(m, w, op);
    if (r.status === "blocked") {
      const s = settle(m, w, reported);
      w = s.world;
      events.push(...s.events);
      r = step(m, w, op);
    }
    if (r.status === "done") {
      w = r.world;
      events.push(...r.events);
      created.push(r.created);
      results.push(
        r.created === undefined
          ? { op, status: "done" }
          : { op, status: "done", created: r.created },
      );
    } else if (r.status === "failed") {
      // A kernel path that changed state before its errno: continue from there.
      if (r.committed !== undefined) {
        w = r.committed.world;
        events.push(...r.committed.events);
      }
      events.push({ kind: "error", actor, call: op.kind, error: r.error });
      created.push(undefined);
      results.push({ op, status: "failed", error: r.error });
    } else {
      events.push({ kind: "note", actor, text: `${op.kind} blocks forever: ${r.reason}` });
      created.push(undefined);
      results.push({ op, status: "blocked" });
    }
    const s = settle(m, w, reported);
    w = s.world;
    events.push(...s.events);
  }
  return { world: w, events, results };
}

/**
 * The id entry `i` of a script created; throws when it created nothing
 * (a script bug).
 *
 * @param created - the ids so far.
 * @param i - the entry's index.
 * @returns the id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createdBy } from "@dmabuf-ref/core";
 *
 * // the ids entries 0, 1 and 2 of a script created: buffer 1, nothing (failed), attachment 1
 * const created = [1, undefined, 1];
 * assert.equal(createdBy(created, 2), 1);
 * assert.throws(() => createdBy(created, 1), /script entry 1 created nothing/);
 * ```
 *
 * @category Lifetime
 */
export function createdBy(created: readonly (number | undefined)[], i: number): number {
  const id = created[i];
  if (id === undefined) throw new Error(`script entry ${i} created nothing`);
  return id;
}
