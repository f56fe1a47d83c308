/*
 * Model-based runs (fast-check): a run is a list of picks, each choosing
 * one of the ops enabled in the current world (the suite's user ops,
 * generated from the world as `candidateOps` does, plus the kernel's
 * continuations from `pendingSteps`). Generating from what is enabled,
 * not from plain random command lists, reaches a revoke racing a mapped
 * attachment with a job in flight in tens of runs; fast-check shrinks a
 * failing run to a short one, which the failure prints like the explorer.
 */
import fc from "fast-check";
import { attachRevocable, nextOps, pendingSteps, step, worldsEqual } from "@dmabuf-ref/core";
import type { Machine, Op, World } from "@dmabuf-ref/core";
import type { CaseVerdict } from "./case.js";
import { broken } from "./case.js";
import type { RunStep } from "./explorer.js";
import { continuationFailed, eventsOf, opText, outcomeWord } from "./explorer.js";
import type { ContractOptions } from "./harness.js";
import { DEFAULT_SEED } from "./harness.js";
import { violationRule } from "./rules.js";

/** The ops a suite's user may call in a world (the continuations are added by the run). */
export type UserOps = (m: Machine, w: World) => readonly Op[];

/** A rule one step broke, or undefined. */
type StepJudge = (
  before: World,
  op: Op,
  out: ReturnType<typeof step>,
  kernel: boolean,
) => string | undefined;

/** Maximum steps per run. */
const RUN_LENGTH = 40;

/**
 * Replays picks, returning the steps and the first broken rule.
 *
 * @param m - the machine.
 * @param start - the start.
 * @param ops - the enabled ops of a world.
 * @param picks - the choices.
 * @param judge - the rule checked after every step.
 * @param drain - whether the run ends by finishing the work it left ({@link drained}).
 */
function replay(
  m: Machine,
  start: World,
  ops: (w: World) => readonly { op: Op; kernel: boolean }[],
  picks: readonly number[],
  judge: StepJudge,
  drain?: boolean,
): { steps: RunStep[]; rule?: string } {
  let w = start;
  const steps: RunStep[] = [];
  for (const pick of picks) {
    const enabled = ops(w);
    const chosen = enabled[pick % Math.max(1, enabled.length)];
    if (chosen === undefined) break;
    let out: ReturnType<typeof step>;
    try {
      out = step(m, w, chosen.op);
    } catch (e) {
      steps.push({
        actor: chosen.kernel ? "kernel" : "user",
        text: opText(chosen.op),
        outcome: "threw",
        events: [],
      });
      return {
        steps,
        rule: `a call never throws: it returns an errno or runs (${e instanceof Error ? e.message : String(e)})`,
      };
    }
    steps.push({
      actor: chosen.kernel ? "kernel" : "user",
      text: opText(chosen.op),
      outcome: outcomeWord(out),
      events: eventsOf(out),
    });
    const rule = judge(w, chosen.op, out, chosen.kernel);
    if (rule !== undefined) return { steps, rule };
    w = out.world;
  }
  return drain === true ? drained(m, w, steps, judge) : { steps };
}

/** How many steps the end of a run may take to finish the work it left. */
const DRAIN_BOUND = 500;

/**
 * The end of a run: the devices finish their jobs (each signals its
 * fence) and the kernel runs the work it owes, first listed first, until
 * nothing is left; then no revoke or un-revoke may still be waiting (an
 * importer that never unmaps leaves its revoke waiting for ever).
 *
 * @param m - the machine.
 * @param from - the world the picks ended in.
 * @param steps - the run so far; extended.
 * @param judge - the rule checked after every step.
 * @returns the steps and the first broken rule.
 */
function drained(
  m: Machine,
  from: World,
  steps: RunStep[],
  judge: StepJudge,
): { steps: RunStep[]; rule?: string } {
  let w = from;
  for (let n = 0; n < DRAIN_BOUND; n++) {
    const p = pendingSteps(m, w)[0];
    const job = w.jobs.keys().next();
    const op: Op | undefined =
      p !== undefined ? p.op : job.done === true ? undefined : { kind: "signal", job: job.value };
    if (op === undefined) break;
    const kernel = p !== undefined;
    const out = step(m, w, op);
    steps.push({
      actor: kernel ? "kernel" : "device",
      text: opText(op),
      outcome: outcomeWord(out),
      events: eventsOf(out),
    });
    const rule = judge(w, op, out, kernel);
    if (rule !== undefined) return { steps, rule };
    if (out.status !== "done") break;
    w = out.world;
  }
  // Only a revocable importer promises a bounded unmap (dma_buf_attach_revocable):
  // a revoke waiting on a pinned importer without the op is the exporter's
  // choice to accept it (kernel-facts §1.3), not a broken rule.
  const task = [...w.tasks.values()].find(
    (t) =>
      !(w.bufs.get(t.buf)?.attachments ?? []).some((id) => {
        const a = w.atts.get(id);
        return a !== undefined && a.mapping !== null && !attachRevocable(a);
      }),
  );
  if (task === undefined) return { steps };
  return {
    steps,
    rule:
      `a ${task.kind} completes in bounded steps once every device finished its jobs ` +
      `and every revocable importer unmapped (the ${task.kind} of buf ${task.buf} waits for ever)`,
  };
}

/**
 * Runs a property over pick lists; on failure, the shrunk run and its rule.
 *
 * @param m - the machine.
 * @param start - the start.
 * @param ops - the enabled ops of a world.
 * @param judge - the rule checked after every step.
 * @param options - runs and seed.
 * @param drain - whether each run ends by finishing the work it left.
 * @returns the verdict.
 */
function modelRun(
  m: Machine,
  start: World,
  ops: (w: World) => readonly { op: Op; kernel: boolean }[],
  judge: StepJudge,
  options: ContractOptions,
  drain = false,
): CaseVerdict {
  const details = fc.check(
    fc.property(fc.array(fc.nat(), { maxLength: RUN_LENGTH }), (picks) => {
      return replay(m, start, ops, picks, judge, drain).rule === undefined;
    }),
    { numRuns: options.runs ?? 30, seed: options.seed ?? DEFAULT_SEED },
  );
  if (!details.failed) return { status: "pass", detail: `${details.numRuns} runs` };
  const picks = details.counterexample?.[0] ?? [];
  const r = replay(m, start, ops, picks, judge, drain);
  return broken(
    r.rule ?? "the property failed",
    r.steps,
    `replay with fast-check seed ${details.seed}, path ${details.counterexamplePath ?? "?"}`,
  );
}

/**
 * Errno discipline (DESIGN §3.7): from the start world, any op the machine
 * lists (`nextOps`: misuse included, an errno path is behaviour too) either
 * runs or returns the same World it was given, and never throws.
 *
 * @param m - the machine.
 * @param start - the start.
 * @param options - runs and seed.
 * @returns the verdict.
 */
export function failedStepsChangeNothing(
  m: Machine,
  start: World,
  options: ContractOptions,
): CaseVerdict {
  return modelRun(
    m,
    start,
    (w) => nextOps(m, w).map((op) => ({ op, kernel: false })),
    (before, _op, out) =>
      out.status !== "done" && (out.world !== before || !worldsEqual(out.world, before))
        ? "a call that fails or would sleep returns the World it was given (nothing changed)"
        : undefined,
    options,
  );
}

/**
 * No violation in runs of well-behaved users and correct partners: the
 * ops `user` lists and every continuation; the fabric oracle judges every
 * access, a continuation that fails is a broken rule, and at the end of
 * each run, once the devices finished their jobs and the kernel its work,
 * no revoke may still be waiting.
 *
 * @param m - the machine.
 * @param start - the start.
 * @param user - the user's ops.
 * @param options - runs and seed.
 * @returns the verdict.
 */
export function wellBehavedRunsKeepTheRules(
  m: Machine,
  start: World,
  user: UserOps,
  options: ContractOptions,
): CaseVerdict {
  return modelRun(
    m,
    start,
    (w) => [
      ...user(m, w).map((op) => ({ op, kernel: false })),
      ...pendingSteps(m, w).map((p) => ({ op: p.op, kernel: true })),
    ],
    (before, op, out, kernel) => {
      if (kernel && out.status === "failed") return continuationFailed(op, out.error.errno);
      if (out.status !== "done") return undefined;
      for (const [id, v] of out.world.violations.entries())
        if (before.violations.get(id) === undefined) return violationRule(v);
      return undefined;
    },
    options,
    true,
  );
}
