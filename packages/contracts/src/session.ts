/*
 * One run of calls in a fixed order, with the kernel's continuations run
 * as soon as they can (the order `dmabuf-ref scenario` prints): what the
 * suites' sequential cases use, recording every step for the failure text.
 */
import { pendingSteps, step } from "@dmabuf-ref/core";
import type { Machine, Op, StepOutcome, World } from "@dmabuf-ref/core";
import type { RunStep } from "./explorer.js";
import { continuationFailed, eventsOf, opText, outcomeWord } from "./explorer.js";

/** How many continuations a settle runs before it calls the work unbounded. */
export const SETTLE_BOUND = 1000;

/**
 * A sequential run: the world so far and the steps that made it.
 *
 * @category Harnesses
 */
export class Session {
  /** The steps taken, in order. */
  readonly steps: RunStep[] = [];

  /**
   * @param m - the machine.
   * @param world - the world to start from.
   */
  constructor(
    readonly m: Machine,
    public world: World,
  ) {}

  /**
   * Steps one op as `actor`; a done step moves the world on.
   *
   * @param actor - who calls it (a thread name).
   * @param op - the op.
   * @returns the outcome (blocked: the world is unchanged).
   */
  call(actor: string, op: Op): StepOutcome {
    const r = step(this.m, this.world, op);
    this.steps.push({ actor, text: opText(op), outcome: outcomeWord(r), events: eventsOf(r) });
    this.world = r.world;
    return r;
  }

  /**
   * Runs the kernel's continuations, the first listed each time, until none
   * is left.
   *
   * @returns undefined, or the broken rule when one failed or they never end.
   */
  settle(): string | undefined {
    for (let n = 0; n < SETTLE_BOUND; n++) {
      const p = pendingSteps(this.m, this.world)[0];
      if (p === undefined) return undefined;
      this.steps.push({
        actor: "kernel",
        text: opText(p.op),
        outcome: outcomeWord(p.outcome),
        events: eventsOf(p.outcome),
      });
      if (p.outcome.status === "failed") return continuationFailed(p.op, p.outcome.error.errno);
      this.world = p.outcome.world;
    }
    return `the kernel's own work ends in bounded steps (still running after ${SETTLE_BOUND})`;
  }

  /**
   * Steps one op that must run, then the kernel's work it started, as a
   * user's call returns once its work is done.
   *
   * @param actor - who calls it.
   * @param op - the op.
   * @param rule - the rule broken when the op does not run.
   * @returns undefined, or the broken rule (`rule`, or the continuations').
   */
  runToEnd(actor: string, op: Op, rule: string): string | undefined {
    if (this.call(actor, op).status !== "done") return rule;
    return this.settle();
  }

  /** The violations the oracle recorded so far, as rules. */
  violations(): string[] {
    return [...this.world.violations.values()].map((v) => `${v.rule} (${v.kind}: ${v.message})`);
  }
}

/**
 * Steps an op that must run: for a harness's set-up (`exportBuffer`,
 * `importBuffer`), where a failure is the harness's bug, not a verdict.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param op - the op.
 * @returns the world after it.
 * @throws when the op fails or would sleep, naming it and the errno.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { mustStep } from "@dmabuf-ref/contracts";
 *
 * const m = referenceMachine();
 * const w = mustStep(m, boot(m),
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } });
 * assert.equal(w.bufs.get(1)?.size, 0x2000n);
 * // A harness's set-up that fails throws, naming the op and the errno.
 * const attach7 = { kind: "attach", buf: 7, importer: "ref-importer", device: "dev1",
 *   dynamic: true } as const;
 * assert.throws(() => mustStep(m, w, attach7), /^Error: attach buf=7 .*: EBADF/);
 * ```
 * @category Harnesses
 */
export function mustStep(m: Machine, w: World, op: Op): World {
  const r = step(m, w, op);
  if (r.status === "done") return r.world;
  throw new Error(
    `${opText(op)}: ${r.status === "failed" ? `${r.error.errno}: ${r.error.message}` : `blocked: ${r.reason}`}`,
  );
}

/**
 * Steps ops that must run, in order, then runs the kernel's continuations
 * until none is left (as a user's calls return once their work is done).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ops - the ops.
 * @returns the world after them.
 * @throws when one fails or would sleep.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, importerHolder, referenceMachine } from "@dmabuf-ref/core";
 * import { mustSteps } from "@dmabuf-ref/contracts";
 *
 * // Import a buffer as the contract importer does: attach, then map under resv.
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const w = mustSteps(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev1", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "map", att: 1, holder },
 *   { kind: "unlock", buf: 1, holder },
 * ]);
 * assert.notEqual(w.atts.get(1)?.mapping, null);
 * ```
 * @category Harnesses
 */
export function mustSteps(m: Machine, w: World, ops: readonly Op[]): World {
  const s = new Session(
    m,
    ops.reduce((x, op) => mustStep(m, x, op), w),
  );
  const broken = s.settle();
  if (broken !== undefined) throw new Error(broken);
  return s.world;
}
