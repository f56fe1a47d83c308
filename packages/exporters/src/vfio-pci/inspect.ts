import type { Machine, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import type { VfioOperation } from "./operation.js";
import type { VfioDeviceState } from "./state.js";
import { deviceOf, operationsOf, vmasOf } from "./state.js";
import { vfioPciConfigOf } from "./vfio_main.js";
import type { VfioDmaBufPriv } from "./vfio_pci_dmabuf.js";
import { privOf } from "./vfio_pci_dmabuf.js";
import type { VfioVma } from "./vma.js";

function configFor(m: Machine, device: string): VfioPciConfig {
  const config = vfioPciConfigOf(m, device);
  if (config === undefined) throw new Error(`no vfio-pci driver has device ${device}`);
  return config;
}

/**
 * A vfio-pci device's run-time state (`PCI_COMMAND.MEMORY`, power, low
 * power, open, registered, bound), for tests, traces and the CLI.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device id (a device no vfio-pci driver has throws).
 * @returns its state.
 */
export function vfioDeviceState(m: Machine, world: World, device: string): VfioDeviceState {
  return deviceOf(m, world, configFor(m, device), device);
}

/**
 * The operations in progress or waiting for `memory_lock` on a device.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device id.
 * @returns the operations, oldest first.
 */
export function vfioOperations(m: Machine, world: World, device: string): readonly VfioOperation[] {
  return operationsOf(m, world, configFor(m, device)).filter((o) => o.devices.includes(device));
}

/**
 * The CPU mappings of the dma-bufs of a device's driver (kernel-model §2.6).
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - a device of the driver.
 * @returns every VMA of that driver, by address (the order they were made).
 */
export function vfioVmas(m: Machine, world: World, device: string): readonly VfioVma[] {
  return vmasOf(m, world, configFor(m, device));
}

/**
 * A VFIO dma-buf's private data (`struct vfio_pci_dma_buf`, kernel-model §2.3).
 *
 * @param world - the world.
 * @param buf - the dma-buf id; it must be a vfio-pci buffer.
 * @returns `vdev`, the BAR, `phys_vec[]`, provider, `nr_ranges`, open flags.
 */
export function vfioDmaBufPriv(world: World, buf: number): VfioDmaBufPriv {
  return privOf(world, buf);
}
