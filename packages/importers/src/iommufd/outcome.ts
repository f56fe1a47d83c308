import { kernelError } from "@dmabuf-ref/core";
import type { Errno, KernelError, TraceEvent, World } from "@dmabuf-ref/core";

/**
 * Bytes the kernel copied to user memory other than the ioctl's own struct
 * (`copy_to_user` through a user pointer, e.g. the `allowed_iovas` array of
 * `IOMMU_IOAS_IOVA_RANGES`).
 */
export interface UserWrite {
  /** The user address written (the pointer userspace passed, plus the offset). */
  readonly addr: bigint;
  /** The bytes written there. */
  readonly bytes: Uint8Array;
}

/**
 * What one iommufd ioctl returned: the syscall's result as userspace sees
 * it. A failure leaves the World unchanged (DESIGN §3.7); a call that would
 * sleep on a dma-buf's reservation lock is `blocked` and also changes nothing.
 */
export type IoctlOutcome =
  | {
      /** The ioctl returned its value (0 for every modelled iommufd ioctl). */
      readonly status: "done";
      /** The world after the call. */
      readonly world: World;
      /** What happened, in order, ending with the `ioctl` event. */
      readonly events: readonly TraceEvent[];
      /** The return value. */
      readonly ret: number;
      /** The struct copied back (`iommufd_ucmd_respond`: `min(size, sizeof)` bytes). */
      readonly out: Uint8Array;
      /** Other bytes copied to user memory. */
      readonly written: readonly UserWrite[];
    }
  | {
      /** The ioctl returned `-errno`. */
      readonly status: "failed";
      /** The world, unchanged. */
      readonly world: World;
      /** The `ioctl` event reporting the error. */
      readonly events: readonly TraceEvent[];
      /** The errno and the check that failed. */
      readonly error: KernelError;
      /** The struct copied back before failing (`IOMMU_IOAS_IOVA_RANGES`' `EMSGSIZE`), or null. */
      readonly out: Uint8Array | null;
      /** Other bytes copied to user memory before failing. */
      readonly written: readonly UserWrite[];
    }
  | {
      /** The call sleeps: a dma-buf's resv is held by someone else. */
      readonly status: "blocked";
      /** The world, unchanged. */
      readonly world: World;
      /** Who holds what it waits for. */
      readonly reason: string;
    };

/** What an ioctl handler returns for a decoded struct of type `V`. */
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
