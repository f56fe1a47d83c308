import type { KernelError } from "../errors/kernel-error.js";
import type { Result } from "../errors/result.js";
import type { TraceEvent } from "../trace/event.js";
import type { World } from "../world/world.js";

/** The arm of an outcome for a call that ran: the new world and what happened. */
export interface RanArm {
  /** The call ran. */
  readonly status: "done";
  /** The new world. */
  readonly world: World;
  /** What happened, in order. */
  readonly events: readonly TraceEvent[];
}

/** The arm of an outcome for a call that returned an errno (DESIGN §3.7: nothing changed). */
export interface FailedArm {
  /** The call returned an errno. */
  readonly status: "failed";
  /** The errno and the failed check. */
  readonly error: KernelError;
  /** The world, unchanged. */
  readonly world: World;
}

/** The arm of an outcome for a call that would sleep (a lock, fences, a completion). */
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
 */
export type CallOutcome<Done extends object, Failed extends object = object> =
  (RanArm & Done) | (FailedArm & Failed) | BlockedArm;

/**
 * The result of one `step`: done (a new world and its events), failed with
 * an errno (the same world), or blocked (the operation cannot run yet, as a
 * kernel thread sleeps on a lock, a fence or a completion).
 */
export type StepOutcome =
  | (RanArm & {
      /** The id of what the step created (buffer, attachment, job, task), if anything. */
      readonly created?: number;
    })
  | FailedArm
  | (BlockedArm & {
      /** What it waits for, as a wait event. */
      readonly waitFor: "resv" | "fences" | "unmaps";
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
 * @returns the outcome.
 */
export function failed(world: World, error: KernelError): StepOutcome {
  return { status: "failed", error, world };
}

/**
 * A blocked step: the operation sleeps until the condition changes.
 *
 * @param world - the world, unchanged.
 * @param waitFor - the lock, the fences, or the unmaps.
 * @param reason - what it waits for, in words.
 * @param outstanding - how many fences or mappings are outstanding.
 * @returns the outcome.
 */
export function blocked(
  world: World,
  waitFor: "resv" | "fences" | "unmaps",
  reason: string,
  outstanding = 0,
): StepOutcome {
  return { status: "blocked", reason, waitFor, outstanding, world };
}

/**
 * A `Result` as a step: done with its world and events, or failed with its
 * errno and the *unchanged* world (for driver code written as `Result`s,
 * e.g. an exporter's `act`).
 *
 * @param world - the world the call ran on.
 * @param r - the call's result.
 * @returns the step outcome.
 */
export function stepOf(
  world: World,
  r: Result<{ readonly world: World; readonly events: readonly TraceEvent[] }>,
): StepOutcome {
  return r.ok ? done(r.value.world, r.value.events) : failed(world, r.error);
}
