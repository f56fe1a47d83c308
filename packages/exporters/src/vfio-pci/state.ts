import { driverState, setDriverState } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import type { VfioOperation } from "./operation.js";
import type { VfioVma } from "./vma.js";

/** PCI power state as PMCSR sets it; the model needs only D0 and D3hot (kernel-facts §2.5). */
export type VfioPowerState = "D0" | "D3hot";

/**
 * The run-time state of one `struct vfio_pci_core_device` that the dma-buf
 * exporter depends on (kernel-facts §2.2, §2.5). A plain immutable value.
 */
export interface VfioDeviceState {
  /** The virtual `PCI_COMMAND.MEMORY` bit (the guest's view; the physical bit follows it). */
  readonly memoryEnabled: boolean;
  /** The PMCSR power state. */
  readonly power: VfioPowerState;
  /** Runtime-PM low-power entry is engaged (`pm_runtime_engaged`). */
  readonly lowPower: boolean;
  /** The device fd is open (`open_count > 0`); ioctls need it. */
  readonly open: boolean;
  /** `vfio_device_try_get_registration()` succeeds: no unbind has started. */
  readonly registered: boolean;
  /** vfio-pci is still bound (unbind has not completed). */
  readonly bound: boolean;
}

/** The vfio-pci driver's slice of the World. */
export interface VfioPciState {
  /** Per-device state, by device id. */
  readonly devices: Readonly<Record<string, VfioDeviceState>>;
  /** Multi-stage operations in progress or waiting for `memory_lock`, oldest first. */
  readonly ops: readonly VfioOperation[];
  /** The next operation id. */
  readonly nextOp: number;
  /** CPU mappings of VFIO dma-bufs (Matt Evans' mmap series, kernel-facts §2.6). */
  readonly vmas: readonly VfioVma[];
  /** The next user virtual address handed to an mmap. */
  readonly nextVa: bigint;
}

/** The state of a device right after `open()`: memory decoding on, D0, registered. */
export const INITIAL_DEVICE_STATE: VfioDeviceState = Object.freeze({
  memoryEnabled: true,
  power: "D0",
  lowPower: false,
  open: true,
  registered: true,
  bound: true,
});

/** Where mmap hands out user virtual addresses (an arbitrary, page-aligned base). */
const FIRST_VA = 0x7f00_0000_0000n;

function initialState(config: VfioPciConfig): VfioPciState {
  const devices: Record<string, VfioDeviceState> = {};
  for (const d of config.devices) devices[d.id] = INITIAL_DEVICE_STATE;
  return { devices, ops: [], nextOp: 1, vmas: [], nextVa: FIRST_VA };
}

/**
 * The driver's slice, or its initial value before the first write.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the slice.
 */
export function sliceOf(m: Machine, w: World, config: VfioPciConfig): VfioPciState {
  return driverState(m, w, config.name, initialState(config));
}

/**
 * Replaces the driver's slice.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param state - the new slice.
 * @returns the new world.
 */
export function withSlice(m: Machine, w: World, config: VfioPciConfig, state: VfioPciState): World {
  return setDriverState(m, w, config.name, state);
}

/**
 * One device's state; an unknown device is a bug in the caller.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @returns its state.
 */
export function deviceOf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
): VfioDeviceState {
  const d = sliceOf(m, w, config).devices[device];
  if (d === undefined) throw new Error(`${config.name}: no device ${device}`);
  return d;
}

/**
 * Changes one device's state.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @param change - the fields to change.
 * @returns the new world.
 */
export function updateDevice(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  change: Partial<VfioDeviceState>,
): World {
  const s = sliceOf(m, w, config);
  const d = deviceOf(m, w, config, device);
  return withSlice(m, w, config, {
    ...s,
    devices: { ...s.devices, [device]: { ...d, ...change } },
  });
}

/**
 * `__vfio_pci_memory_enabled(vdev)`: the virtual `PCI_COMMAND.MEMORY` is set
 * and the power state is below D3hot (runtime low power counts as D3)
 * (kernel-facts §2.2 step 7, §2.5). It decides whether a new dma-buf is born
 * revoked, whether a reset path un-revokes at its end, and whether the BAR
 * decodes at all.
 *
 * @param d - the device state.
 * @returns true when memory is enabled.
 */
export function vfioMemoryEnabled(d: VfioDeviceState): boolean {
  return d.memoryEnabled && d.power === "D0" && !d.lowPower;
}
