/*
 * How one replayed call runs against the model: as a core op through
 * `step`, returning when the kernel would return (a call that would sleep
 * waits while the kernel work that is ready runs, then runs again), with
 * the kernel work it queued settled before the next call.
 */
import { formatKernelError, settle as settleWorld, step } from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";
import type {
  Errno,
  KernelError,
  Machine,
  Op,
  SyscallReturn,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { match } from "ts-pattern";

/** What a call returned, as `results[]` of `dmabuf-ref replay --json` reports it. */
export interface CallResult {
  /** An event that took effect, or a call returning >= 0. */
  readonly ok: boolean;
  /** The bare errno name when not ok. */
  readonly errno?: Errno;
  /** The call's return value (an fd, an address, a byte count). */
  readonly ret?: number | bigint;
  /** The struct as the kernel left it (every member), and an mmap's `addr`. */
  readonly out?: Record<string, number | bigint>;
  /** Arrays the kernel wrote through the argument's pointers, decoded. */
  readonly written?: Record<string, Record<string, number | bigint>[]>;
  /** For a dma event, or a CPU access through a dma-buf mmap: the oracle's verdict. */
  readonly dma?: "ok" | "fault" | "violation";
  /** For a dma event that reached memory: the region and the offset in it. */
  readonly landed?: { readonly region: string; readonly offset: bigint };
  /**
   * The call never returns: it sleeps on something no later work releases
   * (what it waits for, in words). A call that sleeps and is woken is not
   * reported: it returns when the kernel would.
   */
  readonly blocksForever?: string;
}

/**
 * How a call's ops run. `settle` (a replay, a scenario's `init`): the call
 * returns when the kernel would, with the work it queued run to the end, as
 * one uninterrupted sequence. `step` (the explorer's threads): each op is
 * one atomic step and nothing else runs, so the kernel's continuations, the
 * other threads and the devices can interleave with what the call started.
 */
export type RunMode = "settle" | "step";

/**
 * In `step` mode, what a call that ran its first op still does before it
 * returns to its caller: the work it started (revoke tasks, a vfio-pci
 * device's staged reset or close) must end, then its remaining ops run, one
 * step each, in order.
 */
export interface Unfinished {
  /** Ops still to run, in order. */
  readonly rest: readonly Op[];
  /** The revoke/un-revoke tasks the call started (it returns once they are gone). */
  readonly tasks: readonly number[];
  /** The vfio-pci device whose staged operations the call waits for. */
  readonly device?: string;
  /** The ids of that device's operations the call started (it returns once they are gone). */
  readonly operations?: readonly number[];
  /**
   * Deferred work of the call's own driver that its op queued (iommufd's
   * `dma_buf_detach` after the last unmap of a dma-buf area in the release
   * order of 6.19-7.1.4): the driver's `pending` ops, by key, which the
   * kernel runs before the syscall returns.
   */
  readonly continuations?: { readonly driver: string; readonly keys: readonly string[] };
}

/** One replayed call: the world after it, its trace, its result and its line of text. */
export interface Step {
  /** The world after the call (unchanged when it failed, unless the kernel committed changes first). */
  readonly world: World;
  /** What happened, in order. */
  readonly events: readonly TraceEvent[];
  /** What it returned. */
  readonly result: CallResult;
  /** What the kernel returned through memory (for bindings), when it returned. */
  readonly returned?: SyscallReturn;
  /** One line describing the call and its result. */
  readonly text: string;
  /**
   * `step` mode: the call's op would sleep now (on resv, a lock, fences), so
   * it cannot be taken yet; the world is unchanged. In words.
   */
  readonly sleeps?: string;
  /** `step` mode: what the call still does before it returns. */
  readonly unfinished?: Unfinished;
  /** The id of the object its op created (an export's dma-buf, an attachment), if any. */
  readonly created?: number;
}

/**
 * A failed call: the errno, the same world.
 *
 * @param world - the world before the call.
 * @param error - the errno and its sentence.
 * @param text - the call, in words.
 * @param events - what the failed call reported.
 * @returns the step.
 */
export function failure(
  world: World,
  error: KernelError,
  text: string,
  events: readonly TraceEvent[] = [],
): Step {
  return {
    world,
    events,
    result: { ok: false, errno: error.errno },
    text: `${text} = -${formatKernelError(error)}`,
  };
}

/**
 * Runs the kernel work that is ready (revoke tasks, a driver's next
 * stages) until nothing more can run.
 *
 * @param m - the machine.
 * @param world - the world.
 * @returns the settled world and what happened.
 */
export function settle(m: Machine, world: World): { world: World; events: readonly TraceEvent[] } {
  const r = settleWorld(m, world);
  return { world: r.world, events: r.events };
}

/**
 * Runs one op the way the kernel returns from the call it models: a call
 * that would sleep (on resv, fences, memory_lock, a completion) waits while
 * the kernel work that is ready runs, then runs again; a call still
 * blocked after that sleeps for ever. It never turns a sleep into an errno.
 * After a call that ran, the work it queued is settled.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param op - the op.
 * @param text - the call, in words.
 * @param mode - `settle` (the default) or `step` ({@link RunMode}).
 * @returns the step (its `result.ret` is the op's return value, if any).
 */
export function runOp(m: Machine, w: World, op: Op, text: string, mode: RunMode = "settle"): Step {
  if (mode === "step") return stepOp(m, w, op, text);
  let r = step(m, w, op);
  let world = w;
  const waited: TraceEvent[] = [];
  if (r.status === "blocked") {
    const s = settle(m, w);
    world = s.world;
    waited.push(...s.events);
    r = step(m, world, op);
  }
  return match(r)
    .returnType<Step>()
    .with({ status: "done" }, (x) => {
      const s = settle(m, x.world);
      // A task the call started and that is still there once nothing else
      // can run never ends: the syscall waiting for it never returns.
      const stuck = [...x.world.tasks.keys()].find(
        (t) => !world.tasks.has(t) && s.world.tasks.has(t),
      );
      if (stuck !== undefined) {
        const reason = `task ${stuck} it started never completes`;
        return {
          world: s.world,
          events: [...waited, ...x.events, ...s.events],
          result: { ok: false, blocksForever: reason },
          text: `${text}: sleeps for ever (${reason})`,
        };
      }
      const ret = x.returned?.ret;
      return {
        world: s.world,
        events: [...waited, ...x.events, ...s.events],
        result: { ok: true, ...(ret === undefined ? {} : { ret }) },
        ...(x.returned === undefined ? {} : { returned: x.returned }),
        ...(x.created === undefined ? {} : { created: x.created }),
        text: ret === undefined ? `${text}: done` : `${text} = ${String(ret)}`,
      };
    })
    .with({ status: "failed" }, (x) => {
      // A kernel path that changed state before its errno (a reset's
      // revoke and restore before -EAGAIN): continue from what it left.
      const s = x.committed === undefined ? undefined : settle(m, x.committed.world);
      const after =
        x.committed === undefined || s === undefined
          ? { world, events: x.events ?? [] }
          : { world: s.world, events: [...x.committed.events, ...s.events] };
      return {
        ...failure(after.world, x.error, text, [...waited, ...after.events]),
        ...(x.returned === undefined ? {} : { returned: x.returned }),
      };
    })
    .with({ status: "blocked" }, (x) => ({
      world,
      events: waited,
      result: { ok: false, blocksForever: x.reason },
      text: `${text}: sleeps for ever (${x.reason})`,
    }))
    .exhaustive();
}

/** `step` mode's {@link runOp}: one atomic step, nothing settled; the tasks it started are waited for. */
function stepOp(m: Machine, w: World, op: Op, text: string): Step {
  const r = step(m, w, op);
  switch (r.status) {
    case "blocked":
      return {
        world: w,
        events: [],
        result: { ok: false, blocksForever: r.reason },
        text: `${text}: sleeps (${r.reason})`,
        sleeps: r.reason,
      };
    case "failed":
      return {
        ...failure(
          r.committed?.world ?? w,
          r.error,
          text,
          r.committed === undefined ? (r.events ?? []) : r.committed.events,
        ),
        ...(r.returned === undefined ? {} : { returned: r.returned }),
      };
    case "done": {
      const tasks: number[] = [];
      // Most ops start no task: the table is then the same object.
      if (r.world.tasks !== w.tasks)
        for (const id of r.world.tasks.keys()) if (!w.tasks.has(id)) tasks.push(id);
      const continuations = queuedContinuations(m, op, w, r.world);
      const waits = tasks.length > 0 || continuations !== undefined;
      const ret = r.returned?.ret;
      // Field by field rather than with conditional spreads: every
      // successful attempt of an exploration makes one.
      const said = ret === undefined ? `${text}: done` : `${text} = ${String(ret)}`;
      const result = ret === undefined ? { ok: true } : { ok: true, ret };
      const out: { -readonly [K in keyof Step]: Step[K] } =
        r.returned === undefined
          ? r.created === undefined
            ? { world: r.world, events: r.events, result, text: said }
            : { world: r.world, events: r.events, result, created: r.created, text: said }
          : r.created === undefined
            ? { world: r.world, events: r.events, result, returned: r.returned, text: said }
            : {
                world: r.world,
                events: r.events,
                result,
                returned: r.returned,
                created: r.created,
                text: said,
              };
      if (waits)
        out.unfinished =
          continuations === undefined ? { rest: [], tasks } : { rest: [], tasks, continuations };
      return out;
    }
    default: {
      const unknown: never = r;
      throw new Error(`runOp: unknown outcome ${String(unknown)}`);
    }
  }
}

const opKey = (op: Op): string =>
  JSON.stringify(op, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));

/**
 * A driver's deferred work as keys (its `pending` ops), to tell which a call queued.
 *
 * @param m - the machine.
 * @param driver - the driver's name.
 * @param w - the world.
 * @returns the keys of its pending ops.
 */
export function continuationKeys(m: Machine, driver: string, w: World): string[] {
  const d = m.exporters.get(driver) ?? m.importers.get(driver);
  return (d?.pending?.(m, w) ?? []).map(opKey);
}

/** The pending ops of a driver op's own driver that the op added. */
function queuedContinuations(
  m: Machine,
  op: Op,
  before: World,
  after: World,
): Unfinished["continuations"] {
  if (op.kind !== "driver") return undefined;
  const had = new Set(continuationKeys(m, op.driver, before));
  const keys = continuationKeys(m, op.driver, after).filter((k) => !had.has(k));
  return keys.length === 0 ? undefined : { driver: op.driver, keys };
}

/**
 * Adds what a `step`-mode call still has to do after its first op.
 *
 * @param s - the step of the call's first op.
 * @param more - remaining ops, and a device and the ids of its staged operations the call waits for.
 * @returns the step with its {@link Step.unfinished} extended.
 */
export function stillToDo(
  s: Step,
  more: {
    readonly rest?: readonly Op[];
    readonly device?: string;
    readonly operations?: readonly number[];
  },
): Step {
  const u = s.unfinished ?? { rest: [], tasks: [] };
  const device = more.device ?? u.device;
  // `withFields`: a step most often has no `unfinished` yet, and a spread
  // that adds it costs V8 about a microsecond (every step-mode call).
  return withFields(s, {
    unfinished: {
      rest: [...u.rest, ...(more.rest ?? [])],
      tasks: u.tasks,
      ...(u.continuations === undefined ? {} : { continuations: u.continuations }),
      ...(device === undefined
        ? {}
        : { device, operations: more.operations ?? u.operations ?? [] }),
    },
  });
}

/**
 * Runs ops in order as one call (an event the kernel performs as several
 * steps): stops at the first that does not complete.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ops - the ops.
 * @param text - the call, in words.
 * @param mode - `settle` (the default) or `step` ({@link RunMode}).
 * @returns the last step's result, with every step's events.
 */
export function runOps(
  m: Machine,
  w: World,
  ops: readonly Op[],
  text: string,
  mode: RunMode = "settle",
): Step {
  if (mode === "step") {
    const [first, ...rest] = ops;
    if (first === undefined)
      return { world: w, events: [], result: { ok: true }, text: `${text}: done` };
    const s = runOp(m, w, first, text, mode);
    return s.result.ok && rest.length > 0 ? stillToDo(s, { rest }) : s;
  }
  let world = w;
  const events: TraceEvent[] = [];
  let last: Step | undefined;
  for (const op of ops) {
    last = runOp(m, world, op, text);
    events.push(...last.events);
    // The steps before it took effect (the kernel does not undo them).
    if (!last.result.ok) return { ...last, events };
    world = last.world;
  }
  return { world, events, result: { ok: true }, text: `${text}: done` };
}
