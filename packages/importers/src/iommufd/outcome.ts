import { IOMMUFD } from "./constants.js";
import { kernelError } from "@dmabuf-ref/core";
import type { Errno, KernelError, TraceEvent, UserWrite, World } from "@dmabuf-ref/core";

/**
 * What an iommufd ioctl handler (the model of one `iommufd_ioas_*()` /
 * `iommufd_destroy()` command) returns for its decoded struct of type `V`;
 * `iommufdIoctl` (main.ts) turns it into core's `StepOutcome`. Internal to the
 * driver (not exported from the package).
 */
export type HandlerResult<V> =
  | {
      /** Done. */
      readonly status: "done";
      /** The new world. */
      readonly world: World;
      /** What happened. */
      readonly events: readonly TraceEvent[];
      /** The struct to copy back. */
      readonly response: V;
      /** Other user memory written. */
      readonly written: readonly UserWrite[];
    }
  | {
      /** Failed. */
      readonly status: "failed";
      /** The errno. */
      readonly error: KernelError;
      /** The struct copied back before failing, or null. */
      readonly response: V | null;
      /** Other user memory written before failing. */
      readonly written: readonly UserWrite[];
      /**
       * What the command changed before it failed and did not undo
       * (`IOMMU_IOAS_UNMAP` removes the whole areas before the one its
       * range cuts, then fails `ENOENT`); core's `FailedArm.committed`.
       */
      readonly committed?: { readonly world: World; readonly events: readonly TraceEvent[] };
    }
  | {
      /** Would sleep. */
      readonly status: "blocked";
      /** Why. */
      readonly reason: string;
    };

/**
 * A handler's failure with nothing copied back.
 *
 * @param errno - the errno.
 * @param message - the check that failed.
 * @returns the failure.
 */
export function refuse<V>(errno: Errno, message: string): HandlerResult<V> {
  return { status: "failed", error: kernelError(errno, message), response: null, written: [] };
}

/**
 * A handler's failure with an existing error.
 *
 * @param error - the error to pass up unchanged.
 * @returns the failure.
 */
export function refuseWith<V>(error: KernelError): HandlerResult<V> {
  return { status: "failed", error, response: null, written: [] };
}

/**
 * A handler's success.
 *
 * @param world - the new world.
 * @param events - what happened.
 * @param response - the struct to copy back.
 * @returns the success.
 */
export function respond<V>(
  world: World,
  events: readonly TraceEvent[],
  response: V,
): HandlerResult<V> {
  return { status: "done", world, events, response, written: [] };
}

/**
 * A line iommufd adds to the trace (what the kernel would log or a reader
 * needs to follow the call).
 *
 * @param text - the line.
 * @returns the trace event.
 */
export function iommufdNote(text: string): TraceEvent {
  return { kind: "note", actor: IOMMUFD, text };
}
