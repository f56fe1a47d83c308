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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   linux71,
 *   referenceTopology,
 *   topologySchema,
 * } from "@dmabuf-ref/core";
 * import { vfioDeviceState, vfioPciExporter } from "@dmabuf-ref/exporters";
 *
 * // vfio0 and its BAR 0 (16 MiB of MMIO at 256 GiB), added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "vfio0.bar0", kind: "bar", base: 0x4000000000n, size: 0x1000000n, device: "vfio0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "vfio0", switch: "sw0" }],
 * });
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({ profile: linux71, topology, exporters: [vfio], importers: [] });
 * assert.deepEqual(vfioDeviceState(m, boot(m), "vfio0"), {
 *   memoryEnabled: true,
 *   power: "D0",
 *   lowPower: false,
 *   open: true,
 *   registered: true,
 *   bound: true,
 * });
 * assert.throws(() => vfioDeviceState(m, boot(m), "dev0"), /no vfio-pci driver/);
 * ```
 * @category Drivers
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   linux71,
 *   referenceTopology,
 *   topologySchema,
 * } from "@dmabuf-ref/core";
 * import { vfioDeviceResetIoctl, vfioOperations, vfioPciExporter } from "@dmabuf-ref/exporters";
 *
 * // vfio0 and its BAR 0 (16 MiB of MMIO at 256 GiB), added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "vfio0.bar0", kind: "bar", base: 0x4000000000n, size: 0x1000000n, device: "vfio0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "vfio0", switch: "sw0" }],
 * });
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({ profile: linux71, topology, exporters: [vfio], importers: [] });
 * // VFIO_DEVICE_RESET is synchronous: once it returns, nothing is in progress.
 * const r = vfioDeviceResetIoctl(m, boot(m), "vfio0");
 * assert.ok(r.status === "done");
 * assert.deepEqual(vfioOperations(m, r.world, "vfio0"), []);
 * ```
 * @category Drivers
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   linux71,
 *   referenceTopology,
 *   topologySchema,
 * } from "@dmabuf-ref/core";
 * import { vfioPciExporter, vfioVmas } from "@dmabuf-ref/exporters";
 *
 * // vfio0 and its BAR 0 (16 MiB of MMIO at 256 GiB), added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "vfio0.bar0", kind: "bar", base: 0x4000000000n, size: 0x1000000n, device: "vfio0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "vfio0", switch: "sw0" }],
 * });
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({ profile: linux71, topology, exporters: [vfio], importers: [] });
 * // No process has mmap()ed a dma-buf of vfio0's driver yet.
 * assert.deepEqual(vfioVmas(m, boot(m), "vfio0"), []);
 * ```
 * @category Drivers
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   encodeDmaBufFeature,
 *   linux71,
 *   referenceTopology,
 *   topologySchema,
 *   VFIO_DEVICE_FEATURE_GET,
 * } from "@dmabuf-ref/core";
 * import {
 *   O_CLOEXEC,
 *   O_RDWR,
 *   vfioDeviceFeatureIoctl,
 *   vfioDmaBufPriv,
 *   vfioPciExporter,
 * } from "@dmabuf-ref/exporters";
 *
 * // vfio0 and its BAR 0 (16 MiB of MMIO at 256 GiB), added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "vfio0.bar0", kind: "bar", base: 0x4000000000n, size: 0x1000000n, device: "vfio0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "vfio0", switch: "sw0" }],
 * });
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({ profile: linux71, topology, exporters: [vfio], importers: [] });
 * const argp = encodeDmaBufFeature({
 *   flags: VFIO_DEVICE_FEATURE_GET,
 *   data: { region_index: 0, open_flags: O_RDWR | O_CLOEXEC, flags: 0 },
 *   ranges: [{ offset: 0x10000n, length: 0x10000n }],
 * });
 * const r = vfioDeviceFeatureIoctl(m, boot(m), "vfio0", argp);
 * assert.ok(r.status === "done" && r.returned !== undefined);
 * const priv = vfioDmaBufPriv(r.world, r.returned.ret);
 * assert.equal(priv.vdev, "vfio0");
 * // paddr = pci_resource_start(pdev, 0) + offset
 * assert.deepEqual(priv.phys, [{ paddr: 0x4000010000n, len: 0x10000n }]);
 * ```
 * @category Drivers
 */
export function vfioDmaBufPriv(world: World, buf: number): VfioDmaBufPriv {
  return privOf(world, buf);
}
