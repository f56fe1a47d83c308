/*
 * The state space of a scenario (DESIGN §3.9): the world, each thread's
 * position in its list of calls (and the call it is inside, if that call
 * started work it waits for), and what earlier calls returned. A
 * transition is one thread's next atomic step, or one of the kernel's
 * continuations that `pendingOps` lists; nothing else runs in between.
 */
import { fmix32, mixWord } from "@dmabuf-ref/core/encoding";
import {
  hashWorld,
  hashWorld2,
  parseOp,
  pendingSteps,
  recordViolation,
  worldAfter,
} from "@dmabuf-ref/core";
import type { Machine, Op, SearchSpace, TraceEvent, World } from "@dmabuf-ref/core";
import { vfioOperations, vfioPciConfigOf } from "@dmabuf-ref/exporters";
import { UsageError } from "../io/usage-error.js";
import type { CallResult, Step, Unfinished } from "../replay/call.js";
import { continuationKeys, runOp, stillToDo } from "../replay/call.js";
import { bind, runCall } from "../replay/run.js";
import type { ReplayCall } from "../replay/schema.js";
import type { Bindings } from "../replay/values.js";
import { resolveValue } from "../replay/values.js";
import { REPLAY_PROCESS } from "../replay/ioctl.js";
import type { ScenarioCall } from "./scenario-file.js";
import { StepMemo } from "./step-memo.js";
import type { WorldMemo } from "./step-memo.js";

/** One thread of a scenario: its name and its calls. */
export interface ThreadProgram {
  /** The thread's name (`vmm`, `dev1`), the actor of its steps. */
  readonly name: string;
  /** Its calls, in order. */
  readonly calls: readonly ScenarioCall[];
}

/** A call a thread is inside: its first op ran; it waits for the work it started. */
interface Running {
  /** The step so far (its result is the call's, unless a later op fails). */
  readonly step: Step;
  /** Ops still to run, each once the work before it is over. */
  readonly rest: readonly Op[];
  /** Tasks it waits for. */
  readonly tasks: readonly number[];
  /** A vfio-pci device whose staged operations it waits for. */
  readonly device?: string;
  /** The ids of the device's operations it started. */
  readonly operations: readonly number[];
  /** Deferred work of its driver it queued, by key. */
  readonly continuations?: Unfinished["continuations"];
}

/** A thread's position and what its calls returned. */
interface ThreadState {
  /** The index of its next (or current) call. */
  readonly pc: number;
  /** The call it is inside, or null between calls. */
  readonly running: Running | null;
  /**
   * Its completed calls, the last first: a list each state extends by one
   * cell and shares the rest of (an array would be copied whole at every
   * call that returns, and the search keeps every state of a level).
   */
  readonly done: DoneList | null;
  /**
   * Its completed calls, hashed (two 32-bit lanes): extended as a call
   * returns, so a state's key is not rebuilt from every result.
   */
  readonly done1: number;
  /** The second lane of {@link ThreadState.done1}. */
  readonly done2: number;
}

/** A thread's completed calls, newest first. */
interface DoneList {
  readonly call: CompletedCall;
  readonly before: DoneList | null;
}

/** What a completed call returned, as a condition sees it. */
export interface CompletedCall {
  /** `ok`, an errno name, or a DMA's `fault` / `violation`. */
  readonly outcome: string;
  /** What it returned. */
  readonly result: CallResult;
}

/** A state of the exploration. */
export interface ExploreState {
  /** The world. */
  readonly world: World;
  /** Each thread's position and results, in thread order. */
  readonly threads: readonly ThreadState[];
  /** Every `as` name bound so far (init's and the threads'). */
  readonly bindings: Bindings;
  /**
   * The first lane of the canonical hash of everything but the world (each
   * thread's position, the work its call waits for, its results), with
   * interchangeable threads as a sorted multiset.
   */
  readonly key1: number;
  /** The second, independent lane of that hash. */
  readonly key2: number;
  /** The step memo's entry for the world (null when the space keeps no memo). */
  readonly memo: Memo | null;
}

/** A call that returned because of a step: thread, call index, outcome. */
type Returned = Transition["returned"][number];

/** One transition, with what it did (for a witness). */
export interface Transition {
  /** The state it leads to. */
  readonly state: ExploreState;
  /** A thread's name, or `kernel` for a continuation. */
  readonly actor: string;
  /** The thread's call index, for a thread's step. */
  readonly call?: number;
  /** The step, in words. */
  readonly text: string;
  /** `ok`, an errno, a DMA verdict, or `started` for a call still inside its work. */
  readonly outcome: string;
  /** What happened. */
  readonly events: readonly TraceEvent[];
  /** Calls that returned because of this step: thread, call index, outcome. */
  readonly returned: readonly { thread: string; call: number; outcome: string }[];
}

/** The outcome a condition compares: a DMA's verdict, `ok`, or the errno. */
function outcomeOf(r: CallResult): string {
  if (r.dma !== undefined) return r.dma;
  if (r.ok) return "ok";
  return r.errno ?? "blocked";
}

function copyBindings(b: Bindings): Bindings {
  return {
    rets: new Map(b.rets),
    outs: new Map(b.outs),
    unbound: new Map(b.unbound),
    buffers: new Map(b.buffers),
  };
}

/** Every string in a call's fields (what may name an earlier result). */
function stringsOf(v: unknown, out: string[]): void {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out);
  else if (typeof v === "object" && v !== null)
    for (const [k, x] of Object.entries(v)) if (k !== "as") stringsOf(x, out);
}

/**
 * The names of earlier results a call reads (`buf0`, `ioas0.out_ioas_id`):
 * a thread's call can run only once every one is bound, as a thread in the
 * kernel cannot pass a value it has not been given yet.
 *
 * @param call - the call.
 * @param declared - every name some call binds.
 * @returns the names it reads.
 */
export function referencesOf(call: ScenarioCall, declared: ReadonlySet<string>): string[] {
  const strings: string[] = [];
  stringsOf(call, strings);
  const names = new Set<string>();
  for (const s of strings) {
    const name = s.split(".")[0] ?? "";
    if (declared.has(name)) names.add(name);
  }
  return [...names];
}

/** `{ op: ... }` with its string fields that name results resolved to numbers. */
function resolvePlain(call: Record<string, unknown>, b: Bindings, site: string): unknown {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(call)) {
    if (k === "as") continue;
    const name = typeof v === "string" ? (v.split(".")[0] ?? "") : "";
    if (typeof v === "string" && (b.rets.has(name) || b.outs.has(name) || b.unbound.has(name))) {
      const n = resolveValue(v, b, { index: site, field: k });
      out[k] = n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    } else out[k] = v;
  }
  return out;
}

/**
 * Runs one scenario call: a replay call, or an op in plain-data form.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param call - the call.
 * @param site - where it is (`init[0]`, `threads.vmm[1]`), for errors.
 * @param b - the bindings.
 * @param mode - `settle` (init) or `step` (a thread).
 * @returns the step.
 * @throws UsageError for a call the machine cannot run (an unknown op or field).
 */
export function scenarioCall(
  m: Machine,
  w: World,
  call: ScenarioCall,
  site: string,
  b: Bindings,
  mode: "settle" | "step",
): Step {
  if (!("op" in call)) return runCall(m, w, call, site, b, mode);
  const { op, text } = plainOp(m, call, b, site);
  return plainStep(m, w, op, text, site, mode);
}

/** Runs a plain call's op and gives its step the result a condition compares. */
function plainStep(
  m: Machine,
  w: World,
  op: Op,
  text: string,
  site: string,
  mode: "settle" | "step",
): Step {
  const s = runOp(m, w, op, text, mode);
  if (!s.result.ok && s.sleeps === undefined) {
    // A refused op leaves no state; its line keeps the errno in the trace.
    const actor = /^threads\.([^[]+)\[/.exec(site)?.[1] ?? REPLAY_PROCESS;
    return { ...s, events: [...s.events, { kind: "note", actor, text: s.text }] };
  }
  if (!s.result.ok) return s;
  // A device access's outcome is the oracle's verdict, as for `{ event: dma }`.
  if (op.kind === "dma" || op.kind === "dma-access") {
    const e = s.events.find((x) => x.kind === "dma");
    return e?.kind === "dma" ? { ...s, result: resultWith(s.result, { dma: e.outcome }) } : s;
  }
  // A CPU access through a dma-buf mmap: its `cpu` event's verdict, as a DMA's.
  const cpu = s.events.find((x) => x.kind === "cpu");
  if (cpu?.kind === "cpu") return { ...s, result: resultWith(s.result, { dma: cpu.outcome }) };
  // An op that creates an object (export: the dma-buf) returns its id.
  if (s.result.ret !== undefined || s.created === undefined) return s;
  return { ...s, result: resultWith(s.result, { ret: s.created }) };
}

/**
 * A call's result with a DMA's verdict or a created id added, field by
 * field: a spread that adds fields (`{ ...r, dma }`) costs V8 a new hidden
 * class per object (about a microsecond), and the explorer keeps every
 * result a call returned.
 */
function resultWith(
  r: CallResult,
  add: { readonly dma?: CallResult["dma"]; readonly ret?: number },
): CallResult {
  const out: { -readonly [K in keyof CallResult]: CallResult[K] } = { ok: r.ok };
  if (r.errno !== undefined) out.errno = r.errno;
  const ret = add.ret ?? r.ret;
  if (ret !== undefined) out.ret = ret;
  if (r.out !== undefined) out.out = r.out;
  if (r.written !== undefined) out.written = r.written;
  const dma = add.dma ?? r.dma;
  if (dma !== undefined) out.dma = dma;
  if (r.landed !== undefined) out.landed = r.landed;
  if (r.blocksForever !== undefined) out.blocksForever = r.blocksForever;
  return out;
}

/**
 * Each plain call parsed once per machine and resolved values: the explorer
 * runs the same call in many states, and zod parsing was ~8% of its time.
 */
const parsedOps = new WeakMap<Machine, WeakMap<object, Map<string, { op: Op; text: string }>>>();

/** A plain call's string fields (what may name a result), computed once per call. */
const stringFields = new WeakMap<object, readonly (readonly [string, string])[]>();

/** The values a plain call's string fields resolve to, as a cache key. */
function valuesKey(call: Record<string, unknown>, b: Bindings, site: string): string {
  let fields = stringFields.get(call);
  if (fields === undefined) {
    fields = Object.entries(call).flatMap(([k, v]) =>
      k !== "as" && typeof v === "string" ? [[k, v] as const] : [],
    );
    stringFields.set(call, fields);
  }
  let key = "";
  for (const [k, v] of fields) {
    const name = v.split(".")[0] ?? "";
    const bound = b.rets.has(name) || b.outs.has(name) || b.unbound.has(name);
    key += `${bound ? String(resolveValue(v, b, { index: site, field: k })) : v}\u0000`;
  }
  return key;
}

/** A plain call's op (validated by the machine's schemas) and its text. */
function plainOp(
  m: Machine,
  call: Extract<ScenarioCall, { op: string }>,
  b: Bindings,
  site: string,
): { op: Op; text: string } {
  const key = valuesKey(call, b, site);
  let byCall = parsedOps.get(m);
  if (byCall === undefined) parsedOps.set(m, (byCall = new WeakMap()));
  let byValues = byCall.get(call);
  if (byValues === undefined)
    byCall.set(call, (byValues = new Map<string, { op: Op; text: string }>()));
  const hit = byValues.get(key);
  if (hit !== undefined) return hit;
  const parsed = parseOp(m, resolvePlain(call, b, site));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? "op" : issue.path.join(".");
    throw new UsageError(`${site}.${field}: ${issue?.message ?? "not an op"}`);
  }
  const made = { op: parsed.data, text: `${call.op}${describeFields(call)}` };
  byValues.set(key, made);
  return made;
}

/**
 * A planned plain call's op in a state's bindings, from the plan's cache;
 * undefined when a reference does not resolve (the general path then
 * reports why, as it would for any call).
 */
function plannedOp(
  m: Machine,
  plan: PlainPlan,
  b: Bindings,
  site: string,
): { op: Op; text: string } | undefined {
  let key = "";
  for (const r of plan.refs) {
    const v = refValue(r, b);
    if (v === undefined) return undefined;
    key += `${String(v)},`;
  }
  let made = plan.ops.get(key);
  if (made === undefined) {
    const parsed = plainOp(m, plan.call, b, site);
    // An object of this plan's own: the step memo keys a call's steps by
    // it, and two sites may share a call object (a YAML alias).
    made = { op: parsed.op, text: parsed.text };
    plan.ops.set(key, made);
  }
  return made;
}

const bigintText = (_k: string, v: unknown): unknown =>
  typeof v === "bigint" ? `0x${v.toString(16)}` : v;

function describeFields(call: Record<string, unknown>): string {
  const fields = Object.entries(call)
    .filter(([k]) => k !== "op" && k !== "as")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v, bigintText)}`);
  return fields.length === 0 ? "" : ` ${fields.join(" ")}`;
}

/** Whether the work a running call waits for is over. */
function workOver(m: Machine, w: World, r: Running): boolean {
  for (const t of r.tasks) if (w.tasks.has(t)) return false;
  const c = r.continuations;
  if (c !== undefined) {
    const live = new Set(continuationKeys(m, c.driver, w));
    if (c.keys.some((k) => live.has(k))) return false;
  }
  if (r.device === undefined || vfioPciConfigOf(m, r.device) === undefined) return true;
  const live = vfioOperations(m, w, r.device);
  return !r.operations.some((id) => live.some((o) => o.id === id));
}

function runningOf(s: Step): Running | null {
  const u = s.unfinished;
  if (u === undefined) return null;
  return {
    step: s,
    rest: u.rest,
    tasks: u.tasks,
    operations: u.operations ?? [],
    ...(u.continuations === undefined ? {} : { continuations: u.continuations }),
    ...(u.device === undefined ? {} : { device: u.device }),
  };
}

/** A field of a plain call that names a result: `att: a1`, `iova: map0.iova`. */
interface PlainRef {
  readonly field: string;
  /** The result's name. */
  readonly name: string;
  /** The field of the struct it wrote back, for `name.field`. */
  readonly sub: string | undefined;
}

/**
 * A plain call (`{ op: ... }`) prepared once per exploration: the fields
 * that name results, and its op by the values they resolve to. The explorer
 * runs the same call in many states; this spares it resolving every field
 * (split, regular expressions) and building a cache key from all of them.
 */
interface PlainPlan {
  readonly call: Extract<ScenarioCall, { op: string }>;
  readonly refs: readonly PlainRef[];
  /** The op and its text, by the resolved values joined. */
  readonly ops: Map<string, { op: Op; text: string }>;
}

/**
 * The plan of a plain call, or null for a call the general path must run
 * (not plain, or a field like `a.b.c` whose error that path reports).
 */
function planOf(call: ScenarioCall, names: ReadonlySet<string>): PlainPlan | null {
  if (!("op" in call)) return null;
  const refs: PlainRef[] = [];
  for (const [field, v] of Object.entries(call)) {
    if (field === "as" || typeof v !== "string") continue;
    const parts = v.split(".");
    const name = parts[0] ?? "";
    if (!names.has(name)) continue;
    if (parts.length > 2) return null;
    refs.push({ field, name, sub: parts[1] });
  }
  return { call, refs, ops: new Map() };
}

/** Whether every name a call reads is bound (a failed call's name never is). */
function allBound(names: readonly string[] | undefined, b: Bindings): boolean {
  if (names === undefined) return true;
  for (const n of names) if (!b.rets.has(n) && !b.outs.has(n)) return false;
  return true;
}

/** What a reference resolves to, or undefined when the general path must say why not. */
function refValue(r: PlainRef, b: Bindings): bigint | number | undefined {
  if (r.sub === undefined) return b.rets.get(r.name);
  return b.outs.get(r.name)?.[r.sub];
}

/**
 * Folds a string's UTF-16 units into a hash lane; `salt` makes the second
 * lane's words differ from the first's, as the old text key's did.
 */
function mixText(h: number, text: string, salt: number): number {
  let x = h;
  for (let i = 0; i < text.length; i++) x = mixWord(x, text.charCodeAt(i) ^ salt);
  return mixWord(x, text.length);
}

/** The salt of each lane's words ({@link mixText}). */
const SALTS = [0, 0x5bd1e995] as const;

/**
 * Seeds of the two lanes of a state's key (independent, as the world's two
 * hashes are). Signed: a thread's lanes start here, and a field that ever
 * holds a number above 2^31 is boxed in every object V8 makes of that shape.
 */
const LANE1 = 0x2545f491;
const LANE2 = 0x9e3779b9 | 0;

/** Groups of two or more threads with equal calls that bind nothing and no expectation names. */
function symmetricGroups(
  threads: readonly ThreadProgram[],
  named: ReadonlySet<string>,
): number[][] {
  const byCalls = new Map<string, number[]>();
  threads.forEach((t, i) => {
    if (named.has(t.name) || t.calls.some((c) => "as" in c && c.as !== undefined)) return;
    const k = JSON.stringify(t.calls);
    byCalls.set(k, [...(byCalls.get(k) ?? []), i]);
  });
  return [...byCalls.values()].filter((g) => g.length > 1);
}

/**
 * The scenario's state space: threads interleaved with the kernel's
 * continuations. Built once per exploration.
 */
/** One of the kernel's continuations from a world, worked out once per world. */
interface KernelMove {
  readonly world: World;
  /** The memo's entry for `world`. */
  readonly memo: Memo | null;
  readonly text: string;
  readonly outcome: string;
  readonly events: readonly TraceEvent[];
}

/**
 * A call's step as the memo keeps it: with the memo entry of the world it
 * leads to and, when the call returns at once, what the thread records.
 */
interface MemoStep {
  readonly step: Step;
  readonly next: Memo | null;
  /** The completed call and its hash lanes; null when the call goes on running. */
  readonly completion: Completion | null;
}

/** What a thread records when a call returns: the call, and its text hashed for the state key. */
interface Completion {
  readonly completed: CompletedCall;
  readonly lane1: number;
  readonly lane2: number;
}

/** What the step memo keeps per world: continuations, and plain calls' steps by prepared op. */
export type Memo = WorldMemo<readonly KernelMove[], object, MemoStep>;

/** The completion of a call that returned with step `st`'s result. */
function completionOf(st: Step): Completion {
  const completed = { outcome: outcomeOf(st.result), result: st.result };
  const text = completedKey(completed);
  return {
    completed,
    lane1: fmix32(mixText(LANE1, text, SALTS[0])) | 0,
    lane2: fmix32(mixText(LANE2, text, SALTS[1])) | 0,
  };
}

/**
 * Worlds per generation of the step memo (it keeps two). The reference
 * protocol with four importers meets about 200,000 distinct worlds in its
 * first million states: 2^18 forgets none of them there, 2^15 forgot so
 * many that the search ran slower than without a memo (BENCHMARKS.md).
 */
const MEMO_WORLDS = 1 << 18;

export class ScenarioSpace implements SearchSpace<ExploreState> {
  readonly initial: ExploreState;
  readonly #declared: ReadonlySet<string>;
  readonly #refs: readonly (readonly (readonly string[])[])[];
  /** Each thread's call sites (`threads.vmm[1]`), for errors and notes. */
  readonly #sites: readonly (readonly string[])[];
  /** Each thread's plain calls, prepared ({@link PlainPlan}); null for the others. */
  readonly #plans: readonly (readonly (PlainPlan | null)[])[];
  /**
   * Interchangeable threads (thread indices): the same calls, binding no
   * name, and named by no expectation. The world cannot tell which of them
   * made a call, so a state and its permutation are one.
   */
  readonly symmetric: readonly (readonly number[])[];
  /** Steps worked out per world ({@link StepMemo}); null when the space steps every time. */
  readonly #memo: StepMemo<readonly KernelMove[], object, MemoStep> | null;

  /**
   * @param machine - the machine.
   * @param start - the world after `init`.
   * @param bindings - the names `init` bound.
   * @param threads - the threads.
   * @param declared - every name a call of the scenario binds.
   * @param named - the threads some expectation names (never merged by symmetry).
   * @param options - `memo: false` steps every transition afresh, a
   *   number sets the memo's worlds per generation (tests compare both with
   *   the default; the search is the same).
   */
  constructor(
    readonly machine: Machine,
    start: World,
    bindings: Bindings,
    readonly threads: readonly ThreadProgram[],
    declared: ReadonlySet<string>,
    named: ReadonlySet<string> = new Set(threads.map((t) => t.name)),
    options: { readonly memo?: boolean | number } = {},
  ) {
    this.#declared = declared;
    const m = options.memo ?? true;
    this.#memo = m === false ? null : new StepMemo(m === true ? MEMO_WORLDS : m);
    this.#refs = threads.map((t) => t.calls.map((c) => referencesOf(c, declared)));
    this.#sites = threads.map((t) => t.calls.map((_, pc) => `threads.${t.name}[${pc}]`));
    // Names a field may resolve: those calls bind, and those bound before
    // the first call (`iommufd`).
    const names = new Set([
      ...declared,
      ...bindings.rets.keys(),
      ...bindings.outs.keys(),
      ...bindings.unbound.keys(),
    ]);
    this.#plans = threads.map((t) => t.calls.map((c) => planOf(c, names)));
    this.symmetric = symmetricGroups(threads, named);
    const memo0 = this.#memo === null ? null : this.#memo.of(start);
    const s0 = {
      world: memo0 === null ? start : memo0.world,
      memo: memo0,
      threads: threads.map(() => ({
        pc: 0,
        running: null,
        done: null,
        done1: LANE1,
        done2: LANE2,
      })),
      bindings,
    };
    this.initial = withKey(s0, this.symmetric);
  }

  /** Every name some call binds. */
  get declared(): ReadonlySet<string> {
    return this.#declared;
  }

  successors(s: ExploreState): readonly ExploreState[] {
    // The search needs the states only: no transition records, no lists of returned calls.
    const states: ExploreState[] = [];
    this.#expand(s, null, states);
    return states;
  }

  fingerprint(s: ExploreState, out: Uint32Array): void {
    const memo = s.memo;
    out[0] = fmix32(mixWord(memo === null ? hashWorld(s.world) : memo.h1, s.key1));
    out[1] = fmix32(mixWord(memo === null ? hashWorld2(s.world) : memo.h2, s.key2));
  }

  /**
   * Every transition enabled in a state, in a fixed order: each thread's
   * next step (thread order), then each continuation `pendingOps` lists.
   *
   * @param s - the state.
   * @returns the transitions; none in a terminal state.
   */
  transitions(s: ExploreState): Transition[] {
    const out: Transition[] = [];
    this.#expand(s, out, null);
    return out;
  }

  /**
   * The transitions from `s` in order, each into `out` as a transition, or
   * (`out` null) its state alone into `states`.
   */
  #expand(s: ExploreState, out: Transition[] | null, states: ExploreState[] | null): void {
    const m = this.machine;
    const memo = s.memo;
    for (let i = 0; i < this.threads.length; i++) {
      const t = this.threads[i] as ThreadProgram;
      const ts = s.threads[i];
      if (ts === undefined || ts.pc >= t.calls.length) continue;
      const site = this.#sites[i]?.[ts.pc] ?? "";
      const r = ts.running;
      let st: Step;
      if (r !== null) {
        const next = r.rest[0];
        if (next === undefined || !workOver(m, s.world, r)) continue;
        const rest = r.rest.slice(1);
        st = runOp(m, s.world, next, r.step.text.replace(/(: done| = .*)$/, ""), "step");
        if (st.sleeps !== undefined) continue;
        // The work before it is over; the call now waits for what this op starts.
        if (st.result.ok && rest.length > 0) st = stillToDo(st, { rest });
        this.#advance(s, i, this.#memoStep(st), out, states);
        continue;
      } else {
        const b = s.bindings;
        if (!allBound(this.#refs[i]?.[ts.pc], b)) continue;
        const plan = this.#plans[i]?.[ts.pc] ?? null;
        const made = plan === null ? undefined : plannedOp(m, plan, b, site);
        const ms =
          made === undefined
            ? this.#memoStep(
                scenarioCall(m, s.world, t.calls[ts.pc] as ScenarioCall, site, b, "step"),
              )
            : this.#plainStepOf(memo, s.world, made, site);
        if (ms.step.sleeps !== undefined) continue;
        this.#advance(s, i, ms, out, states);
      }
    }
    let kernel = memo === null ? undefined : memo.kernel;
    if (kernel === undefined) {
      kernel = this.#kernelMoves(s.world);
      if (memo !== null) memo.kernel = kernel;
    }
    for (const k of kernel) {
      const d = draftOf(s, k.world, k.memo);
      if (out === null) {
        this.#settle(d, null);
        states?.push(withKey(d, this.symmetric));
        continue;
      }
      const returned: Returned[] = [];
      this.#settle(d, returned);
      out.push({
        state: withKey(d, this.symmetric),
        actor: "kernel",
        text: k.text,
        outcome: k.outcome,
        events: k.events,
        returned,
      });
    }
  }

  /**
   * A step as the memo keeps it: its world replaced by the memo's
   * representative, with that world's memo entry and, for a call that
   * returns at once, its completion.
   */
  #memoStep(st: Step): MemoStep {
    const running = st.result.ok ? runningOf(st) : null;
    const completion = running === null ? completionOf(st) : null;
    if (this.#memo === null) return { step: st, next: null, completion };
    const next = this.#memo.of(st.world);
    return { step: next.world === st.world ? st : { ...st, world: next.world }, next, completion };
  }

  /** A planned plain call's step from a world: from the memo when this world met it before. */
  #plainStepOf(
    memo: Memo | null,
    w: World,
    made: { readonly op: Op; readonly text: string },
    site: string,
  ): MemoStep {
    const known = memo?.calls.get(made);
    if (known !== undefined) return known;
    const ms = this.#memoStep(plainStep(this.machine, w, made.op, made.text, site, "step"));
    memo?.calls.set(made, ms);
    return ms;
  }

  /**
   * The kernel's continuations from a world (what `pendingOps` lists, each
   * stepped): they depend on the world alone, so the memo keeps them per world.
   */
  #kernelMoves(w: World): KernelMove[] {
    const moves: KernelMove[] = [];
    for (const { op, outcome: r } of pendingSteps(this.machine, w)) {
      let world = worldAfter(r);
      const events: TraceEvent[] =
        r.status === "done"
          ? [...r.events]
          : r.status === "failed"
            ? [...(r.committed?.events ?? r.events ?? [])]
            : [];
      if (r.status === "failed") {
        // Work a driver lists as ready runs: the kernel has nobody to hand
        // an errno to (an importer re-mapping on its own after a revoke
        // gets ENODEV and retries for ever). The oracle records it once.
        const v = recordViolation(world, {
          kind: "contract",
          rule: "work a driver lists as ready runs and never fails",
          actor: continuationActor(op),
          message: `${continuationText(op)} failed with ${r.error.errno}: ${r.error.message}`,
        });
        world = v.world;
        events.push(v.event);
      }
      const memo = this.#memo === null ? null : this.#memo.of(world);
      moves.push({
        world: memo === null ? world : memo.world,
        memo,
        text: continuationText(op),
        outcome: r.status === "failed" ? r.error.errno : "ok",
        events,
      });
    }
    return moves;
  }

  /** The state after thread `i` took step `ms`. */
  #advance(
    s: ExploreState,
    i: number,
    ms: MemoStep,
    out: Transition[] | null,
    states: ExploreState[] | null,
  ): void {
    const t = this.threads[i] as ThreadProgram;
    const ts = s.threads[i] as ThreadState;
    const st = ms.step;
    const d = draftOf(s, st.world, ms.next);
    // A call that returns at once never shows as running.
    const completion = ms.completion;
    const running = completion === null ? runningOf(st) : null;
    if (completion !== null) this.#complete(d, i, st, completion);
    else d.threads[i] = { pc: ts.pc, running, done: ts.done, done1: ts.done1, done2: ts.done2 };
    if (out === null) {
      this.#settle(d, null);
      states?.push(withKey(d, this.symmetric));
      return;
    }
    const returned: Returned[] = [];
    if (completion !== null)
      returned.push({ thread: t.name, call: ts.pc, outcome: completion.completed.outcome });
    this.#settle(d, returned);
    out.push({
      state: withKey(d, this.symmetric),
      actor: t.name,
      call: ts.pc,
      text: st.text,
      outcome: completion !== null ? completion.completed.outcome : "started",
      events: st.events,
      returned,
    });
  }

  /** Thread `i`'s current call returns with step `st`'s result. */
  #complete(d: Draft, i: number, st: Step, c: Completion): void {
    const t = this.threads[i] as ThreadProgram;
    const ts = d.threads[i] as ThreadState;
    const call = t.calls[ts.pc] as ScenarioCall;
    if ("as" in call && call.as !== undefined) {
      d.bindings = copyBindings(d.bindings);
      bind(d.bindings, call as ReplayCall, this.#sites[i]?.[ts.pc] ?? "", st);
    }
    d.threads[i] = {
      pc: ts.pc + 1,
      running: null,
      done: { call: c.completed, before: ts.done },
      done1: mixWord(ts.done1, c.lane1),
      done2: mixWord(ts.done2, c.lane2),
    };
  }

  /** Returns every call whose work is over and which has no op left, listing it in `returned` when given. */
  #settle(d: Draft, returned: Returned[] | null): void {
    for (let i = 0; i < d.threads.length; i++) {
      const ts = d.threads[i] as ThreadState;
      const r = ts.running;
      if (r === null || r.rest.length > 0 || !workOver(this.machine, d.world, r)) continue;
      this.#complete(d, i, r.step, completionOf(r.step));
      returned?.push({
        thread: (this.threads[i] as ThreadProgram).name,
        call: ts.pc,
        outcome: outcomeOf(r.step.result),
      });
    }
  }

  /**
   * Why each thread that has not finished is stuck in a state where nothing
   * can run: the work its call waits for, the name it reads that a failed
   * call left unbound, or what its next call would sleep on.
   *
   * @param s - a terminal state.
   * @returns one entry per stuck thread, in thread order.
   */
  stuck(s: ExploreState): { thread: string; call: number; why: string }[] {
    const out: { thread: string; call: number; why: string }[] = [];
    this.threads.forEach((t, i) => {
      const ts = s.threads[i];
      if (ts === undefined || ts.pc >= t.calls.length) return;
      const r = ts.running;
      let why: string;
      if (r !== null) {
        const what = [
          ...r.tasks.filter((id) => s.world.tasks.has(id)).map((id) => `task ${id}`),
          ...(r.operations.length > 0 && r.device !== undefined
            ? [`${r.device}'s vfio-pci operation`]
            : []),
          ...(r.continuations === undefined ? [] : [`${r.continuations.driver}'s deferred work`]),
        ];
        why = `inside its call, waiting for ${what.length === 0 ? "its work" : what.join(", ")}`;
      } else {
        const unbound = (this.#refs[i]?.[ts.pc] ?? []).find((n) => s.bindings.unbound.has(n));
        if (unbound !== undefined) {
          why = `reads ${unbound}, unbound: ${s.bindings.unbound.get(unbound) ?? ""}`;
        } else {
          const call = t.calls[ts.pc] as ScenarioCall;
          const st = scenarioCall(
            this.machine,
            s.world,
            call,
            `threads.${t.name}[${ts.pc}]`,
            s.bindings,
            "step",
          );
          why = st.sleeps === undefined ? "cannot run" : `sleeps: ${st.sleeps}`;
        }
      }
      out.push({ thread: t.name, call: ts.pc, why });
    });
    return out;
  }

  /**
   * Each thread's calls as a condition sees them in a state: the outcomes
   * of the calls that returned, `blocked` for the rest.
   *
   * @param s - a (terminal) state.
   * @returns outcomes by thread name.
   */
  outcomes(s: ExploreState): Map<string, string[]> {
    return new Map(
      this.threads.map((t, i) => {
        const done: string[] = [];
        for (let d = s.threads[i]?.done ?? null; d !== null; d = d.before)
          done.push(d.call.outcome);
        done.reverse();
        return [t.name, t.calls.map((_, c) => done[c] ?? "blocked")];
      }),
    );
  }
}

/** A continuation in words: a task's next step, or the driver op it runs. */
function continuationText(op: Op): string {
  if (op.kind === "task") return `task ${op.task}: next step`;
  if (op.kind !== "driver") return op.kind;
  const a = op.action as { op?: unknown };
  return `${op.driver}: ${typeof a.op === "string" ? a.op : "pending work"}`;
}

/** Who does a continuation's work: the task's exporter side, or the driver. */
function continuationActor(op: Op): string {
  if (op.kind === "driver") return op.driver;
  if (op.kind === "task") return `task ${op.task}`;
  return "kernel";
}

/** A completed call as canonical text: its outcome, return value and struct. */
function completedKey(c: CompletedCall): string {
  const res = c.result;
  const out =
    res.out === undefined
      ? ""
      : Object.entries(res.out)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(",");
  return `${c.outcome};${res.ret === undefined ? "" : String(res.ret)};${out}`;
}

/**
 * A state a transition is building: what the transition changes it
 * replaces (never the arrays of the state it came from), and it gets its
 * key last ({@link withKey}), so a transition makes one state object.
 */
interface Draft {
  readonly world: World;
  readonly memo: Memo | null;
  readonly threads: ThreadState[];
  bindings: Bindings;
}

/** A draft of the state after `s` with world `world` (whose memo entry is `memo`). */
function draftOf(s: ExploreState, world: World, memo: Memo | null): Draft {
  return {
    world,
    memo,
    threads: s.threads.slice(),
    bindings: s.bindings,
  };
}

/** One lane of a thread's position, the work its call waits for, and its results. */
function threadLane(s: Omit<ExploreState, "key1" | "key2">, i: number, lane: 0 | 1): number {
  const t = s.threads[i] as ThreadState;
  const salt = SALTS[lane];
  let h = mixWord(lane === 0 ? t.done1 : t.done2, t.pc);
  const r = t.running;
  if (r === null) return fmix32(mixWord(h, 0));
  h = mixWord(mixWord(h, 1), r.rest.length);
  for (const id of r.tasks) h = mixWord(h, id);
  h = mixText(mixWord(h, r.tasks.length), r.device ?? "", salt);
  for (const id of r.operations) h = mixWord(h, id);
  h = mixWord(h, r.operations.length);
  for (const k of r.continuations?.keys ?? []) h = mixText(h, k, salt);
  return fmix32(mixWord(h, r.continuations?.keys.length ?? -1));
}

/** The state with the key whose lanes were folded to `key1` and `key2`. */
function keyed(s: Omit<ExploreState, "key1" | "key2">, key1: number, key2: number): ExploreState {
  const n = s.threads.length;
  return {
    world: s.world,
    threads: s.threads,
    bindings: s.bindings,
    memo: s.memo,
    // Signed: a small integer V8 keeps inline (an unsigned one above 2^31 is a heap number).
    key1: fmix32(key1 ^ n) | 0,
    key2: fmix32(key2 + n) | 0,
  };
}

/**
 * A state with its key: the canonical hash of its positions and results
 * (not the world), the threads in order, except that interchangeable
 * threads (`groups`) count as a sorted multiset, so states that differ only
 * by which of them did what are one state (symmetry reduction).
 */
function withKey(
  s: Omit<ExploreState, "key1" | "key2">,
  groups: readonly (readonly number[])[],
): ExploreState {
  const n = s.threads.length;
  let key1 = LANE1;
  let key2 = LANE2;
  if (groups.length === 0) {
    for (let i = 0; i < n; i++) {
      key1 = mixWord(key1, threadLane(s, i, 0));
      key2 = mixWord(key2, threadLane(s, i, 1));
    }
    return keyed(s, key1, key2);
  }
  const a: number[] = new Array<number>(n);
  const b: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    a[i] = threadLane(s, i, 0);
    b[i] = threadLane(s, i, 1);
  }
  for (const g of groups) {
    const sorted = g
      .map((i) => [a[i] ?? 0, b[i] ?? 0] as const)
      .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    g.forEach((i, k) => {
      a[i] = sorted[k]?.[0] ?? 0;
      b[i] = sorted[k]?.[1] ?? 0;
    });
  }
  for (let i = 0; i < n; i++) {
    key1 = mixWord(key1, a[i] ?? 0);
    key2 = mixWord(key2, b[i] ?? 0);
  }
  return keyed(s, key1, key2);
}
