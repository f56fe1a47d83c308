/*
 * The suites' explorer: every interleaving of a few threads of ops with
 * the kernel's continuations (`pendingSteps`), breadth-first through
 * core's `breadthFirst`, so the first state that breaks a rule is reached
 * by a shortest run (DESIGN §3.9). The same search the CLI's `explore`
 * runs on a scenario file, over core's op alphabet only: a suite names no
 * driver and no uAPI.
 */
import {
  breadthFirst,
  describeEvent,
  hashWorld,
  hashWorld2,
  pendingSteps,
  step,
  wrapLine,
} from "@dmabuf-ref/core";
import type { Machine, Op, SearchSpace, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";

/**
 * One call of a thread: an op, or how to build it from the world it runs
 * in and what this thread's earlier calls created (a job a `submit`
 * started, for its `dma-access`); null when, in that world, the thread
 * issues nothing (a well-behaved device does not read through a mapping
 * its importer already gave up): the call returns `skipped`.
 *
 * @category Exploration
 */
export type ThreadCall = Op | ((w: World, created: readonly (number | undefined)[]) => Op | null);

/**
 * A thread: its name (in traces) and its calls, run in order.
 *
 * @category Exploration
 */
export interface ContractThread {
  /** The actor name. */
  readonly name: string;
  /** The calls. */
  readonly calls: readonly ThreadCall[];
}

/**
 * A state of a contract exploration: the world and each thread's progress.
 *
 * @category Exploration
 */
export interface ContractState {
  /** The world. */
  readonly world: World;
  /** Per thread, how many calls returned. */
  readonly pcs: readonly number[];
  /** Per thread, each returned call's outcome (`ok`, an errno, a DMA's `fault`). */
  readonly outcomes: readonly (readonly string[])[];
  /** Per thread, what each returned call created. */
  readonly created: readonly (readonly (number | undefined)[])[];
  /** Set once a continuation failed: the rule that broke ({@link continuationFailed}). */
  readonly brokenWork?: string;
}

/**
 * One transition: who took it, what, with which outcome, and what happened.
 *
 * @category Exploration
 */
export interface ContractTransition {
  /** The thread's name, or `kernel` for a continuation. */
  readonly actor: string;
  /** The op, in words. */
  readonly text: string;
  /** `ok`, an errno, or a DMA's `fault` / `violation`. */
  readonly outcome: string;
  /** What happened. */
  readonly events: readonly TraceEvent[];
  /** The state after. */
  readonly state: ContractState;
}

/**
 * An op in words for a trace line: its kind and fields, bigints in hex.
 *
 * @param op - the op.
 * @returns e.g. `revoke buf=1 permanent=true by=close`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opText } from "@dmabuf-ref/contracts";
 *
 * assert.equal(
 *   opText({ kind: "revoke", buf: 1, permanent: true, by: "close" }),
 *   "revoke buf=1 permanent=true by=close",
 * );
 * // Bigints print in hex, as addresses read in a trace.
 * assert.equal(
 *   opText({ kind: "dma", device: "dev1", addr: 0x10_0000n, len: 0x1000n, dir: "write" }),
 *   "dma device=dev1 addr=0x100000 len=0x1000 dir=write",
 * );
 * ```
 * @category Exploration
 */
export function opText(op: Op): string {
  const fields = Object.entries(op)
    .filter(([k]) => k !== "kind")
    .map(([k, v]) => `${k}=${valueText(v)}`);
  return [op.kind, ...fields].join(" ");
}

function valueText(v: unknown): string {
  if (typeof v === "bigint") return `0x${v.toString(16)}`;
  if (typeof v === "object" && v !== null)
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}: ${valueText(x)}`)
      .join(", ")}}`;
  return String(v);
}

/**
 * What a step returned, as a scenario outcome: `ok`, the errno, or for a
 * DMA the oracle's verdict on the access (`fault`, `violation`).
 *
 * @param out - the step's outcome (not blocked).
 * @returns the outcome word.
 */
export function outcomeWord(out: StepOutcome): string {
  if (out.status === "failed") return out.error.errno;
  if (out.status === "blocked") return "blocked";
  for (const e of out.events) if (e.kind === "dma" && e.outcome !== "ok") return e.outcome;
  return "ok";
}

/**
 * The interleavings of threads of ops with the kernel's continuations: a
 * thread's next op is enabled unless it would sleep (blocked), and every
 * continuation `pendingSteps` lists is enabled.
 *
 * @category Exploration
 */
export class ContractSpace implements SearchSpace<ContractState> {
  /** The start. */
  readonly initial: ContractState;
  private readonly cache = new WeakMap<ContractState, readonly ContractTransition[]>();

  /**
   * @param m - the machine.
   * @param start - the world the threads start in.
   * @param threads - the threads.
   */
  constructor(
    readonly m: Machine,
    start: World,
    readonly threads: readonly ContractThread[],
  ) {
    this.initial = {
      world: start,
      pcs: threads.map(() => 0),
      outcomes: threads.map(() => []),
      created: threads.map(() => []),
    };
  }

  /**
   * The transitions enabled in a state: each thread's next op, then each
   * continuation, in that fixed order.
   *
   * @param s - the state.
   * @returns the transitions.
   */
  transitions(s: ContractState): readonly ContractTransition[] {
    const hit = this.cache.get(s);
    if (hit !== undefined) return hit;
    const out: ContractTransition[] = [];
    this.threads.forEach((t, i) => {
      const pc = s.pcs[i] ?? 0;
      const call = t.calls[pc];
      if (call === undefined) return;
      const op = typeof call === "function" ? call(s.world, s.created[i] ?? []) : call;
      if (op === null) {
        out.push({
          actor: t.name,
          text: "(nothing to issue)",
          outcome: "skipped",
          events: [],
          state: {
            ...s,
            pcs: s.pcs.map((p, j) => (j === i ? p + 1 : p)),
            outcomes: s.outcomes.map((o, j) => (j === i ? [...o, "skipped"] : o)),
            created: s.created.map((c, j) => (j === i ? [...c, undefined] : c)),
          },
        });
        return;
      }
      const r = step(this.m, s.world, op);
      if (r.status === "blocked") return;
      const word = outcomeWord(r);
      out.push({
        actor: t.name,
        text: opText(op),
        outcome: word,
        events: eventsOf(r),
        state: {
          world: r.world,
          pcs: s.pcs.map((p, j) => (j === i ? p + 1 : p)),
          outcomes: s.outcomes.map((o, j) => (j === i ? [...o, word] : o)),
          created: s.created.map((c, j) =>
            j === i ? [...c, r.status === "done" ? r.created : undefined] : c,
          ),
        },
      });
    });
    for (const p of pendingSteps(this.m, s.world)) {
      out.push({
        actor: "kernel",
        text: opText(p.op),
        outcome: outcomeWord(p.outcome),
        events: eventsOf(p.outcome),
        state:
          p.outcome.status === "failed"
            ? withFields(s, { brokenWork: continuationFailed(p.op, p.outcome.error.errno) })
            : { ...s, world: p.outcome.world },
      });
    }
    this.cache.set(s, out);
    return out;
  }

  /**
   * The states one transition away.
   *
   * @param s - the state.
   * @returns the successors, in {@link ContractSpace.transitions} order.
   */
  successors(s: ContractState): readonly ContractState[] {
    return this.transitions(s).map((t) => t.state);
  }

  /**
   * The state's fingerprint: the world's two hash lanes mixed with every
   * thread's progress and outcomes.
   *
   * @param s - the state.
   * @param out - two words.
   */
  fingerprint(s: ContractState, out: Uint32Array): void {
    let h1 = hashWorld(s.world);
    let h2 = hashWorld2(s.world);
    s.pcs.forEach((pc, i) => {
      h1 = Math.imul(h1 ^ (pc + 1), 0x9e3779b1) >>> 0;
      for (const o of s.outcomes[i] ?? [])
        for (let k = 0; k < o.length; k++) h2 = Math.imul(h2 ^ o.charCodeAt(k), 0x85ebca6b) >>> 0;
      h2 = Math.imul(h2 ^ 0x2f, 0xc2b2ae35) >>> 0;
    });
    if (s.brokenWork !== undefined) h1 = Math.imul(h1 ^ 0xbad, 0x27d4eb2f) >>> 0;
    out[0] = h1;
    out[1] = h2;
  }
}

/**
 * One step of a shortest run, for a failure report.
 *
 * @category Exploration
 */
export interface RunStep {
  /** Who took it. */
  readonly actor: string;
  /** What. */
  readonly text: string;
  /** With which outcome. */
  readonly outcome: string;
  /** What happened. */
  readonly events: readonly TraceEvent[];
}

/**
 * A state some run must reach, named.
 *
 * @category Exploration
 */
export interface Reachable {
  /** What the run does, in words ("faults a device read after the revoke"). */
  readonly what: string;
  /**
   * Whether a state is one.
   *
   * @param s - a state.
   */
  holds(s: ContractState): boolean;
}

/**
 * A broken rule and a shortest run to it.
 *
 * @category Exploration
 */
export interface BrokenRule {
  /** The rule. */
  readonly rule: string;
  /** The run. */
  readonly run: readonly RunStep[];
}

/**
 * What a search looked for: rules judged on every state, and on the states where it ends.
 *
 * @category Exploration
 */
export interface Judges {
  /**
   * A broken rule in this state, or undefined: judged on every state
   * (safety; the oracle never takes a violation back).
   */
  readonly always?: (s: ContractState) => string | undefined;
  /** A broken rule in a terminal state (no transition enabled), or undefined. */
  readonly atEnd?: (s: ContractState, space: ContractSpace) => string | undefined;
  /** A state some run must reach (a rule that something can happen), by name. */
  readonly somewhere?: Reachable;
}

/**
 * What a contract exploration found.
 *
 * @category Exploration
 */
export interface SearchVerdict {
  /** The first broken rule, and a shortest run to it; undefined when every rule held. */
  readonly broken?: BrokenRule;
  /** States seen. */
  readonly states: number;
  /** False when the bound stopped the search (the rules held as far as it went). */
  readonly complete: boolean;
}

/**
 * Explores every interleaving breadth-first and stops at the first state
 * that breaks a rule: its run is a shortest counterexample.
 *
 * @param space - the space.
 * @param judges - the rules.
 * @param maxStates - the bound.
 * @returns the verdict.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot, defineMachine, importerHolder, linux71, referenceTopology,
 * } from "@dmabuf-ref/core";
 * import {
 *   ContractSpace, contractExporter, dynamicImporter, mustSteps, search, submitCall,
 * } from "@dmabuf-ref/contracts";
 * import type { ContractState } from "@dmabuf-ref/contracts";
 *
 * // An importer whose submission keeps using a mapping invalidated under it.
 * const wrong = dynamicImporter({ submit: { remapsInvalidated: false, underResv: true } });
 * const m = defineMachine({ profile: linux71, topology: referenceTopology,
 *   exporters: [contractExporter()], importers: [wrong] });
 * const holder = importerHolder("ref-importer", 1);
 * const mapped = mustSteps(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev1", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "map", att: 1, holder },
 *   { kind: "unlock", buf: 1, holder },
 * ]);
 * // A job racing a revoke for good: does any interleaving reach memory given up?
 * const space = new ContractSpace(m, mapped, [
 *   { name: "gpu", calls: [submitCall(1, "write")] },
 *   { name: "user", calls: [{ kind: "revoke", buf: 1, permanent: true, by: "close" }] },
 * ]);
 * const always = (s: ContractState) =>
 *   s.world.violations.size > 0 ? "no DMA reaches memory given up" : undefined;
 * const v = search(space, { always }, 10_000);
 * assert.equal(v.broken?.rule, "no DMA reaches memory given up");
 * // The shortest run: the revoke completes first, then the stale job runs.
 * const run = v.broken?.run ?? [];
 * assert.deepEqual([run[0]?.actor, run.at(-1)?.actor], ["user", "gpu"]);
 * ```
 * @category Exploration
 */
export function search(space: ContractSpace, judges: Judges, maxStates: number): SearchVerdict {
  let found: { rule: string; id: number } | undefined;
  let reached = judges.somewhere === undefined;
  const stats = breadthFirst(
    space,
    (s, id, terminal) => {
      if (found !== undefined) return;
      if (judges.somewhere?.holds(s) === true) reached = true;
      const rule =
        s.brokenWork ??
        judges.always?.(s) ??
        (terminal ? judges.atEnd?.(s, space) : undefined) ??
        undefined;
      if (rule !== undefined) found = { rule, id };
    },
    // One violation is enough: stop growing the frontier once found.
    { maxStates },
  );
  if (found !== undefined)
    return {
      broken: { rule: found.rule, run: runOf(space, stats.tree.pathTo(found.id)) },
      states: stats.states,
      complete: stats.complete,
    };
  if (!reached && stats.complete && judges.somewhere !== undefined)
    return {
      broken: { rule: `some run ${judges.somewhere.what}`, run: [] },
      states: stats.states,
      complete: true,
    };
  return { states: stats.states, complete: stats.complete };
}

/**
 * Re-runs a path of transition labels from the start.
 *
 * @param space - the space.
 * @param path - successor indices.
 * @returns the steps.
 */
export function runOf(space: ContractSpace, path: readonly number[]): RunStep[] {
  let s = space.initial;
  return path.map((label) => {
    const t = space.transitions(s)[label];
    if (t === undefined) throw new Error(`no transition ${label}`);
    s = t.state;
    return { actor: t.actor, text: t.text, outcome: t.outcome, events: t.events };
  });
}

/**
 * A run as numbered lines of at most 72 columns, each step's events
 * indented under it, as `dmabuf-ref explore` prints a counterexample.
 *
 * @param run - the steps.
 * @returns the text.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runText } from "@dmabuf-ref/contracts";
 *
 * const text = runText([
 *   { actor: "user", text: "revoke buf=1 permanent=true by=close", outcome: "ok", events: [] },
 *   { actor: "gpu", text: "dma device=dev1 addr=0x100000 len=0x8 dir=write", outcome: "violation",
 *     events: [] },
 * ]);
 * assert.deepEqual(text.split("\n"), [
 *   "1. user: revoke buf=1 permanent=true by=close -> ok",
 *   "2. gpu: dma device=dev1 addr=0x100000 len=0x8 dir=write -> violation",
 * ]);
 * ```
 * @category Exploration
 */
export function runText(run: readonly RunStep[]): string {
  return run
    .flatMap((st, i) => [
      ...wrapLine(`${i + 1}. ${st.actor}: ${st.text} -> ${st.outcome}`, 72, 6),
      ...st.events.flatMap((e) => {
        const d = describeEvent(e);
        return wrapLine(`   ${d.from}${d.to === undefined ? "" : ` -> ${d.to}`}: ${d.text}`, 72, 6);
      }),
    ])
    .join("\n");
}

/**
 * The rule a failing continuation breaks: work a driver owes and lists as
 * ready (`pendingOps`) runs; it never fails (the kernel has nobody to
 * return the errno to).
 *
 * @param op - the continuation.
 * @param errno - its errno.
 * @returns the rule, naming the op and errno.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { continuationFailed } from "@dmabuf-ref/contracts";
 *
 * // An owed unmap the kernel ran as a continuation came back with ENODEV.
 * assert.equal(
 *   continuationFailed({ kind: "unmap", att: 1, holder: "ref-importer" }, "ENODEV"),
 *   "work a driver lists as ready runs and never fails " +
 *     "(unmap att=1 holder=ref-importer failed with ENODEV)",
 * );
 * ```
 * @category Exploration
 */
export function continuationFailed(op: Op, errno: string): string {
  return `work a driver lists as ready runs and never fails (${opText(op)} failed with ${errno})`;
}

/**
 * What a step reported for the trace, whatever its arm (a blocked step
 * reports nothing).
 *
 * @param out - the outcome.
 * @returns its events.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, step } from "@dmabuf-ref/core";
 * import { eventsOf } from "@dmabuf-ref/contracts";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } },
 *   { kind: "lock", buf: 1, holder: "exporter" },
 * ]);
 * // A lock another holder has would sleep: blocked, and a blocked step reports nothing.
 * const blocked = step(m, world, { kind: "lock", buf: 1, holder: "importer" });
 * assert.equal(blocked.status, "blocked");
 * assert.deepEqual(eventsOf(blocked), []);
 * const done = step(m, world, { kind: "unlock", buf: 1, holder: "exporter" });
 * assert.deepEqual(eventsOf(done).map((e) => e.kind), ["resv"]);
 * ```
 * @category Exploration
 */
export function eventsOf(out: StepOutcome): readonly TraceEvent[] {
  return out.status === "blocked" ? [] : (out.events ?? []);
}
