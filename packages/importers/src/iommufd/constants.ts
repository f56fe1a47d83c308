import {
  IOMMU_DEFAULT_APERTURE_LAST,
  IOMMU_DEFAULT_PGSIZE_BITMAP,
  IOMMU_MSI_WINDOW,
  U64_MAX,
} from "@dmabuf-ref/core";
import type { IovaInterval as CoreIovaInterval } from "@dmabuf-ref/core";

/**
 * The iommufd driver's name: the key of its slice in the World, the module
 * name that allow-lists check (`EXPORT_SYMBOL_FOR_MODULES(..., "iommufd")`,
 * kernel-model §2.7, §4.3) and the target of its `ioctl` trace events.
 *
 * @category Drivers
 */
export const IOMMUFD = "iommufd";

/**
 * The device iommufd attaches dma-bufs with: `iommufd_global_device()`, a
 * dummy misc device that never issues DMA itself (kernel-model §3.3). The
 * devices that really DMA reach the memory through an IOAS's domains.
 *
 * @category Drivers
 */
export const IOMMUFD_GLOBAL_DEVICE = "iommufd";

/** `PAGE_SIZE` on x86-64: 4 KiB. */
export const PAGE_SIZE = 0x1000n;

/** `ULONG_MAX` on x86-64 (equal to `U64_MAX`). */
export const ULONG_MAX = U64_MAX;

/**
 * `PAGE_SIZE`, the most `iopt->iova_alignment` can be (kernel-model §3.1):
 * `iopt_table_add_domain` refuses a domain whose smallest page is larger
 * (`EINVAL`), and `IOMMU_IOAS_IOVA_RANGES` never reports more. An IOAS
 * starts at alignment 1 and reaches this once a 4 KiB domain is attached or
 * large pages are disabled (see `IommufdIoasObject.iovaAlignment`).
 *
 * @category Drivers
 */
export const IOMMUFD_IOVA_ALIGNMENT = PAGE_SIZE;

/**
 * `HPAGE_SIZE` on x86-64 with CONFIG_TRANSPARENT_HUGEPAGE (2 MiB): the cap
 * `iopt_alloc_iova` puts on the alignment it derives from the length and
 * the source offset.
 */
export const HPAGE_SIZE = 0x20_0000n;

/**
 * The page sizes the model's IOMMU domains can map by default
 * (`domain->pgsize_bitmap`: 4 KiB | 2 MiB | 1 GiB, as x86 second-level
 * tables). Its lowest set bit is what an attach raises the IOAS's alignment to.
 */
export const IOMMUFD_DEFAULT_PGSIZE_BITMAP = IOMMU_DEFAULT_PGSIZE_BITMAP;

/**
 * One past the last user address on x86-64 with 4-level paging
 * (`TASK_SIZE_MAX` = 2^47 - PAGE_SIZE): `copy_to_user` / `copy_from_user`
 * past it fault (`access_ok` fails), as does any access to page 0.
 */
export const USER_ADDRESS_END = (1n << 47n) - PAGE_SIZE;

/**
 * An inclusive IOVA interval `[start, last]`, as the kernel's interval trees hold them.
 *
 * @category Drivers
 */
export type IovaInterval = CoreIovaInterval;

/**
 * The x86 MSI window `0xfee00000-0xfeefffff`, an `IOMMU_RESV_MSI` region every
 * attached device reports; `iopt_table_enforce_dev_resv_regions` reserves it
 * in the IOAS once a device is attached.
 *
 * @category Drivers
 */
export const IOMMUFD_MSI_WINDOW: IovaInterval = IOMMU_MSI_WINDOW;

/**
 * Last IOVA of the modelled domains' aperture (48-bit IOVA space). Once a
 * device is attached, `iopt_table_add_domain` reserves everything above it.
 *
 * @category Drivers
 */
export const IOMMUFD_APERTURE_LAST = IOMMU_DEFAULT_APERTURE_LAST;

/**
 * `MAX_NPFNS` of pages.c (`type_max(u32)`): a dma-buf slice of
 * `length / PAGE_SIZE >= MAX_NPFNS` pages is `EINVAL` (kernel-model §3.2).
 *
 * @category Drivers
 */
export const IOMMUFD_MAX_NPFNS = 0xffff_ffffn;
