import { failed } from "@dmabuf-ref/core";
import type { KernelError, StepOutcome, World } from "@dmabuf-ref/core";

/**
 * A vfio-pci ioctl (`VFIO_DEVICE_FEATURE`, `VFIO_DEVICE_RESET`) that returned
 * `-errno` to userspace: core's failed {@link StepOutcome} with the errno, the
 * unchanged world and the `ioctl` trace event reporting the errno.
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
): StepOutcome {
  return failed(world, error, [
    { kind: "ioctl", process, target, name, result: { ok: false, error } },
  ]);
}
