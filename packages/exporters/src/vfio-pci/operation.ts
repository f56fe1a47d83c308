import { match } from "ts-pattern";

/**
 * The multi-stage vfio-pci operations that revoke or restore dma-bufs
 * (kernel-model §2.5), plus close and unbind.
 *
 * @category Drivers
 */
export type VfioOpKind =
  /** Guest FLR through config space (`vfio_pci_try_reset_function`). */
  | "flr"
  /** `VFIO_DEVICE_RESET` (`vfio_pci_ioctl_reset`): D0 first, then the FLR. */
  | "reset"
  /** Config write clearing `PCI_COMMAND.MEMORY` (`vfio_basic_config_write`). */
  | "memory-off"
  /** Config write setting `PCI_COMMAND.MEMORY`. */
  | "memory-on"
  /** PMCSR write to D3hot (`vfio_lock_and_set_power_state`). */
  | "d3hot"
  /** PMCSR write back to D0. */
  | "d0"
  /** Runtime-PM low-power entry (`VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY`). */
  | "low-power-entry"
  /** Runtime-PM low-power exit (`vfio_pci_runtime_pm_exit`). */
  | "low-power-exit"
  /** Bus/slot reset of a whole dev_set (`vfio_pci_dev_set_hot_reset`). */
  | "hot-reset"
  /**
   * The undo path of `vfio_pci_dev_set_hot_reset` after a later device's
   * `down_write_trylock(memory_lock)` failed: the devices already locked
   * were revoked, and are restored without a bus reset (`-EBUSY`).
   */
  | "hot-reset-unwind"
  /** Last close of the device fd (`vfio_pci_core_close_device`). */
  | "close"
  /** Driver unbind (`vfio_unregister_group_dev`). */
  | "unbind";

/**
 * One operation in progress, or waiting for `memory_lock`: which program,
 * on which devices, and how far it got (`pc`). Like core's tasks, the
 * operation advances one stage per `continue` action, so the explorer can
 * interleave importers' unmaps and devices' DMA between its stages.
 *
 * @category Drivers
 */
export interface VfioOperation {
  /** The operation's id, the lowest free when it started (the `continue` action names it). */
  readonly id: number;
  /** Which program. */
  readonly kind: VfioOpKind;
  /** The devices whose `memory_lock` it takes (several for a hot reset). */
  readonly devices: readonly string[];
  /** Who acts, as traces name it (a device, or a dev_set). */
  readonly actor: string;
  /** Index of the next stage to run; 0 means it has not taken `memory_lock` yet. */
  readonly pc: number;
  /** The process whose ioctl returns when the operation completes, if any. */
  readonly process: string | null;
}

/**
 * The trigger's name in traces and resv holder names (`"vfio0#FLR"`).
 *
 * @param kind - the operation.
 * @returns its label.
 */
export function opLabel(kind: VfioOpKind): string {
  return match(kind)
    .with("flr", () => "FLR")
    .with("reset", () => "VFIO_DEVICE_RESET")
    .with("memory-off", "memory-on", () => "PCI_COMMAND")
    .with("d3hot", "d0", () => "PMCSR")
    .with("low-power-entry", "low-power-exit", () => "low power")
    .with("hot-reset", "hot-reset-unwind", () => "hot reset")
    .with("close", () => "close")
    .with("unbind", () => "unbind")
    .exhaustive();
}

/**
 * Whether the operation runs under `memory_lock` held for write: every
 * trigger of §2.5 and close do; unbind only waits for the device to be
 * released.
 *
 * @param kind - the operation.
 * @returns true when it serialises with the other operations on its devices.
 */
export function holdsMemoryLock(kind: VfioOpKind): boolean {
  return kind !== "unbind";
}
