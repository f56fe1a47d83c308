import * as z from "zod";
import { deviceIdSchema } from "@dmabuf-ref/core";

/**
 * SR-IOV of a GPU physical function (kernel-model §4.1, the "IOV
 * interconnect" of Vivek Kasireddy's RFC; users vfio-pci and xe): the VFs
 * whose dma-bufs the PF may resolve to its own VRAM.
 *
 * @category Drivers
 */
export const gpuSriovConfigSchema = z.object({
  /** The virtual functions' device ids in the topology. */
  vfs: z.array(deviceIdSchema),
});

/**
 * The SR-IOV configuration of a GPU (see {@link gpuSriovConfigSchema}).
 *
 * @category Drivers
 */
export type GpuSriovConfig = z.output<typeof gpuSriovConfigSchema>;

/**
 * One GPU driven by a TTM-like memory manager (`struct ttm_device`,
 * kernel-model §1.1, §4.1): the device, its VRAM region (topology kind
 * `vram`, device = the GPU) and the system-RAM region its buffer objects are
 * evicted to (TTM's `TTM_PL_SYSTEM` / GTT).
 *
 * @category Drivers
 */
export const gpuDeviceConfigSchema = z.object({
  /** The GPU's device id in the topology, e.g. "gpu0". */
  id: deviceIdSchema,
  /** The topology region of kind `vram` whose device is this GPU. */
  vram: z.string().min(1),
  /** The topology region of kind `ram` used for system placement. */
  system: z.string().min(1),
  /** SR-IOV: present when the GPU is a PF with VFs (kernel-model §4.1). */
  sriov: gpuSriovConfigSchema.optional(),
});

/**
 * One GPU (see {@link gpuDeviceConfigSchema}).
 *
 * @category Drivers
 */
export type GpuDeviceConfig = z.output<typeof gpuDeviceConfigSchema>;

/**
 * The GPU exporter's configuration: the GPUs it drives.
 *
 * @category Drivers
 */
export const gpuConfigSchema = z
  .object({
    /** The driver's name in the world's config (default "gpu"). */
    name: z.string().min(1).default("gpu"),
    /** The GPUs; ids must be distinct. */
    devices: z.array(gpuDeviceConfigSchema),
  })
  .refine((c) => new Set(c.devices.map((d) => d.id)).size === c.devices.length, {
    message: "device ids are distinct",
    path: ["devices"],
  });

/**
 * The GPU exporter's configuration after defaults (see {@link gpuConfigSchema}).
 *
 * @category Drivers
 */
export type GpuConfig = z.output<typeof gpuConfigSchema>;

/**
 * The GPU exporter's configuration as a caller writes it (defaults optional).
 *
 * @category Drivers
 */
export type GpuConfigInput = z.input<typeof gpuConfigSchema>;
