import type { KernelError, LazyText } from "../errors/kernel-error.js";
import type { Result } from "../errors/result.js";
import type { TraceEvent, WaitFor } from "../trace/event.js";
import type { World } from "../world/world.js";

/**
 * The arm of an outcome for a call that ran: the new world and what happened.
 *
 * @category Lifetime
 */
export interface RanArm {
  /** The call ran. */
  readonly status: "done";
  /** The new world. */
  readonly world: World;
  /** What happened, in order. */
  readonly events: readonly TraceEvent[];
}

/**
 * The arm of an outcome for a call that returned an errno (DESIGN §3.7: nothing changed).
 *
 * @category Lifetime
 */
export interface FailedArm {
  /** The call returned an errno. */
  readonly status: "failed";
  /** The errno and the failed check. */
  readonly error: KernelError;
  /** The world, unchanged. */
  readonly world: World;
  /** What the failed call reported for the trace (its ioctl line with the errno); no state. */
  readonly events?: readonly TraceEvent[];
  /**
   * For an entry point that makes several kernel calls in a row
   * (`ib_umem_dmabuf_get_pinned`: attach, pin, map; a KVM memslot: checks,
   * then attach), which of them refused (DESIGN §3.2's stages), so "why
   * did this import fail?" is answered without guessing. Absent: the entry
   * point's own checks, or a call of one stage.
   */
  readonly stage?: string;
  /**
   * What the kernel copied back to userspace before it returned the errno
   * (`IOMMU_IOAS_IOVA_RANGES` writes the real `num_iovas` back, then fails
   * with `EMSGSIZE`); `ret` is 0 there. Absent: nothing copied.
   */
  readonly returned?: SyscallReturn;
  /**
   * What the call did before it returned the errno, for the few kernel paths
   * that change state first and do not undo it (`VFIO_DEVICE_RESET` when
   * `pci_try_reset_function()` cannot take the device lock: the dma-bufs were
   * revoked and restored, then `-EAGAIN`; a hot reset's `-EBUSY`/`-EAGAIN`
   * after its undo path). `world` stays the input world, so "a failed call
   * changes nothing" holds for every call without it; whoever runs the call
   * continues from `committed.world` ({@link worldAfter}). Absent: nothing
   * changed.
   */
  readonly committed?: {
    /** The world the kernel left behind. */
    readonly world: World;
    /** What happened before the errno, in order. */
    readonly events: readonly TraceEvent[];
  };
}

/**
 * The world a machine continues from after an outcome: the new world of a
 * call that ran, the world a failed call left behind
 * ({@link FailedArm.committed}: usually the input world), or the input world
 * of a call that blocked.
 *
 * @param o - the outcome.
 * @returns the world to continue from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, step, worldAfter } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const w = boot(m);
 * // close(7) with no dma-buf behind fd 7: EBADF, and the machine goes on from `w`
 * const r = step(m, w, { kind: "close", buf: 7 });
 * assert.ok(r.status === "failed");
 * assert.equal(r.error.errno, "EBADF");
 * assert.equal(worldAfter(r), w);
 * ```
 *
 * @category Lifetime
 */
export function worldAfter(o: StepOutcome): World {
  return o.status === "failed" ? (o.committed?.world ?? o.world) : o.world;
}

/**
 * What a userspace call returned to its caller: the syscall's return value
 * (an fd, a count, 0) and the bytes the kernel copied back into the
 * argument, if it copies any (an iommufd ioctl writes its whole struct
 * back). Every ioctl, mmap or close op that succeeds carries one.
 *
 * @category Lifetime
 */
export interface SyscallReturn {
  /** The return value (>= 0); for a failed call, the errno's is in the failed arm. */
  readonly ret: number;
  /** The argument as the kernel left it, when it copies back. */
  readonly out?: Uint8Array;
  /**
   * Bytes the kernel wrote through user pointers the argument holds
   * (`copy_to_user()` to an array the caller supplied, e.g. the ranges of
   * `IOMMU_IOAS_IOVA_RANGES`), in the order written. Absent: none.
   */
  readonly written?: readonly UserWrite[];
}

/**
 * One `copy_to_user()` to a user address other than the ioctl's own struct.
 *
 * @category Lifetime
 */
export interface UserWrite {
  /** The user address written (the pointer userspace passed, plus the offset). */
  readonly addr: bigint;
  /** The bytes written there. */
  readonly bytes: Uint8Array;
}

/**
 * The arm of an outcome for a call that would sleep (a lock, fences, a completion).
 *
 * @category Lifetime
 */
export interface BlockedArm {
  /** The call must wait. */
  readonly status: "blocked";
  /** What it waits for, in words. */
  readonly reason: string;
  /** The world, unchanged. */
  readonly world: World;
}

/**
 * The outcome of an entry point that answers with a value besides the new
 * world (a KVM guest fault's PFN, a guest access's verdict, the stage a
 * staged import refused at): done with the value, failed with an errno and
 * the *same* world, or blocked (the kernel would sleep) with the same world.
 *
 * @typeParam Done - what success carries besides the world and events.
 * @typeParam Failed - what a failure carries besides the errno and world.
 *
 * @category Lifetime
 */
export type CallOutcome<Done extends object, Failed extends object = object> =
  (RanArm & Done) | (FailedArm & Failed) | BlockedArm;

/**
 * The result of one `step`: done (a new world and its events), failed with
 * an errno (the same world), or blocked (the operation cannot run yet, as a
 * kernel thread sleeps on a lock, a fence or a completion).
 *
 * @category Lifetime
 */
export type StepOutcome =
  | (RanArm & {
      /** The id of what the step created (buffer, attachment, job, task), if anything. */
      readonly created?: number;
      /** For a userspace call: what it returned to its caller. */
      readonly returned?: SyscallReturn;
    })
  | FailedArm
  | (BlockedArm & {
      /** What it waits for, as a wait event. */
      readonly waitFor: WaitFor;
      /** How many fences or mappings are outstanding. */
      readonly outstanding: number;
    });

/**
 * A finished step.
 *
 * @param world - the new world.
 * @param events - what happened.
 * @param created - the id of what the step created, if anything.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, done, referenceMachine } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * const r = done(w, [{ kind: "note", actor: "exp0", text: "nothing left to unmap" }]);
 * assert.ok(r.status === "done");
 * assert.equal(r.world, w);
 * assert.equal(r.events.length, 1);
 * assert.equal(r.created, undefined);
 * ```
 *
 * @category Lifetime
 */
export function done(world: World, events: readonly TraceEvent[], created?: number): StepOutcome {
  return created === undefined
    ? { status: "done", world, events }
    : { status: "done", world, events, created };
}

/**
 * A failed step: the errno and the unchanged world.
 *
 * @param world - the world, unchanged.
 * @param error - the errno and failed check.
 * @param events - what the call reports for the trace (its ioctl line), if anything.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, failed, kernelError, referenceMachine } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * const r = failed(w, kernelError("ENODEV", "the buffer is revoked"));
 * assert.ok(r.status === "failed");
 * assert.equal(r.error.errno, "ENODEV");
 * assert.equal(r.world, w); // a failed call changes nothing
 * ```
 *
 * @category Lifetime
 */
export function failed(
  world: World,
  error: KernelError,
  events?: readonly TraceEvent[],
): StepOutcome {
  return events === undefined || events.length === 0
    ? { status: "failed", error, world }
    : { status: "failed", error, world, events };
}

/**
 * A failed step of a multi-call entry point, naming the call that refused
 * (see {@link FailedArm.stage}).
 *
 * @param world - the world, unchanged.
 * @param stage - the call that refused, e.g. "attach", "pin", "map".
 * @param error - the errno and failed check.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, failedAt, kernelError, referenceMachine } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * // ib_umem_dmabuf_get_pinned: the attach went through, dma_buf_pin refused
 * const r = failedAt(w, "pin", kernelError("EOPNOTSUPP", "vfio-pci cannot pin"));
 * assert.ok(r.status === "failed");
 * assert.equal(r.stage, "pin");
 * assert.equal(r.error.errno, "EOPNOTSUPP");
 * ```
 *
 * @category Lifetime
 */
export function failedAt(world: World, stage: string, error: KernelError): StepOutcome {
  return { status: "failed", error, world, stage };
}

/**
 * A blocked step: the operation sleeps until the condition changes.
 *
 * @param world - the world, unchanged.
 * @param waitFor - resv, the fences, the unmaps, or a driver's own lock.
 * @param reason - what it waits for, in words (or a function writing it when read).
 * @param outstanding - how many fences or mappings are outstanding.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blocked, boot, referenceMachine } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * const r = blocked(w, "fences", () => "1 BOOKKEEP fence(s) of buf 1 unsignalled", 1);
 * assert.ok(r.status === "blocked");
 * assert.equal(r.waitFor, "fences");
 * assert.equal(r.outstanding, 1);
 * assert.equal(r.reason, "1 BOOKKEEP fence(s) of buf 1 unsignalled");
 * ```
 *
 * @category Lifetime
 */
export function blocked(
  world: World,
  waitFor: WaitFor,
  reason: LazyText,
  outstanding = 0,
): StepOutcome {
  if (typeof reason === "string") return { status: "blocked", reason, waitFor, outstanding, world };
  return new LazyBlocked(world, waitFor, reason, outstanding);
}

/**
 * A blocked outcome whose reason is written when first read. A class with
 * the getter on its prototype, not an object literal with a getter: V8
 * defines a literal's accessor at run time (about a microsecond per
 * object), and an explorer meets a sleeping call in most states. Its
 * reason is not an own property, so a copy is made with {@link blocked}
 * (or read `reason` first), never with a spread.
 */
class LazyBlocked {
  readonly status = "blocked" as const;
  #text: LazyText;

  constructor(
    readonly world: World,
    readonly waitFor: WaitFor,
    text: () => string,
    readonly outstanding: number,
  ) {
    this.#text = text;
  }

  get reason(): string {
    const t = this.#text;
    if (typeof t === "string") return t;
    const text = t();
    this.#text = text;
    return text;
  }

  /** As JSON, the reason written out like the other fields. */
  toJSON(): object {
    return {
      status: this.status,
      reason: this.reason,
      waitFor: this.waitFor,
      outstanding: this.outstanding,
      world: this.world,
    };
  }
}

/**
 * A `Result` as a step: done with its world and events, or failed with its
 * errno and the *unchanged* world (for driver code written as `Result`s,
 * e.g. an exporter's `act`).
 *
 * @param world - the world the call ran on.
 * @param r - the call's result.
 * @returns the step outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, err, ok, referenceMachine, stepOf } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * assert.equal(stepOf(w, ok({ world: w, events: [] })).status, "done");
 * const r = stepOf(w, err("ENOMEM", "ram0 is full"));
 * assert.ok(r.status === "failed");
 * assert.equal(r.error.errno, "ENOMEM");
 * assert.equal(r.world, w);
 * ```
 *
 * @category Lifetime
 */
export function stepOf(
  world: World,
  r: Result<{ readonly world: World; readonly events: readonly TraceEvent[] }>,
): StepOutcome {
  return r.ok ? done(r.value.world, r.value.events) : failed(world, r.error);
}

/**
 * A userspace call that returned: done, with what the call gave back.
 *
 * @param world - the new world.
 * @param events - what happened.
 * @param returned - the return value and the argument as the kernel left it.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, returned } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * // an ioctl that returned a new fd, 3, and copied nothing back
 * const r = returned(w, [], { ret: 3 });
 * assert.ok(r.status === "done");
 * assert.deepEqual(r.returned, { ret: 3 });
 * ```
 *
 * @category Lifetime
 */
export function returned(
  world: World,
  events: readonly TraceEvent[],
  returned: SyscallReturn,
): StepOutcome {
  return { status: "done", world, events, returned };
}
