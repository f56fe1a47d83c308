import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import { worldAfter } from "../lifetime/outcome.js";
import { step } from "../lifetime/step.js";
import type { World } from "../world/world.js";
import { candidateOps } from "./candidates.js";
import type { Machine } from "./machine.js";
import { pendingOps } from "./pending.js";

/**
 * Everything that could happen next (DESIGN §2a): the userspace, device and
 * platform ops naming live objects ({@link candidateOps}), then the kernel's
 * continuations that can run now ({@link pendingOps}).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the ops, in a fixed order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, nextOps, referenceMachine, runScript, startRevoke } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const ops = nextOps(m, startRevoke(world, 1, false, "FLR").world);
 * // userspace, device and platform ops first, the kernel's continuations last
 * assert.equal(ops[0]?.kind, "export");
 * assert.deepEqual(ops.at(-1), { kind: "task", task: 1 });
 * ```
 *
 * @category Exploration
 */
export function nextOps(m: Machine, w: World): readonly Op[] {
  return [...candidateOps(m, w), ...pendingOps(m, w)];
}

/**
 * One step a {@link walk} took: the op, the world it ran on, and what it did.
 *
 * @category Exploration
 */
export interface WalkStep {
  /** The op taken. */
  readonly op: Op;
  /** The world it ran on. */
  readonly before: World;
  /** Its outcome; a failed or blocked step leaves the walk where it was. */
  readonly outcome: StepOutcome;
}

/**
 * One run of the machine driven by choices: at each pick the op taken is
 * `nextOps(m, w)[pick % length]`, so a list of numbers (what fast-check
 * generates and shrinks) names a run, and the same list gives the same run.
 * Model-based tests and contract checks use it; the explorer tries every
 * choice instead.
 *
 * @param m - the machine.
 * @param w - the world to start from.
 * @param picks - the choices, one per step.
 * @param observe - called with every step taken, before the walk goes on.
 * @returns the world the walk ends in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, walk } from "@dmabuf-ref/core";
 * import type { WalkStep } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const steps: WalkStep[] = [];
 * // pick 0 twice: the first candidate, an export by dev0, each time
 * const end = walk(m, boot(m), [0, 0], (s) => steps.push(s));
 * assert.deepEqual(
 *   steps.map((s) => [s.op.kind, s.outcome.status]),
 *   [
 *     ["export", "done"],
 *     ["export", "done"],
 *   ],
 * );
 * assert.equal(end.bufs.size, 2);
 * ```
 *
 * @category Exploration
 */
export function walk(
  m: Machine,
  w: World,
  picks: readonly number[],
  observe?: (s: WalkStep) => void,
): World {
  let world = w;
  for (const pick of picks) {
    const ops = nextOps(m, world);
    const op = ops[pick % ops.length];
    if (op === undefined) break;
    const outcome = step(m, world, op);
    observe?.({ op, before: world, outcome });
    world = worldAfter(outcome);
  }
  return world;
}
