import { failed } from "@dmabuf-ref/core";
import type { Effect, FailedArm, KernelError, StepOutcome, World } from "@dmabuf-ref/core";

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

/**
 * A failed vfio-pci call that changed the world before it returned its
 * errno, because the kernel does not undo what it did first: the failed arm
 * (the input world, as core's contract has it) plus `committed`, the world
 * and events the kernel left behind.
 *
 * @remarks
 * Two calls need it (kernel-model §2.5): `VFIO_DEVICE_RESET` when
 * `pci_try_reset_function()` cannot take the device lock (the dma-bufs were
 * revoked before it and are restored after it, then `-EAGAIN`), and
 * `VFIO_DEVICE_PCI_HOT_RESET` when `down_write_trylock(memory_lock)` of a
 * later device fails (`-EBUSY`) or `pci_reset_bus()` cannot take the
 * device locks (`-EAGAIN`): the devices already locked were revoked and the
 * undo path restores them. Importers saw the invalidate either way.
 */
export interface FailedAfterEffects extends FailedArm {
  /** What the call did before it returned the errno (never undone). */
  readonly committed: NonNullable<FailedArm["committed"]>;
}

/**
 * {@link ioctlFailed} for a call that changed the world first (see
 * {@link FailedAfterEffects}): the `ioctl` trace event with the errno closes
 * the committed events.
 *
 * @param world - the world before the call.
 * @param process - the calling process.
 * @param target - what the fd refers to.
 * @param name - the ioctl macro.
 * @param error - the errno and failed check.
 * @param committed - the world and events the kernel left behind.
 * @returns the outcome.
 */
export function ioctlFailedAfter(
  world: World,
  process: string,
  target: string,
  name: string,
  error: KernelError,
  committed: Effect,
): FailedAfterEffects {
  const ioctl = { kind: "ioctl", process, target, name, result: { ok: false, error } } as const;
  return {
    status: "failed",
    error,
    world,
    events: [ioctl],
    committed: { world: committed.world, events: [...committed.events, ioctl] },
  };
}

/**
 * Whether an outcome is a failure that committed changes first (see
 * {@link FailedAfterEffects}), e.g. `VFIO_DEVICE_RESET`'s `-EAGAIN`.
 *
 * @param o - a step's outcome.
 * @returns true when it carries `committed`.
 */
export function isFailedAfterEffects(o: StepOutcome): o is FailedAfterEffects {
  return o.status === "failed" && o.committed !== undefined;
}
