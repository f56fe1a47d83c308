import * as z from "zod";
import { deviceIdSchema, u64Schema } from "@dmabuf-ref/core";

/**
 * One RDMA NIC whose uverbs context exports BAR memory as dma-bufs
 * ("RDMA/uverbs: Add DMABUF object type and operations", kernel-model §5.2):
 * the device and the topology region (kind `bar`, device = the NIC) its
 * `rdma_user_mmap_entry`s point into.
 *
 * @category Drivers
 */
export const rdmaDeviceConfigSchema = z.object({
  /** The NIC's device id in the topology, e.g. "nic0". */
  id: deviceIdSchema,
  /** The topology region of kind `bar` whose device is this NIC. */
  bar: z.string().min(1),
});

/**
 * One RDMA NIC (see {@link rdmaDeviceConfigSchema}).
 *
 * @category Drivers
 */
export type RdmaDeviceConfig = z.output<typeof rdmaDeviceConfigSchema>;

/**
 * The RDMA exporter's configuration: the NICs it drives.
 *
 * @category Drivers
 */
export const rdmaConfigSchema = z
  .object({
    /** The driver's name in the world's config (default "rdma"). */
    name: z.string().min(1).default("rdma"),
    /** The NICs; ids must be distinct. */
    devices: z.array(rdmaDeviceConfigSchema),
  })
  .refine((c) => new Set(c.devices.map((d) => d.id)).size === c.devices.length, {
    message: "device ids are distinct",
    path: ["devices"],
  });

/**
 * The RDMA exporter's configuration after defaults (see {@link rdmaConfigSchema}).
 *
 * @category Drivers
 */
export type RdmaConfig = z.output<typeof rdmaConfigSchema>;

/**
 * The RDMA exporter's configuration as a caller writes it (defaults optional).
 *
 * @category Drivers
 */
export type RdmaConfigInput = z.input<typeof rdmaConfigSchema>;

/**
 * The RDMA exporter's export arguments: the page-aligned window of the NIC
 * BAR that the `rdma_user_mmap_entry` covers (kernel-model §5.2).
 *
 * @category uAPI
 */
export const rdmaExportArgsSchema = z.object({
  /** Bytes; a non-zero multiple of the page size. */
  size: u64Schema,
  /** Byte offset into the NIC BAR; page aligned. */
  offset: u64Schema.default(0n),
});

/**
 * The RDMA export arguments (see {@link rdmaExportArgsSchema}).
 *
 * @category uAPI
 */
export type RdmaExportArgs = z.output<typeof rdmaExportArgsSchema>;

/**
 * The RDMA driver's actions (core `driver` ops): removing the mmap entry
 * behind a dma-buf (`rdma_user_mmap_entry_remove()`), which revokes it for
 * good (kernel-model §5.2).
 *
 * @category Drivers
 */
export const rdmaActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** `rdma_user_mmap_entry_remove()` of the entry behind a dma-buf. */
    op: z.literal("remove-mmap-entry"),
    /** The dma-buf id. */
    buf: z.number().int().nonnegative(),
  }),
]);

/**
 * One RDMA action (see {@link rdmaActionSchema}).
 *
 * @category Drivers
 */
export type RdmaAction = z.output<typeof rdmaActionSchema>;
