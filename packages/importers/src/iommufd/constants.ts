import { U64_MAX } from "@dmabuf-ref/core";

/**
 * The iommufd driver's name: the key of its slice in the World, the module
 * name that allow-lists check (`EXPORT_SYMBOL_FOR_MODULES(..., "iommufd")`,
 * kernel-facts §2.7, §4.3) and the target of its `ioctl` trace events.
 */
export const IOMMUFD = "iommufd";

/**
 * The device iommufd attaches dma-bufs with: `iommufd_global_device()`, a
 * dummy misc device that never issues DMA itself (kernel-facts §3.3). The
 * devices that really DMA reach the memory through an IOAS's domains.
 */
export const IOMMUFD_GLOBAL_DEVICE = "iommufd";

/** `PAGE_SIZE` on x86-64: 4 KiB. */
export const PAGE_SIZE = 0x1000n;

/** `ULONG_MAX` on x86-64 (equal to `U64_MAX`). */
export const ULONG_MAX = U64_MAX;

/**
 * `iopt->iova_alignment` of every modelled IOAS, reported as
 * `out_iova_alignment` by `IOMMU_IOAS_IOVA_RANGES` (kernel-facts §3.1).
 *
 * @remarks
 * The kernel starts an IOAS at alignment 1 and raises it to the smallest
 * page of the first attached domain (4 KiB here). The model fixes it at 4 KiB
 * from the start, as if a domain were always present: IOVAs, lengths and the
 * offset into a file must be page aligned, so attaching a device can never
 * fail on alignment (the kernel's `EADDRINUSE` from `iopt_check_iova_alignment`).
 */
export const IOMMUFD_IOVA_ALIGNMENT = PAGE_SIZE;

/** An inclusive IOVA interval `[start, last]`, as the kernel's interval trees hold them. */
export interface IovaInterval {
  /** First IOVA. */
  readonly start: bigint;
  /** Last IOVA (inclusive, so an interval can end at `ULONG_MAX`). */
  readonly last: bigint;
}

/**
 * The x86 MSI window `0xfee00000-0xfeefffff`, an `IOMMU_RESV_MSI` region every
 * attached device reports; `iopt_table_enforce_dev_resv_regions` reserves it
 * in the IOAS once a device is attached.
 */
export const IOMMUFD_MSI_WINDOW: IovaInterval = Object.freeze({
  start: 0xfee0_0000n,
  last: 0xfeef_ffffn,
});

/**
 * Last IOVA of the modelled domains' aperture (48-bit IOVA space). Once a
 * device is attached, `iopt_table_add_domain` reserves everything above it.
 */
export const IOMMUFD_APERTURE_LAST = (1n << 48n) - 1n;

/**
 * `MAX_NPFNS` of pages.c (`type_max(u32)`): a dma-buf slice of
 * `length / PAGE_SIZE >= MAX_NPFNS` pages is `EINVAL` (kernel-facts §3.2).
 */
export const IOMMUFD_MAX_NPFNS = 0xffff_ffffn;
