import * as z from "zod";
import { deviceIdSchema } from "@dmabuf-ref/core";
import type { ExporterDriver } from "@dmabuf-ref/core";

/**
 * `VFIO_PCI_ROM_REGION_INDEX`: region indexes 0–5 are BARs, 6 is the ROM (kernel-model §2.2 step 2).
 *
 * @category uAPI
 */
export const VFIO_PCI_ROM_REGION_INDEX = 6;

/**
 * One BAR of a VFIO PCI device: its region index and the topology region
 * (kind `bar`) holding its MMIO base, size and bus offset
 * (`pci_resource_start/len`, `pci_p2pdma_bus_addr_map`, kernel-model §1.4, §2.2).
 *
 * @category Drivers
 */
export const vfioBarConfigSchema = z.object({
  /** The BAR number, 0–5 (`VFIO_PCI_BAR0_REGION_INDEX`..`BAR5`). */
  index: z
    .number()
    .int()
    .min(0)
    .max(VFIO_PCI_ROM_REGION_INDEX - 1),
  /** The topology region of kind `bar` that this BAR decodes, e.g. "vfio0.bar0". */
  region: z.string().min(1),
  /**
   * `pcim_p2pdma_provider(pdev, bar)` is non-NULL: the BAR is registered as a
   * p2pdma provider. Without it the export fails with `-EINVAL` (§2.2 step 5).
   */
  p2pProvider: z.boolean().default(true),
  /**
   * What `vfio_pci_core_enable()` stored for this BAR when it requested and
   * iomapped every standard BAR (05f2a68b407a): `true` when both worked,
   * else the error it kept: `"ENODEV"` (empty BAR), `"EBUSY"` (the region
   * request failed: another driver claimed it), `"ENOMEM"` (the iomap
   * failed). Under a profile with `barResourceCheck` the export reports any
   * of them as `-ENODEV` (702809dabdec, kernel-model §2.2 step 2).
   */
  claimed: z.union([z.literal(true), z.enum(["ENODEV", "EBUSY", "ENOMEM"])]).default(true),
});

/**
 * One BAR of a VFIO device (see {@link vfioBarConfigSchema}).
 *
 * @category Drivers
 */
export type VfioBarConfig = z.output<typeof vfioBarConfigSchema>;

/**
 * One PCI function bound to vfio-pci: `struct vfio_pci_core_device` (kernel-model §2).
 *
 * @category Drivers
 */
export const vfioDeviceConfigSchema = z
  .object({
    /** The device's name in the topology, e.g. "vfio0". */
    id: deviceIdSchema,
    /** The `vfio_device_set` it shares a bus/slot reset with (hot reset, §2.5). */
    devSet: z.string().min(1).optional(),
    /**
     * The driver's `pci_ops->get_dmabuf_phys` exists. False models a variant
     * driver without it: the DMA_BUF feature fails with `-EOPNOTSUPP` (§2.2 step 0).
     */
    dmabuf: z.boolean().default(true),
    /** The BARs the device implements; indexes must be distinct. */
    bars: z.array(vfioBarConfigSchema),
  })
  .refine((d) => new Set(d.bars.map((b) => b.index)).size === d.bars.length, {
    message: "a device lists each BAR index once",
    path: ["bars"],
  });

/**
 * One VFIO PCI device (see {@link vfioDeviceConfigSchema}).
 *
 * @category Drivers
 */
export type VfioDeviceConfig = z.output<typeof vfioDeviceConfigSchema>;

/**
 * The order of the two steps of `vfio_pci_core_close_device` (kernel-model
 * §2.5): `"disable-then-cleanup"` is 6.19.x and 7.0.0–7.0.9
 * (`vfio_pci_core_disable` resets the function while importers still map
 * the BAR); `"cleanup-then-disable"` is d97708701434 (v7.1, 7.0.10+:
 * revoke first).
 *
 * @category Drivers
 */
export const vfioCloseOrderSchema = z.enum(["disable-then-cleanup", "cleanup-then-disable"]);

/**
 * The order of the close steps (see {@link vfioCloseOrderSchema}).
 *
 * @category Drivers
 */
export type VfioCloseOrder = z.output<typeof vfioCloseOrderSchema>;

/**
 * The vfio-pci exporter's configuration: the devices it is bound to.
 *
 * @category Drivers
 */
export const vfioPciConfigSchema = z
  .object({
    /** The driver's name in the world's config (default "vfio-pci"). */
    name: z.string().min(1).default("vfio-pci"),
    /**
     * CONFIG_VFIO_PCI_DMABUF is set. Without it the DMA_BUF feature is
     * `-ENOTTY` (kernel-model §2.1).
     */
    dmabufConfigured: z.boolean().default(true),
    /**
     * Overrides the profile's close order (absent: the profile decides);
     * for a scenario that compares both orders under one profile.
     */
    closeOrder: vfioCloseOrderSchema.optional(),
    /**
     * Overrides the profile's `krefRearm` (absent: the profile decides);
     * `false` is the v7.1-rc kref underflow the bug zoo switches on.
     */
    krefRearm: z.boolean().optional(),
    /** The devices bound to vfio-pci; ids must be distinct. */
    devices: z.array(vfioDeviceConfigSchema),
  })
  .refine((c) => new Set(c.devices.map((d) => d.id)).size === c.devices.length, {
    message: "device ids are distinct",
    path: ["devices"],
  });

/**
 * The vfio-pci exporter's configuration after defaults (see {@link vfioPciConfigSchema}).
 *
 * @category Drivers
 */
export type VfioPciConfig = z.output<typeof vfioPciConfigSchema>;

/**
 * The vfio-pci exporter's configuration as a caller writes it (defaults optional).
 *
 * @category Drivers
 */
export type VfioPciConfigInput = z.input<typeof vfioPciConfigSchema>;

/**
 * The vfio-pci exporter driver: core's {@link ExporterDriver} plus its configuration.
 *
 * @category Drivers
 */
export interface VfioPciExporter extends ExporterDriver {
  /** The validated configuration: the devices, their BARs and dev_sets. */
  readonly vfio: VfioPciConfig;
}

/**
 * Whether an exporter driver is a vfio-pci one.
 *
 * @param d - an exporter driver.
 * @returns true for drivers made by `vfioPciExporter`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpuExporter, isVfioPciExporter, vfioPciExporter } from "@dmabuf-ref/exporters";
 *
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const gpu = gpuExporter({ devices: [{ id: "gpu0", vram: "gpu0.vram", system: "ram0" }] });
 * assert.ok(isVfioPciExporter(vfio));
 * assert.equal(isVfioPciExporter(vfio) ? vfio.vfio.devices[0]?.id : undefined, "vfio0");
 * assert.equal(isVfioPciExporter(gpu), false);
 * ```
 * @category Drivers
 */
export function isVfioPciExporter(d: ExporterDriver): d is VfioPciExporter {
  return "vfio" in d;
}
