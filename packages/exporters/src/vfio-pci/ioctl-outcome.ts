import type { KernelError, TraceEvent, World } from "@dmabuf-ref/core";

/**
 * What a modelled ioctl returns to userspace: a non-negative value (a new fd,
 * or 0), `-errno` with the *same* World, or "blocked" while the caller sleeps
 * on a lock (e.g. `memory_lock` held by an FLR); the World is then unchanged
 * and the call can be retried once the lock holder finished.
 */
export type IoctlOutcome =
  | {
      /** The ioctl returned >= 0. */
      readonly status: "done";
      /** The new world. */
      readonly world: World;
      /** What happened, ending with the `ioctl` event (unless it returns later, see the entry point). */
      readonly events: readonly TraceEvent[];
      /** The return value: the new fd, or 0. */
      readonly ret: number;
    }
  | {
      /** The ioctl returned -errno. */
      readonly status: "failed";
      /** The world, unchanged. */
      readonly world: World;
      /** The `ioctl` event reporting the errno. */
      readonly events: readonly TraceEvent[];
      /** The errno and the failed check. */
      readonly error: KernelError;
    }
  | {
      /** The caller sleeps; nothing happened yet. */
      readonly status: "blocked";
      /** The world, unchanged. */
      readonly world: World;
      /** What it waits for, in words. */
      readonly reason: string;
    };

/**
 * A failed ioctl: the errno, the unchanged world and the `ioctl` event.
 *
 * @param world - the world, unchanged.
 * @param process - the calling process.
 * @param target - what the fd refers to.
 * @param name - the ioctl macro.
 * @param error - the errno and failed check.
 * @returns the outcome.
 */
export function ioctlFailed(
  world: World,
  process: string,
  target: string,
  name: string,
  error: KernelError,
): IoctlOutcome {
  return {
    status: "failed",
    world,
    error,
    events: [{ kind: "ioctl", process, target, name, result: { ok: false, error } }],
  };
}
