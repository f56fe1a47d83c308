// drivers/vfio/vfio_main.c: the device fd's ioctl entry
// (`vfio_device_fops_unl_ioctl()`) for the ioctls the model drives
// (VFIO_DEVICE_FEATURE with features 11, 13 and 14, VFIO_DEVICE_RESET and
// VFIO_DEVICE_PCI_HOT_RESET, the last two synchronous).
// Models:
// - `VFIO_DEVICE_FEATURE` through `vfio_ioctl_device_feature()` to the
//   DMA_BUF feature (vfioDeviceFeatureIoctl; the feature itself,
//   `vfio_pci_core_feature_dma_buf()`, is in vfio_pci_dmabuf.ts);
// - `VFIO_DEVICE_RESET`, which vfio_main.c passes to vfio-pci's
//   `vfio_pci_ioctl_reset()` (vfioDeviceResetIoctl; the reset's stages are
//   in vfio_pci_core.ts);
// - the device an fd refers to (vfioPciConfigOf), and the ioctls as a
//   driver action (vfioIoctlActionSchema, VFIO_IOCTL_MODELS, vfioIoctlStep),
//   including the info ioctls of vfio_pci_ioctl_info.ts (GET_INFO,
//   GET_REGION_INFO, GET_IRQ_INFO) behind the same open-fd check.
// The failed outcome both ioctls share is ioctlFailed (ioctl-outcome.ts).
import * as z from "zod";
import { blocked, kernelError, parseVfioDeviceFeature, returned } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import type { VfioPciConfig } from "./config.js";
import { isVfioPciExporter } from "./config.js";
import { ioctlFailed, ioctlFailedAfter } from "./ioctl-outcome.js";
import { holdsMemoryLock } from "./operation.js";
import { deviceLockContended, deviceStateOf, operationsOf } from "./state.js";
import { runOperationNow } from "./vfio_pci_core.js";
import type { RunNow } from "./vfio_pci_core.js";
import { featureDmaBuf } from "./vfio_pci_dmabuf.js";
import { VFIO_PMCSR, vfioConfigWrite } from "./vfio_pci_config.js";
import { featureDmaBufFd, isDmaBufFdFeature } from "./vfio_pci_dmabuf_revoke.js";
import {
  hotResetArgCheck,
  vfioGetInfo,
  vfioGetIrqInfo,
  vfioGetRegionInfo,
} from "./vfio_pci_ioctl_info.js";
import type { VfioInfoCall } from "./vfio_pci_ioctl_info.js";

/**
 * The configuration of the vfio-pci driver bound to a device of a machine.
 *
 * @param m - the machine.
 * @param device - the device id.
 * @returns its driver's configuration, or undefined when no vfio-pci driver has it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineMachine, linux71, referenceTopology, topologySchema } from "@dmabuf-ref/core";
 * import { vfioPciConfigOf, vfioPciExporter } from "@dmabuf-ref/exporters";
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
 * assert.equal(vfioPciConfigOf(m, "vfio0")?.name, "vfio-pci");
 * assert.equal(vfioPciConfigOf(m, "vfio0")?.devices[0]?.bars[0]?.region, "vfio0.bar0");
 * assert.equal(vfioPciConfigOf(m, "dev0"), undefined);
 * ```
 * @category Drivers
 */
export function vfioPciConfigOf(m: Machine, device: string): VfioPciConfig | undefined {
  for (const d of m.exporters.values()) {
    if (isVfioPciExporter(d) && d.vfio.devices.some((x) => x.id === device)) return d.vfio;
  }
  return undefined;
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_FEATURE, argp)` with the DMA_BUF feature,
 * driven by the user's bytes (kernel-model §2.1–2.2): the checks in the
 * kernel's order, each errno with the World unchanged (failed, with the
 * `ioctl` trace event), the new dma-buf's fd (its id) as the return value
 * (`returned.ret`), 0 for PROBE, or blocked (`waitFor: "lock"`) while an
 * operation holds the device's `memory_lock`. A device no vfio-pci driver
 * has is `-EBADF`.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device whose fd is used.
 * @param argp - the bytes the ioctl argument points at (`encodeDmaBufFeature` builds them).
 * @param process - the calling process, as traces name it.
 * @returns core's step outcome.
 *
 * @kernel drivers/vfio/vfio_main.c vfio_ioctl_device_feature drivers/vfio/pci/vfio_pci_core.c
 *   vfio_pci_core_ioctl_feature
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
 * assert.equal(r.status === "done" ? r.returned?.ret : undefined, 1);
 * // A device no vfio-pci driver has: the fd is not a VFIO device fd.
 * const bad = vfioDeviceFeatureIoctl(m, boot(m), "dev0", argp);
 * assert.equal(bad.status === "failed" ? bad.error.errno : undefined, "EBADF");
 * ```
 * @category uAPI
 */
export function vfioDeviceFeatureIoctl(
  m: Machine,
  world: World,
  device: string,
  argp: Uint8Array,
  process = "vmm",
): StepOutcome {
  const config = vfioPciConfigOf(m, device);
  if (config === undefined) {
    return ioctlFailed(
      world,
      process,
      device,
      "VFIO_DEVICE_FEATURE",
      kernelError("EBADF", () => `no vfio-pci device ${device}`),
    );
  }
  const head = parseVfioDeviceFeature(argp);
  if (head.ok && isDmaBufFdFeature(m, config, head.value.feature)) {
    return featureDmaBufFd(m, world, config, device, head.value.feature, argp, process);
  }
  return featureDmaBuf(m, world, config, device, argp, process);
}

/**
 * A synchronous vfio-pci call as core's outcome: done with the ioctl event
 * the operation emitted and `ret`, failed with the errno (world kept), or
 * blocked (world kept) while it would sleep.
 */
function syncOutcome(
  world: World,
  r: RunNow,
  process: string,
  device: string,
  name: string,
  ret: number,
): StepOutcome {
  if (r.status === "failed") return ioctlFailed(world, process, device, name, r.error);
  if (r.status === "blocked") return blocked(world, "lock", r.reason);
  return returned(r.world, r.events, { ret });
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_RESET)` (`vfio_pci_ioctl_reset`,
 * kernel-model §2.5), synchronous as in the kernel: `memory_lock` for
 * write, power state to D0, revoke every dma-buf (waiting for the
 * importers' unmaps), `pci_try_reset_function()`, then un-revoke iff memory
 * is enabled, all before it returns. A closed or unknown fd is `-EBADF`.
 * While `memory_lock` is held by another operation, or an importer has yet
 * to unmap, the call sleeps: `blocked` with the world kept (retry after
 * other work ran).
 *
 * @remarks
 * `pci_try_reset_function()` only tries the device lock: while an unbind
 * holds it (waiting in `vfio_unregister_group_dev()` for this fd to
 * close), the reset is skipped and the ioctl returns `-EAGAIN`, but the
 * revoke before it and the un-revoke after it have run: importers saw the
 * invalidate. The outcome is failed with the input world and carries what
 * the kernel left behind in `committed` (`FailedAfterEffects`).
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device whose fd is used.
 * @param process - the calling process.
 * @returns core's step outcome: done with `returned.ret` 0 once the reset is
 *   over, failed with the errno and the `ioctl` event, or blocked.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_ioctl_reset vfio_pci_try_reset_function
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
 * import { vfioDeviceResetIoctl, vfioPciExporter } from "@dmabuf-ref/exporters";
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
 * const r = vfioDeviceResetIoctl(m, boot(m), "vfio0", "qemu");
 * assert.equal(r.status === "done" ? r.returned?.ret : undefined, 0);
 * const bad = vfioDeviceResetIoctl(m, boot(m), "dev0", "qemu");
 * assert.equal(bad.status === "failed" ? bad.error.errno : undefined, "EBADF");
 * ```
 * @category uAPI
 */
export function vfioDeviceResetIoctl(
  m: Machine,
  world: World,
  device: string,
  process = "vmm",
): StepOutcome {
  const name = "VFIO_DEVICE_RESET";
  const config = openDeviceConfig(m, world, device);
  if (config === undefined) return noOpenFd(world, process, device, name);
  // Nothing the call runs can release the device lock: decided up front.
  const contended = deviceLockContended(m, world, config, device);
  const r = runOperationNow(
    m,
    world,
    config,
    "reset",
    [device],
    device,
    contended ? null : process,
  );
  if (r.status === "done" && contended) {
    return ioctlFailedAfter(
      world,
      process,
      device,
      name,
      kernelError("EAGAIN", () => `pci_try_reset_function(${device}): device lock contended`),
      r,
    );
  }
  return syncOutcome(world, r, process, device, name, 0);
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_PCI_HOT_RESET)` (`vfio_pci_dev_set_hot_reset`,
 * kernel-model §2.5), synchronous: each device of the dev_set of `device`
 * (the device alone without one), in the dev_set's order, has its
 * `memory_lock` tried and its dma-bufs revoked; then every device goes to
 * D0, the bus is reset, and each open device with memory enabled is
 * restored, before it returns 0. A closed or unknown fd is `-EBADF`;
 * waiting for importers' unmaps is `blocked`.
 *
 * @remarks
 * Both failures run the undo path, which restores what was revoked: a
 * `memory_lock` held by another operation fails its trylock with `-EBUSY`
 * after the devices before it were revoked (they are restored; none
 * before it: nothing changed); a device lock held by an unbind fails
 * `pci_reset_bus()` with `-EAGAIN` after every device was revoked. Such a
 * failure carries the world the kernel left in `committed`
 * (`FailedAfterEffects`).
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device whose fd is used.
 * @param process - the calling process.
 * @param argp - the `struct vfio_pci_hot_reset` the argument points at
 *   (empty for NULL: `-EFAULT`); absent, the header checks are skipped (a
 *   scenario's bus reset). With it, `argsz < 12`, `flags != 0` or a non-zero
 *   `count` (group fds, on a cdev device) fail with `-EINVAL` first.
 * @returns core's step outcome.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_dev_set_hot_reset vfio_pci_ioctl_pci_hot_reset
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
 * import { vfioHotResetIoctl, vfioPciExporter } from "@dmabuf-ref/exporters";
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
 * // vfio0 has no dev_set: the bus reset covers it alone.
 * const r = vfioHotResetIoctl(m, boot(m), "vfio0", "qemu");
 * assert.equal(r.status === "done" ? r.returned?.ret : undefined, 0);
 * // A NULL argp (no bytes) faults before anything is reset.
 * const fault = vfioHotResetIoctl(m, boot(m), "vfio0", "qemu", new Uint8Array(0));
 * assert.equal(fault.status === "failed" ? fault.error.errno : undefined, "EFAULT");
 * ```
 * @category uAPI
 */
export function vfioHotResetIoctl(
  m: Machine,
  world: World,
  device: string,
  process = "vmm",
  argp?: Uint8Array,
): StepOutcome {
  const name = "VFIO_DEVICE_PCI_HOT_RESET";
  const config = openDeviceConfig(m, world, device);
  if (config === undefined) return noOpenFd(world, process, device, name);
  // The header is checked before any device is locked or revoked.
  const bad = argp === undefined ? undefined : hotResetArgCheck(argp);
  if (bad !== undefined) return ioctlFailed(world, process, device, name, bad);
  const set = config.devices.find((d) => d.id === device)?.devSet;
  const devices =
    set === undefined ? [device] : config.devices.filter((d) => d.devSet === set).map((d) => d.id);
  const actor = set ?? device;
  const lockedBy = (d: string) =>
    operationsOf(m, world, config).find((o) => holdsMemoryLock(o.kind) && o.devices.includes(d));
  const busyAt = devices.findIndex((d) => lockedBy(d) !== undefined);
  if (busyAt >= 0) {
    const busy = devices[busyAt] ?? device;
    const error = kernelError(
      "EBUSY",
      () => `down_write_trylock(memory_lock) of ${busy} failed (${lockedBy(busy)?.actor ?? ""})`,
    );
    if (busyAt === 0) return ioctlFailed(world, process, device, name, error);
    const undo = runOperationNow(
      m,
      world,
      config,
      "hot-reset-unwind",
      devices.slice(0, busyAt),
      actor,
      null,
    );
    if (undo.status !== "done") return syncOutcome(world, undo, process, device, name, 0);
    return ioctlFailedAfter(world, process, device, name, error, undo);
  }
  const contended = devices.filter((d) => deviceLockContended(m, world, config, d));
  const r = runOperationNow(m, world, config, "hot-reset", devices, actor, null);
  if (r.status !== "done") return syncOutcome(world, r, process, device, name, 0);
  if (contended.length > 0) {
    const error = kernelError(
      "EAGAIN",
      () => `pci_reset_bus(): the device lock of ${contended.join(", ")} is held`,
    );
    return ioctlFailedAfter(world, process, device, name, error, r);
  }
  return returned(
    r.world,
    [...r.events, { kind: "ioctl", process, target: device, name, result: { ok: true, ret: 0 } }],
    { ret: 0 },
  );
}

/**
 * The vfio-pci ioctls as a driver action, so that a VMM's call reaches the
 * driver through core's `step` like every other op: `VFIO_DEVICE_FEATURE`
 * with its argument bytes, or `VFIO_DEVICE_RESET`.
 *
 * @category uAPI
 */
export const vfioIoctlActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** `VFIO_DEVICE_FEATURE` on a device fd. */
    op: z.literal("VFIO_DEVICE_FEATURE"),
    /** The device. */
    device: z.string().min(1),
    /** The argument: `struct vfio_device_feature` and its data, as bytes. */
    argp: z.instanceof(Uint8Array),
    /** The calling process, as traces name it. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** `VFIO_DEVICE_RESET` on a device fd (synchronous). */
    op: z.literal("VFIO_DEVICE_RESET"),
    /** The device. */
    device: z.string().min(1),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** A `pwrite()` to the device's VFIO config region (synchronous). */
    op: z.literal("config-write"),
    /** The device. */
    device: z.string().min(1),
    /** Offset in config space. */
    offset: z.number().int().min(0).max(0xffff_ffff),
    /** Bytes written: 1, 2 or 4. */
    size: z.union([z.literal(1), z.literal(2), z.literal(4)]),
    /** The value, little-endian. */
    value: z.number().int().min(0).max(0xffff_ffff),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** A 2-byte PMCSR write of D3hot (`vfio_lock_and_set_power_state`), synchronous. */
    op: z.literal("d3hot"),
    /** The device. */
    device: z.string().min(1),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** A 2-byte PMCSR write of D0, synchronous. */
    op: z.literal("d0"),
    /** The device. */
    device: z.string().min(1),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** `VFIO_DEVICE_PCI_HOT_RESET` on a device fd (synchronous; its whole dev_set). */
    op: z.literal("VFIO_DEVICE_PCI_HOT_RESET"),
    /** The device. */
    device: z.string().min(1),
    /**
     * The argument: `struct vfio_pci_hot_reset` and any group fds, as bytes
     * (empty for NULL). Absent: a bus reset with no header to check.
     */
    argp: z.instanceof(Uint8Array).optional(),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** `VFIO_DEVICE_GET_INFO` on a device fd. */
    op: z.literal("VFIO_DEVICE_GET_INFO"),
    /** The device. */
    device: z.string().min(1),
    /** The argument: `struct vfio_device_info` as bytes (empty for NULL). */
    argp: z.instanceof(Uint8Array),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** `VFIO_DEVICE_GET_REGION_INFO` on a device fd. */
    op: z.literal("VFIO_DEVICE_GET_REGION_INFO"),
    /** The device. */
    device: z.string().min(1),
    /** The argument: `struct vfio_region_info` as bytes (empty for NULL). */
    argp: z.instanceof(Uint8Array),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.strictObject({
    /** `VFIO_DEVICE_GET_IRQ_INFO` on a device fd. */
    op: z.literal("VFIO_DEVICE_GET_IRQ_INFO"),
    /** The device. */
    device: z.string().min(1),
    /** The argument: `struct vfio_irq_info` as bytes (empty for NULL). */
    argp: z.instanceof(Uint8Array),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
]);

/** What each vfio-pci ioctl op models in the kernel. */
export const VFIO_IOCTL_MODELS = {
  VFIO_DEVICE_FEATURE:
    "vfio_ioctl_device_feature() with DMA_BUF (11), and DMA_BUF_REVOKE (13) / _MEMATTR (14)",
  VFIO_DEVICE_RESET: "vfio_pci_ioctl_reset(): D0, revoke, FLR, un-revoke, then return",
  VFIO_DEVICE_PCI_HOT_RESET: "vfio_pci_dev_set_hot_reset(): revoke the dev_set, reset, restore",
  "config-write": "vfio_pci_config_rw(): PCI_COMMAND, PMCSR and the PCIe FLR bit",
  d3hot: "a PMCSR write of D3hot (vfio_lock_and_set_power_state)",
  d0: "a PMCSR write of D0 (vfio_lock_and_set_power_state)",
  VFIO_DEVICE_GET_INFO: "vfio_pci_ioctl_get_info(): flags PCI|RESET, 9 regions, 5 IRQs",
  VFIO_DEVICE_GET_REGION_INFO:
    "vfio_get_region_info() + vfio_pci_ioctl_get_region_info(): size, flags, offset index << 40",
  VFIO_DEVICE_GET_IRQ_INFO: "vfio_pci_ioctl_get_irq_info(): flags and vector count per IRQ index",
} as const;

/** A vfio-pci ioctl action (see {@link vfioIoctlActionSchema}). */
export type VfioIoctlAction = z.output<typeof vfioIoctlActionSchema>;

function configWriteOn(
  m: Machine,
  w: World,
  device: string,
  a: {
    readonly offset: number;
    readonly size: number;
    readonly value: number;
    readonly process: string;
  },
): StepOutcome {
  const config = vfioPciConfigOf(m, device);
  if (config === undefined) {
    return ioctlFailed(
      w,
      a.process,
      device,
      "pwrite(config)",
      kernelError("EBADF", () => `no vfio-pci device ${device}`),
    );
  }
  return vfioConfigWrite(m, w, config, { device, ...a });
}

/**
 * Runs a vfio-pci ioctl action as a step (`VFIO_DEVICE_FEATURE` through
 * the `VFIO_DEVICE_FEATURE` op, `VFIO_DEVICE_RESET` through
 * the `VFIO_DEVICE_RESET` op): done with the ioctl's return value, the
 * errno with the world unchanged (the ioctl's trace line kept), or blocked
 * while it sleeps on `memory_lock`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param a - the ioctl.
 * @returns the step's outcome.
 */
export function vfioIoctlStep(m: Machine, w: World, a: VfioIoctlAction): StepOutcome {
  return match(a)
    .returnType<StepOutcome>()
    .with({ op: "VFIO_DEVICE_RESET" }, (x) => vfioDeviceResetIoctl(m, w, x.device, x.process))
    .with({ op: "VFIO_DEVICE_PCI_HOT_RESET" }, (x) =>
      vfioHotResetIoctl(m, w, x.device, x.process, x.argp),
    )
    .with({ op: "VFIO_DEVICE_GET_INFO" }, (x) => infoIoctl(m, w, x, (c) => vfioGetInfo(w, c)))
    .with({ op: "VFIO_DEVICE_GET_REGION_INFO" }, (x) =>
      infoIoctl(m, w, x, (c) => vfioGetRegionInfo(m, w, c)),
    )
    .with({ op: "VFIO_DEVICE_GET_IRQ_INFO" }, (x) =>
      infoIoctl(m, w, x, (c) => vfioGetIrqInfo(w, c)),
    )
    .with({ op: "config-write" }, (x) => configWriteOn(m, w, x.device, x))
    .with({ op: "d3hot" }, (x) =>
      configWriteOn(m, w, x.device, { offset: VFIO_PMCSR, size: 2, value: 3, process: x.process }),
    )
    .with({ op: "d0" }, (x) =>
      configWriteOn(m, w, x.device, { offset: VFIO_PMCSR, size: 2, value: 0, process: x.process }),
    )
    .with({ op: "VFIO_DEVICE_FEATURE" }, (x) =>
      vfioDeviceFeatureIoctl(m, w, x.device, x.argp, x.process),
    )
    .exhaustive();
}

/**
 * An info ioctl on a device fd: `-EBADF` unless the fd is open, then the
 * handler (which never changes the World).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param x - the action: device, argument bytes, caller.
 * @param run - the handler.
 * @returns the step's outcome.
 */
function infoIoctl(
  m: Machine,
  w: World,
  x: {
    readonly op: string;
    readonly device: string;
    readonly argp: Uint8Array;
    readonly process: string;
  },
  run: (call: VfioInfoCall) => StepOutcome,
): StepOutcome {
  const config = openDeviceConfig(m, w, x.device);
  if (config === undefined) return noOpenFd(w, x.process, x.device, x.op);
  return run({ config, device: x.device, argp: x.argp, process: x.process });
}

/**
 * The configuration of the vfio-pci driver that has `device` open: the
 * device fd an ioctl is issued on must be open.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device named as the fd.
 * @returns the driver's configuration, or undefined when no open fd of it exists.
 */
function openDeviceConfig(m: Machine, world: World, device: string): VfioPciConfig | undefined {
  const config = vfioPciConfigOf(m, device);
  return config !== undefined && deviceStateOf(m, world, config, device)?.open === true
    ? config
    : undefined;
}

/**
 * An ioctl on a device fd that is not open: `-EBADF` from `fdget()`.
 *
 * @param world - the world, unchanged.
 * @param process - the calling process.
 * @param device - the device named as the fd.
 * @param name - the ioctl macro.
 * @returns the failed outcome.
 */
function noOpenFd(world: World, process: string, device: string, name: string): StepOutcome {
  return ioctlFailed(
    world,
    process,
    device,
    name,
    kernelError("EBADF", () => `no open fd of ${device}`),
  );
}
