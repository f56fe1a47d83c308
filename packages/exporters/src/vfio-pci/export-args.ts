import * as z from "zod";
import { u64Schema } from "@dmabuf-ref/core";

/**
 * `O_RDWR` on x86-64.
 *
 * @category uAPI
 */
export const O_RDWR = 0o2;
/**
 * `O_CLOEXEC` on x86-64.
 *
 * @category uAPI
 */
export const O_CLOEXEC = 0o2000000;

/**
 * The arguments of a core `export` op for vfio-pci: either the raw user
 * buffer of `VFIO_DEVICE_FEATURE` (header included), or the request's fields,
 * which the driver encodes byte for byte as GET of `VFIO_DEVICE_FEATURE_DMA_BUF`.
 * Either way it runs the ioctl's checks in the kernel's order.
 *
 * @category uAPI
 */
export const vfioExportArgsSchema = z.union([
  z.object({
    /** The bytes the ioctl argument points at. */
    argp: z.instanceof(Uint8Array),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
  z.object({
    /** The BAR (`region_index`). */
    region_index: z.number().int().min(0).max(0xffffffff),
    /** `open_flags` (default `O_RDWR | O_CLOEXEC`). */
    open_flags: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(O_RDWR | O_CLOEXEC),
    /** `flags` (must be 0). */
    flags: z.number().int().min(0).max(0xffffffff).default(0),
    /** `dma_ranges[]`. */
    ranges: z.array(
      z.object({
        /** Offset into the BAR. */
        offset: u64Schema,
        /** Length in bytes. */
        length: u64Schema,
      }),
    ),
    /** The calling process. */
    process: z.string().min(1).default("vmm"),
  }),
]);

/**
 * The arguments of a vfio-pci `export` op (see {@link vfioExportArgsSchema}).
 *
 * @category uAPI
 */
export type VfioExportArgs = z.input<typeof vfioExportArgsSchema>;
