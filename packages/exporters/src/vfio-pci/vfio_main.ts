// drivers/vfio/vfio_main.c: the device fd's ioctl entry
// (`vfio_device_fops_unl_ioctl()`) for the two ioctls the model drives.
// Models:
// - `VFIO_DEVICE_FEATURE` through `vfio_ioctl_device_feature()` to the
//   DMA_BUF feature (vfioDeviceFeatureIoctl; the feature itself,
//   `vfio_pci_core_feature_dma_buf()`, is in vfio_pci_dmabuf.ts);
// - `VFIO_DEVICE_RESET`, which vfio_main.c passes to vfio-pci's
//   `vfio_pci_ioctl_reset()` (vfioDeviceResetIoctl; the reset's stages are
//   in vfio_pci_core.ts);
// - the device an fd refers to (vfioPciConfigOf), and both ioctls as a
//   driver action (vfioIoctlActionSchema, VFIO_IOCTL_MODELS, vfioIoctlStep).
// The failed outcome both ioctls share is ioctlFailed (ioctl-outcome.ts).
import * as z from "zod";
import { kernelError, returned } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import { isVfioPciExporter } from "./config.js";
import { ioctlFailed } from "./ioctl-outcome.js";
import { deviceStateOf } from "./state.js";
import { startOperation } from "./vfio_pci_core.js";
import { featureDmaBuf } from "./vfio_pci_dmabuf.js";

/**
 * The configuration of the vfio-pci driver bound to a device of a machine.
 *
 * @param m - the machine.
 * @param device - the device id.
 * @returns its driver's configuration, or undefined when no vfio-pci driver has it.
 */
export function vfioPciConfigOf(m: Machine, device: string): VfioPciConfig | undefined {
  for (const d of m.exporters.values()) {
    if (isVfioPciExporter(d) && d.vfio.devices.some((x) => x.id === device)) return d.vfio;
  }
  return undefined;
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_FEATURE, argp)` with the DMA_BUF feature,
 * driven by the user's bytes (kernel-facts §2.1–2.2): the checks in the
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
 * @example
 * ```ts
 * const argp = encodeDmaBufFeature({
 *   flags: VFIO_DEVICE_FEATURE_GET,
 *   data: { region_index: 0, open_flags: O_RDWR | O_CLOEXEC, flags: 0 },
 *   ranges: [{ offset: 0n, length: 0x10000n }],
 * });
 * const r = vfioDeviceFeatureIoctl(m, world, "vfio0", argp);
 * if (r.status === "done") world = r.world; // r.returned?.ret is the dma-buf fd
 * ```
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
  return featureDmaBuf(m, world, config, device, argp, process);
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_RESET)` (`vfio_pci_ioctl_reset`, kernel-facts
 * §2.5): power state to D0, revoke every dma-buf, FLR, then un-revoke iff
 * memory is enabled. The call starts that operation (it sleeps on
 * `memory_lock` behind an earlier one); its `ioctl` event, returning 0, is
 * emitted when the operation completes, so drive it with core's `runScript`
 * or `settle`. A closed or unknown device fd is `-EBADF`.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device whose fd is used.
 * @param process - the calling process.
 * @returns core's step outcome: done with `returned.ret` the value the ioctl
 *   returns on completion (0), or failed with the errno and the `ioctl` event.
 */
export function vfioDeviceResetIoctl(
  m: Machine,
  world: World,
  device: string,
  process = "vmm",
): StepOutcome {
  const name = "VFIO_DEVICE_RESET";
  const config = vfioPciConfigOf(m, device);
  const open = config !== undefined && deviceStateOf(m, world, config, device)?.open === true;
  if (config === undefined || !open) {
    return ioctlFailed(
      world,
      process,
      device,
      name,
      kernelError("EBADF", () => `no open fd of ${device}`),
    );
  }
  const r = startOperation(m, world, config, "reset", [device], device, process);
  if (!r.ok) return ioctlFailed(world, process, device, name, r.error);
  return returned(r.value.world, r.value.events, { ret: 0 });
}

/**
 * The vfio-pci ioctls as a driver action, so that a VMM's call reaches the
 * driver through core's `step` like every other op: `VFIO_DEVICE_FEATURE`
 * with its argument bytes, or `VFIO_DEVICE_RESET`.
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
    /** `VFIO_DEVICE_RESET` on a device fd. */
    op: z.literal("VFIO_DEVICE_RESET"),
    /** The device. */
    device: z.string().min(1),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
]);

/** What each vfio-pci ioctl op models in the kernel. */
export const VFIO_IOCTL_MODELS = {
  VFIO_DEVICE_FEATURE: "vfio_ioctl_device_feature() with VFIO_DEVICE_FEATURE_DMA_BUF",
  VFIO_DEVICE_RESET: "vfio_pci_ioctl_reset(): D0, revoke, FLR, un-revoke",
} as const;

/** A vfio-pci ioctl action (see {@link vfioIoctlActionSchema}). */
export type VfioIoctlAction = z.output<typeof vfioIoctlActionSchema>;

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
  return a.op === "VFIO_DEVICE_RESET"
    ? vfioDeviceResetIoctl(m, w, a.device, a.process)
    : vfioDeviceFeatureIoctl(m, w, a.device, a.argp, a.process);
}
