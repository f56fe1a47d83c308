import { arrivalOrder, arrivalPush, arrivalRemove, readSlice, writeSlice } from "@dmabuf-ref/core";
import { equalWith } from "@dmabuf-ref/core/encoding";
import type { Machine, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import type { VfioOperation } from "./operation.js";
import { PAGE_SIZE } from "./page.js";
import {
  FIRST_VA,
  vfioDeviceStateCodec,
  vfioDevicesSlice,
  vfioOpsSlice,
  vfioVmasSlice,
} from "./slices.js";
import type { VfioDeviceState } from "./slices.js";
import type { VfioVma } from "./vma.js";

export type { VfioDeviceState, VfioPowerState } from "./slices.js";

/**
 * The state of a device right after `open()`: memory decoding on, D0, registered.
 *
 * @category Drivers
 */
export const INITIAL_DEVICE_STATE: VfioDeviceState = Object.freeze({
  memoryEnabled: true,
  power: "D0",
  lowPower: false,
  open: true,
  registered: true,
  bound: true,
});

/**
 * A device's index in the driver's configuration: the key of its state in
 * the devices slice.
 *
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @returns its index in `config.devices`, or -1 when the driver has no such device.
 */
export function deviceIndex(config: VfioPciConfig, device: string): number {
  return config.devices.findIndex((d) => d.id === device);
}

/**
 * One device's state, or undefined for a device the driver does not have.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @returns its state.
 */
export function deviceStateOf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
): VfioDeviceState | undefined {
  const i = deviceIndex(config, device);
  if (i < 0) return undefined;
  return readSlice(m, w, config.name, vfioDevicesSlice).get(i) ?? INITIAL_DEVICE_STATE;
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
  const d = deviceStateOf(m, w, config, device);
  if (d === undefined) throw new Error(`${config.name}: no device ${device}`);
  return d;
}

/**
 * Changes one device's state. A device back in {@link INITIAL_DEVICE_STATE}
 * loses its entry, so that state has a single encoding.
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
  const i = deviceIndex(config, device);
  if (i < 0) throw new Error(`${config.name}: no device ${device}`);
  const table = readSlice(m, w, config.name, vfioDevicesSlice);
  const next: VfioDeviceState = { ...(table.get(i) ?? INITIAL_DEVICE_STATE), ...change };
  const initial = equalWith(vfioDeviceStateCodec, next, INITIAL_DEVICE_STATE);
  return writeSlice(
    m,
    w,
    config.name,
    vfioDevicesSlice,
    initial ? table.delete(i) : table.set(i, next),
  );
}

/**
 * The operations in progress or waiting for `memory_lock`, oldest first.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the operations.
 */
export function operationsOf(m: Machine, w: World, config: VfioPciConfig): VfioOperation[] {
  return arrivalOrder(readSlice(m, w, config.name, vfioOpsSlice));
}

/**
 * One operation in flight.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param id - the operation's id.
 * @returns the operation, or undefined.
 */
export function operationOf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  id: number,
): VfioOperation | undefined {
  return readSlice(m, w, config.name, vfioOpsSlice).byId.get(id);
}

/**
 * Queues a new operation behind every one in flight, under the lowest free id.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param fields - the operation but its id.
 * @returns the new world and the operation.
 */
export function queueOperation(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  fields: Omit<VfioOperation, "id">,
): { readonly world: World; readonly op: VfioOperation } {
  const q = readSlice(m, w, config.name, vfioOpsSlice);
  const op: VfioOperation = { id: q.byId.lowestFreeId(), ...fields };
  const world = writeSlice(m, w, config.name, vfioOpsSlice, arrivalPush(q, op.id, op));
  return { world, op };
}

/**
 * Changes an operation in flight (its place in the queue is kept).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param id - the operation's id; it must be in flight.
 * @param change - the new operation from the old.
 * @returns the new world.
 */
export function updateOperation(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  id: number,
  change: (op: VfioOperation) => VfioOperation,
): World {
  const q = readSlice(m, w, config.name, vfioOpsSlice);
  return writeSlice(m, w, config.name, vfioOpsSlice, { ...q, byId: q.byId.update(id, change) });
}

/**
 * Ends an operation: it leaves the queue (its id is free again).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param id - the operation's id.
 * @returns the new world.
 */
export function endOperation(m: Machine, w: World, config: VfioPciConfig, id: number): World {
  const q = readSlice(m, w, config.name, vfioOpsSlice);
  return writeSlice(m, w, config.name, vfioOpsSlice, arrivalRemove(q, id));
}

/**
 * Every CPU mapping of the driver's dma-bufs, by address (the order they
 * were made: each `mmap()` lands above the previous ones).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the VMAs.
 */
export function vmasOf(m: Machine, w: World, config: VfioPciConfig): VfioVma[] {
  const { vmas } = readSlice(m, w, config.name, vfioVmasSlice);
  return [...vmas.values()].sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

/**
 * The first VMA (by address) that satisfies a predicate, with its slot.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param pred - the test.
 * @returns `[slot, vma]`, or undefined.
 */
export function findVma(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  pred: (v: VfioVma) => boolean,
): readonly [number, VfioVma] | undefined {
  const { vmas } = readSlice(m, w, config.name, vfioVmasSlice);
  let found: [number, VfioVma] | undefined;
  for (const [slot, v] of vmas.entries()) {
    if (pred(v) && (found === undefined || v.addr < found[1].addr)) found = [slot, v];
  }
  return found;
}

/**
 * Adds a VMA at the lowest user virtual address from `FIRST_VA` where it
 * and a guard page after it fit between the process's other VMAs (first
 * fit over the holes, as `get_unmapped_area` searches).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param fields - the VMA but its address.
 * @returns the new world and the VMA.
 */
export function addVma(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  fields: Omit<VfioVma, "addr">,
): { readonly world: World; readonly vma: VfioVma } {
  const s = readSlice(m, w, config.name, vfioVmasSlice);
  const mine = [...s.vmas.values()]
    .filter((v) => v.process === fields.process)
    .sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  let addr = FIRST_VA;
  for (const v of mine) {
    if (v.addr >= addr + fields.len + PAGE_SIZE) break;
    const end = v.addr + v.len + PAGE_SIZE;
    if (end > addr) addr = end;
  }
  // Field by field: a spread that adds a field costs V8 about a microsecond.
  const vma: VfioVma = {
    process: fields.process,
    buf: fields.buf,
    addr,
    len: fields.len,
    offset: fields.offset,
    memattr: fields.memattr,
  };
  const world = writeSlice(m, w, config.name, vfioVmasSlice, {
    vmas: s.vmas.set(s.vmas.lowestFreeId(), vma),
  });
  return { world, vma };
}

/**
 * Removes a VMA.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param slot - its slot (from {@link findVma}).
 * @returns the new world.
 */
export function removeVma(m: Machine, w: World, config: VfioPciConfig, slot: number): World {
  const s = readSlice(m, w, config.name, vfioVmasSlice);
  return writeSlice(m, w, config.name, vfioVmasSlice, { ...s, vmas: s.vmas.delete(slot) });
}

/**
 * `__vfio_pci_memory_enabled(vdev)`: the virtual `PCI_COMMAND.MEMORY` is set
 * and the power state is below D3hot (runtime low power counts as D3)
 * (kernel-model §2.2 step 7, §2.5). It decides whether a new dma-buf is born
 * revoked, whether a reset path un-revokes at its end, and whether the BAR
 * decodes at all.
 *
 * @param d - the device state.
 * @returns true when memory is enabled.
 * @kernel drivers/vfio/pci/vfio_pci_config.c __vfio_pci_memory_enabled
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { INITIAL_DEVICE_STATE, vfioMemoryEnabled } from "@dmabuf-ref/exporters";
 *
 * assert.equal(vfioMemoryEnabled(INITIAL_DEVICE_STATE), true);
 * // PCI_COMMAND.MEMORY cleared, or the function in D3hot: the BAR does not decode.
 * assert.equal(vfioMemoryEnabled({ ...INITIAL_DEVICE_STATE, memoryEnabled: false }), false);
 * assert.equal(vfioMemoryEnabled({ ...INITIAL_DEVICE_STATE, power: "D3hot" }), false);
 * ```
 * @category Drivers
 */
export function vfioMemoryEnabled(d: VfioDeviceState): boolean {
  return d.memoryEnabled && d.power === "D0" && !d.lowPower;
}

/**
 * The device lock `pci_try_reset_function()` and `pci_reset_bus()` only
 * try: held by the driver core while an unbind of the device is in
 * progress (`vfio_unregister_group_dev()` waits there for the fd to close).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device.
 * @returns true when the trylock would fail.
 */
export function deviceLockContended(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
): boolean {
  const d = deviceStateOf(m, w, config, device);
  return d !== undefined && d.bound && !d.registered;
}
