/*
 * `dmabuf-ref explore`: every interleaving of a scenario's threads with the
 * kernel's continuations, breadth-first, so the first witness found for an
 * expectation is a shortest run (DESIGN §3.9).
 */
import { boot, breadthFirst } from "@dmabuf-ref/core";
import type { Machine, Profile, SearchBounds, TraceEvent, World } from "@dmabuf-ref/core";
import { UsageError } from "../io/usage-error.js";
import { loadDocument, validateWith } from "../io/load-document.js";
import { resolveProfile } from "../io/profile-option.js";
import type { PluginSet } from "../io/load-plugin.js";
import { DEFAULT_MACHINE } from "../replay/machine.js";
import { checkNames } from "../replay/run.js";
import { bind } from "../replay/run.js";
import type { ReplayCall } from "../replay/schema.js";
import { emptyBindings } from "../replay/values.js";
import { REPLAY_IOMMUFD_FD } from "../replay/ioctl.js";
import { buildMachine } from "../scenarios/machine.js";
import type { Condition, Observation } from "./condition.js";
import { holds, parseCondition } from "./condition.js";
import type { ScenarioFile } from "./scenario-file.js";
import { plainOpCallSchema, scenarioFileSchema } from "./scenario-file.js";
import { replayEventSchema, replayIoctlSchema, replaySyscallSchema } from "../replay/schema.js";
import type { ExploreState, ThreadProgram, Transition } from "./threads.js";
import { ScenarioSpace, scenarioCall } from "./threads.js";

/** One step of a witness run (`witness[]` of `explore --json`). */
export interface WitnessStep {
  /** The thread that took it, or `kernel` for a continuation. */
  readonly thread: string;
  /** The call or continuation, in words. */
  readonly call: string;
  /** Its outcome: `ok`, an errno, a DMA's `fault`, or `started` for a call still inside its work. */
  readonly outcome: string;
  /** What happened. */
  readonly events: readonly TraceEvent[];
  /** Calls that returned at this step (a call that waited for its work). */
  readonly returned: readonly { thread: string; call: number; outcome: string }[];
}

/** The verdict on one expectation. */
export interface ExpectationVerdict {
  /** `forall` or `exists`. */
  readonly kind: "forall" | "exists";
  /** The condition as written. */
  readonly expr: string;
  /**
   * Whether it holds; null when a bound stopped the search before it was
   * decided (never true for a `forall` an incomplete search could not refute).
   */
  readonly holds: boolean | null;
  /** A failed `forall`'s counterexample, or a satisfied `exists`'s example: a shortest run. */
  readonly witness?: readonly WitnessStep[];
  /** Where the witness ends in a terminal state: each unfinished thread and why it is stuck. */
  readonly stuck?: readonly { thread: string; call: number; why: string }[];
  /**
   * The file's names of the dma-bufs along the witness (`as: buf0` on the
   * call that exported one), by the model's id: the text, Markdown and
   * Mermaid outputs say `buf0` where the events say buf 1.
   */
  readonly bufferNames?: Readonly<Record<string, string>>;
}

/** What an exploration found (`dmabuf-ref explore --json`). */
export interface ExploreReport {
  /** The scenario's name. */
  readonly scenario: string;
  /** The profile it ran under. */
  readonly profile: string;
  /** False when a bound stopped the search. */
  readonly complete: boolean;
  /** Distinct states. */
  readonly states: number;
  /** Transitions taken. */
  readonly transitions: number;
  /** The deepest level expanded. */
  readonly depth: number;
  /** Wall-clock seconds of the search. */
  readonly seconds: number;
  /** Terminal states (no transition enabled). */
  readonly terminals: number;
  /**
   * The reductions applied, in words: interchangeable threads (equal calls,
   * no names bound, named by no expectation) explored as a multiset.
   */
  readonly reductions: readonly string[];
  /** `init` calls that did not return ok, in words (see {@link LoadedScenario.initFailures}). */
  readonly initFailures: readonly string[];
  /** Verdicts, in file order. */
  readonly expectations: readonly ExpectationVerdict[];
}

/** A loaded scenario: the machine, the world after `init`, and the space to search. */
export interface LoadedScenario {
  /** The file. */
  readonly file: ScenarioFile;
  /** The profile. */
  readonly profile: Profile;
  /** The machine. */
  readonly machine: Machine;
  /** The space. */
  readonly space: ScenarioSpace;
  /** The parsed expectations, in file order. */
  readonly conditions: readonly { kind: "forall" | "exists"; expr: string; cond: Condition }[];
  /** What the `init` calls did, in order (the start of every run's trace). */
  readonly initEvents: readonly TraceEvent[];
  /**
   * The `init` calls that did not return ok (`init[3]: ... = -EOPNOTSUPP`):
   * set-up the threads then run without, usually a profile that refuses
   * what the file was written for.
   */
  readonly initFailures: readonly string[];
  /** The file as the user named it (for errors). */
  readonly where: string;
}

/**
 * Reads and validates a scenario file.
 *
 * @param file - the path.
 * @returns the parsed file.
 * @throws UsageError (exit 2) naming the file and the field.
 */
export function readScenarioFile(file: string): ScenarioFile {
  // A call is validated inside a transform (by the form its keys name):
  // its schemas' field names count for did-you-mean too.
  return loadDocument(
    file,
    validateWith(scenarioFileSchema, [
      replayIoctlSchema,
      replayEventSchema,
      replaySyscallSchema,
      plainOpCallSchema,
    ]),
  );
}

/** What {@link loadScenario} can substitute. */
export interface LoadOptions {
  /** `--profile`: overrides the file's. */
  readonly profile?: string;
  /**
   * The machine to run on instead of the one the file describes (a test
   * substituting a wrong driver): built from the profile.
   */
  readonly machine?: (profile: Profile, file: ScenarioFile) => Machine;
  /** The file's name as the user gave it, for errors. */
  readonly path?: string;
  /** The `--load` plugins: their profiles resolve, their hardware and drivers join the machine. */
  readonly plugins?: PluginSet;
  /**
   * `false`: step every transition afresh instead of once per world and
   * op (the step memo, `step-memo.ts`); a number: the memo's worlds per
   * generation (tests make it small so that it forgets). The search is the
   * same either way (a test compares them).
   */
  readonly memo?: boolean | number;
}

/**
 * Builds a scenario's machine, runs its `init` calls in order (each
 * returning when the kernel would), and sets up the threads.
 *
 * @param file - the parsed file.
 * @param opts - profile and machine substitutions.
 * @returns the loaded scenario.
 * @throws UsageError (exit 2) for a bad profile, name, condition or call.
 */
export function loadScenario(file: ScenarioFile, opts: LoadOptions = {}): LoadedScenario {
  const where = opts.path ?? file.name;
  let profile: Profile;
  try {
    profile = resolveProfile(opts.profile ?? file.profile, opts.plugins);
  } catch (e) {
    // The file's own profile is a field of the file.
    if (!(e instanceof UsageError) || opts.profile !== undefined) throw e;
    throw new UsageError(`${where}: profile: ${e.message.replace(/^--profile: /, "")}`);
  }
  const d = file.machine === "default" ? DEFAULT_MACHINE : file.machine;
  const machine =
    opts.machine?.(profile, file) ??
    buildMachine(profile, d, {
      ...(d.vfio.krefRearm === undefined ? {} : { krefRearm: d.vfio.krefRearm }),
      ...(d.vfio.closeOrder === undefined ? {} : { closeOrder: d.vfio.closeOrder }),
      ...(opts.plugins === undefined ? {} : { plugins: opts.plugins }),
    });
  const threads: ThreadProgram[] = Object.entries(file.threads).map(([name, calls]) => ({
    name,
    calls,
  }));
  const all = [
    ...file.init.map((c, i) => ({ c, site: `init[${i}]` })),
    ...threads.flatMap((t) => t.calls.map((c, i) => ({ c, site: `threads.${t.name}[${i}]` }))),
  ];
  const declared = new Set<string>();
  try {
    // The replay's rules of `as` (each name once, none reserved) over the whole file.
    checkNames(machine, { calls: all.map((x) => x.c as ReplayCall), machine: "default" });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    // Name the call by its place in the scenario, not its index in the flattening.
    const named = e.message.replace(
      /calls\[(\d+)\]/g,
      (raw, n: string) => all[Number(n)]?.site ?? raw,
    );
    throw new UsageError(`${where}: ${named}`);
  }
  for (const { c } of all) if ("as" in c && c.as !== undefined) declared.add(c.as);
  for (const t of threads)
    if (declared.has(t.name))
      throw new UsageError(`${where}: threads.${t.name}: a thread and a result share the name`);

  const counts = new Map(threads.map((t) => [t.name, t.calls.length]));
  const conditions = file.expect.map((e, i) => {
    const kind = "forall" in e ? ("forall" as const) : ("exists" as const);
    const expr = "forall" in e ? e.forall : e.exists;
    try {
      return { kind, expr, cond: parseCondition(expr, counts) };
    } catch (err) {
      throw new UsageError(
        `${where}: expect[${i}].${kind}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  });

  let world: World = boot(machine);
  const initEvents: TraceEvent[] = [];
  const initFailures: string[] = [];
  const b = emptyBindings();
  b.rets.set("iommufd", BigInt(REPLAY_IOMMUFD_FD));
  try {
    file.init.forEach((call, i) => {
      const s = scenarioCall(machine, world, call, `init[${i}]`, b, "settle");
      world = s.world;
      initEvents.push(...s.events);
      if (!s.result.ok) initFailures.push(`init[${i}]: ${s.text}`);
      bind(b, call as ReplayCall, `init[${i}]`, s);
    });
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${where}: ${e.message}`);
    throw e;
  }
  const named = new Set(conditions.flatMap((c) => threadsNamed(c.cond)));
  const space = new ScenarioSpace(machine, world, b, threads, declared, named, {
    ...(opts.memo === undefined ? {} : { memo: opts.memo }),
  });
  return { file, profile, machine, space, conditions, initEvents, initFailures, where };
}

/** The threads a condition names. */
function threadsNamed(c: Condition): string[] {
  switch (c.kind) {
    case "outcome":
      return [c.thread];
    case "not":
      return threadsNamed(c.of);
    case "and":
    case "or":
      return [...threadsNamed(c.left), ...threadsNamed(c.right)];
    case "no-violation":
    case "no-deadlock":
      return [];
    default: {
      const unknown: never = c;
      throw new Error(`threadsNamed: ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Marks the expectations a state decides: a terminal state refutes a
 * `forall` it breaks or satisfies an `exists` it meets. `forall:
 * no-violation` alone is judged on every state: the oracle never takes a
 * violation back, so every run through a violating state ends in one, and
 * the counterexample can stop at the step that broke the rule.
 *
 * @param conditions - the expectations.
 * @param space - the scenario's space.
 * @param state - the state.
 * @param id - its number in the search.
 * @param terminal - whether no transition is enabled in it.
 * @param decided - per expectation, the first deciding state's number; updated.
 */
export function judge(
  conditions: LoadedScenario["conditions"],
  space: ScenarioSpace,
  state: ExploreState,
  id: number,
  terminal: boolean,
  decided: (number | undefined)[],
): void {
  let o: Observation | undefined;
  conditions.forEach((c, i) => {
    if (decided[i] !== undefined) return;
    if (c.kind === "forall" && c.cond.kind === "no-violation") {
      if (state.world.violations.size > 0) decided[i] = id;
      return;
    }
    if (!terminal) return;
    o ??= { violations: state.world.violations.size, outcomes: space.outcomes(state) };
    const h = holds(c.cond, o);
    if ((c.kind === "forall" && !h) || (c.kind === "exists" && h)) decided[i] = id;
  });
}

/** Bounds of one exploration (`--max-states`, `--max-depth`; the file's `bounds:` otherwise). */
export interface ExploreBounds {
  /** Stop after this many distinct states. */
  readonly maxStates?: number;
  /** Expand no state this deep. */
  readonly maxDepth?: number;
  /** Progress callback (a TTY's progress line). */
  readonly progress?: SearchBounds["progress"];
}

/**
 * Explores a loaded scenario: every interleaving, breadth-first; judges
 * every expectation on every terminal state; rebuilds a shortest witness
 * for a failed `forall` and a satisfied `exists`.
 *
 * @param s - the loaded scenario.
 * @param bounds - limits (absent: the file's, else none).
 * @returns the report.
 */
export function exploreScenario(s: LoadedScenario, bounds: ExploreBounds = {}): ExploreReport {
  return inFile(s, () => search(s, bounds));
}

/**
 * Runs `f`, naming the scenario's file in a usage error it throws (a call
 * that turns out malformed only in some state: a value that does not fit,
 * a reference to no result).
 *
 * @param s - the loaded scenario.
 * @param f - what to run.
 * @returns what `f` returns.
 */
export function inFile<T>(s: LoadedScenario, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof UsageError) || e.message.startsWith(`${s.where}: `)) throw e;
    throw new UsageError(`${s.where}: ${e.message}`);
  }
}

function search(s: LoadedScenario, bounds: ExploreBounds): ExploreReport {
  const { space, conditions } = s;
  const maxStates = bounds.maxStates ?? s.file.bounds?.maxStates;
  const maxDepth = bounds.maxDepth ?? s.file.bounds?.maxDepth;
  // The first terminal state (BFS order: a shortest run) deciding each expectation.
  const decided: (number | undefined)[] = conditions.map(() => undefined);
  const stats = breadthFirst(
    space,
    (state, id, terminal) => {
      judge(conditions, space, state, id, terminal, decided);
    },
    {
      ...(maxStates === undefined ? {} : { maxStates }),
      ...(maxDepth === undefined ? {} : { maxDepth }),
      ...(bounds.progress === undefined ? {} : { progress: bounds.progress }),
    },
  );
  const expectations = conditions.map((c, i): ExpectationVerdict => {
    const id = decided[i];
    if (id === undefined) {
      // Nothing refuted the forall / nothing satisfied the exists.
      const verdict = c.kind === "forall";
      return { kind: c.kind, expr: c.expr, holds: stats.complete ? verdict : null };
    }
    return {
      kind: c.kind,
      expr: c.expr,
      holds: c.kind === "exists",
      ...witnessOf(space, stats.tree.pathTo(id)),
    };
  });
  return {
    scenario: s.file.name,
    profile: s.profile.id,
    complete: stats.complete,
    states: stats.states,
    transitions: stats.transitions,
    depth: stats.depth,
    seconds: stats.seconds,
    terminals: stats.terminals,
    initFailures: s.initFailures,
    reductions: space.symmetric.map(
      (g) => `thread symmetry {${g.map((i) => space.threads[i]?.name ?? "").join(", ")}}`,
    ),
    expectations,
  };
}

/**
 * A witness and, when it ends in a terminal state, why each unfinished
 * thread is stuck there.
 *
 * @param space - the scenario's space.
 * @param path - successor indices from the start.
 * @returns the verdict's witness fields.
 */
export function witnessOf(
  space: ScenarioSpace,
  path: readonly number[],
): Pick<ExpectationVerdict, "witness" | "stuck" | "bufferNames"> {
  const steps = witness(space, path);
  const end = path.reduce<ExploreState>(
    (st, label) => space.successors(st)[label] as ExploreState,
    space.initial,
  );
  const stuck = space.transitions(end).length === 0 ? space.stuck(end) : [];
  const names = end.bindings.buffers;
  return {
    witness: steps,
    ...(stuck.length === 0 ? {} : { stuck }),
    ...(names.size === 0
      ? {}
      : { bufferNames: Object.fromEntries([...names].map(([id, n]) => [String(id), n])) }),
  };
}

/**
 * Re-runs a path of transition labels from the start, keeping what each
 * step did.
 *
 * @param space - the scenario's space.
 * @param path - successor indices.
 * @returns the steps.
 */
export function witness(space: ScenarioSpace, path: readonly number[]): WitnessStep[] {
  let s: ExploreState = space.initial;
  return path.map((label) => {
    const t = space.transitions(s)[label] as Transition;
    s = t.state;
    return {
      thread: t.actor,
      call: t.text,
      outcome: t.outcome,
      events: t.events,
      returned: t.returned,
    };
  });
}

/**
 * The scenario's reference run, the one `dmabuf-ref scenario NAME` prints
 * and `rfc/traces/` keeps: the kernel's continuations run as soon as they
 * can (the first one `pendingOps` lists), and a thread moves only when the
 * kernel has nothing left to do, threads in file order. With one thread
 * this is the run a replay of the same calls makes.
 *
 * @param space - the scenario's space.
 * @returns the steps and the terminal state reached (bounded by 100000 steps).
 */
export function referenceRun(space: ScenarioSpace): {
  steps: WitnessStep[];
  end: ExploreState;
} {
  let s: ExploreState = space.initial;
  const steps: WitnessStep[] = [];
  for (let n = 0; n < 100_000; n++) {
    const ts = space.transitions(s);
    const t = ts.find((x) => x.actor === "kernel") ?? ts[0];
    if (t === undefined) break;
    steps.push({
      thread: t.actor,
      call: t.text,
      outcome: t.outcome,
      events: t.events,
      returned: t.returned,
    });
    s = t.state;
  }
  return { steps, end: s };
}

/**
 * Loads and explores a scenario file.
 *
 * @param path - the file.
 * @param opts - profile, machine substitution and bounds.
 * @returns the report.
 * @throws UsageError (exit 2) for a bad file.
 */
export function exploreFile(path: string, opts: LoadOptions & ExploreBounds = {}): ExploreReport {
  return exploreScenario(loadScenario(readScenarioFile(path), { ...opts, path }), opts);
}

/**
 * The exit status of an exploration: 0 when every expectation holds, 1 when
 * one does not, 3 when a bound left one undecided.
 *
 * @param r - the report.
 * @returns the status.
 */
export function exploreExitCode(r: ExploreReport): 0 | 1 | 3 {
  if (r.expectations.some((e) => e.holds === false)) return 1;
  if (r.expectations.some((e) => e.holds === null)) return 3;
  return 0;
}
