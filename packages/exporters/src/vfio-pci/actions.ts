import * as z from "zod";
import { deviceIdSchema, u64Schema } from "@dmabuf-ref/core";
import type { Op } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";

const device = deviceIdSchema;
const process = z.string().min(1);

/**
 * The vfio-pci driver's actions (core `driver` ops): the revoke triggers of
 * kernel-model §2.5, close and unbind, CPU mappings of dma-bufs (§2.6), and
 * the `continue` of a multi-stage operation that `pending` offers.
 *
 * @category Drivers
 */
export const vfioPciActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** A guest FLR through config space (`vfio_pci_try_reset_function`). */
    op: z.literal("flr"),
    /** The device. */
    device,
  }),
  z.strictObject({
    /** `VFIO_DEVICE_RESET` (`vfio_pci_ioctl_reset`): D0, revoke, FLR, un-revoke. */
    op: z.literal("reset"),
    /** The device. */
    device,
    /** The process issuing the ioctl; it returns when the reset is over. */
    process: process.default("vmm"),
  }),
  z.strictObject({
    /** A config write of `PCI_COMMAND` (`vfio_basic_config_write`). */
    op: z.literal("config-write-command"),
    /** The device. */
    device,
    /** The new `PCI_COMMAND.MEMORY` bit. */
    memory: z.boolean(),
  }),
  z.strictObject({
    /** `VFIO_DEVICE_PCI_HOT_RESET` of a dev_set (`vfio_pci_dev_set_hot_reset`). */
    op: z.literal("hot-reset"),
    /** The dev_set's name. */
    devSet: z.string().min(1),
  }),
  z.strictObject({
    /** A PMCSR write (`vfio_lock_and_set_power_state`). */
    op: z.literal("power"),
    /** The device. */
    device,
    /** The new power state. */
    state: z.enum(["D0", "D3hot"]),
  }),
  z.strictObject({
    /** `VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY` / exit (runtime PM). */
    op: z.literal("low-power"),
    /** The device. */
    device,
    /** Enter (true) or exit (false). */
    enter: z.boolean(),
  }),
  z.strictObject({
    /** The last close of the device fd (`vfio_pci_core_close_device`). */
    op: z.literal("close-device"),
    /** The device. */
    device,
  }),
  z.strictObject({
    /** Unbinding vfio-pci from the device (`vfio_unregister_group_dev`). */
    op: z.literal("unbind"),
    /** The device. */
    device,
  }),
  z.strictObject({
    /** `mmap()` of a VFIO dma-buf fd (Matt Evans' series). */
    op: z.literal("mmap"),
    /** The calling process. */
    process,
    /** The dma-buf id. */
    buf: z.number().int().nonnegative(),
    /** Byte offset into the buffer (page aligned). */
    offset: u64Schema.default(0n),
    /** Bytes to map; default the rest of the buffer. */
    length: u64Schema.optional(),
    /** `MAP_SHARED` (true) or `MAP_PRIVATE`. */
    shared: z.boolean().default(true),
  }),
  z.strictObject({
    /** `munmap()` of a whole VMA. */
    op: z.literal("munmap"),
    /** The process. */
    process,
    /** The VMA's start address. */
    addr: u64Schema,
  }),
  z.strictObject({
    /** A CPU load or store through a dma-buf VMA. */
    op: z.literal("cpu-access"),
    /** The process. */
    process,
    /** The user virtual address. */
    addr: u64Schema,
    /** Bytes. */
    len: u64Schema,
    /** Read or write. */
    dir: z.enum(["read", "write"]),
  }),
  z.strictObject({
    /** Runs the next stage of an operation (offered by `pending`). */
    op: z.literal("continue"),
    /** The operation's id. */
    id: z.number().int().nonnegative(),
  }),
]);

/** What each vfio-pci action op models in the kernel. */
export const VFIO_ACTION_MODELS = {
  flr: "a guest's FLR through config space (vfio_pci_try_reset_function)",
  reset: "VFIO_DEVICE_RESET as a device event: D0, revoke, FLR, un-revoke",
  "config-write-command": "a PCI_COMMAND write clearing or setting MEMORY",
  "hot-reset": "VFIO_DEVICE_PCI_HOT_RESET of a dev_set",
  power: "a PMCSR write to D3hot or D0 (vfio_lock_and_set_power_state)",
  "low-power": "VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY / _EXIT",
  "close-device": "the last close of the device fd (vfio_pci_core_close_device)",
  unbind: "unbinding vfio-pci from the device (vfio_unregister_group_dev)",
  mmap: "mmap() of a VFIO dma-buf fd (Matt Evans' series)",
  munmap: "munmap() of a dma-buf VMA",
  "cpu-access": "a CPU load or store through a dma-buf VMA",
  continue: "the next stage of a multi-stage operation",
} as const;

/**
 * One vfio-pci action (see {@link vfioPciActionSchema}).
 *
 * @category Drivers
 */
export type VfioPciAction = z.output<typeof vfioPciActionSchema>;

/** A vfio-pci action as written, before defaults (see {@link vfioPciActionSchema}). */
export type VfioPciActionInput = z.input<typeof vfioPciActionSchema>;

/**
 * The device-level events of every device the driver drives, for core's
 * `candidateOps`: an FLR, `VFIO_DEVICE_RESET`, memory decode off and on,
 * D3hot and D0, low-power entry and exit, the device fd's close and the
 * driver's unbind. Whether each can run now is the driver's answer (an
 * errno or a wait), which is behaviour too.
 *
 * @param config - the driver's configuration.
 * @returns the ops, as `driver` ops of this driver.
 */
export function vfioCandidates(config: VfioPciConfig): readonly Op[] {
  const ops: Op[] = [];
  const act = (action: VfioPciActionInput): void => {
    ops.push({ kind: "driver", driver: config.name, action });
  };
  for (const d of config.devices) {
    const device = d.id;
    act({ op: "flr", device });
    act({ op: "reset", device });
    act({ op: "config-write-command", device, memory: false });
    act({ op: "config-write-command", device, memory: true });
    act({ op: "power", device, state: "D3hot" });
    act({ op: "power", device, state: "D0" });
    act({ op: "low-power", device, enter: true });
    act({ op: "low-power", device, enter: false });
    act({ op: "close-device", device });
    act({ op: "unbind", device });
  }
  return ops;
}
