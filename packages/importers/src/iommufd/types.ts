import type { PagePiece, PhysVec } from "@dmabuf-ref/core";
import type { IovaTree, PTable } from "@dmabuf-ref/core/encoding";
import type { IovaInterval } from "./constants.js";

/*
 * iommufd's kernel objects as the World keeps them (`ictx->objects`, the
 * `struct iopt_pages`), and the plain view tests and renderers read
 * (`iommufdStateOf` in objects.ts). Types only.
 */

/**
 * One entry of a dma-buf's tracker, `struct iopt_pages_dmabuf_track`
 * (kernel-model §3.4): the area (named by its IOAS and first IOVA) is mapped,
 * or was mapped before a revoke, into the domain.
 *
 * @kernel drivers/iommu/iommufd/io_pagetable.h iopt_pages_dmabuf_track
 * @category Drivers
 */
export interface IommufdTrack {
  /** The IOAS of the area. */
  readonly ioas: number;
  /** The area's first IOVA. */
  readonly iova: bigint;
  /** The IOMMU domain (an id of `world.domains`). */
  readonly domain: number;
  /**
   * The core attachment holding this pair's mapping when core maps it
   * (`mappedBy: "core"`, see {@link IommufdDmabufPages}); absent when
   * iommufd maps the pair itself or the pages were revoked before the fill.
   */
  readonly att?: number;
}

/**
 * An area that holds a reference to its pages (`pages->kref`, one per
 * `struct iopt_area` whose `area->pages` points at them), named by its IOAS
 * and first IOVA.
 *
 * @category Drivers
 */
export interface IommufdAreaRef {
  /** The area's IOAS. */
  readonly ioas: number;
  /** The area's first IOVA. */
  readonly iova: bigint;
}

/**
 * `struct iopt_pages` of type `IOPT_ADDRESS_DMABUF` (`struct
 * iopt_pages_dmabuf`, kernel-model §3.4): the attachment, the physical
 * ranges (empty once revoked: "revoked ⇔ `phys.len == 0`"), the page-aligned
 * offset into the buffer, and the (area, domain) tracker.
 *
 * @remarks
 * Who maps the pages into a domain (`mappedBy`) follows the negotiated
 * type: `iommufd` when it holds physical ranges (the private VFIO
 * interconnect of 6.19/7.1, the RFC's PAL), `core` for the `iommu-domain`
 * type of the converters proposal (kernel-model §4.4), where `phys` stays
 * empty for good because iommufd never sees the addresses and each (area,
 * domain) pair is a core mapping (see {@link IommufdTrack.att}). `revoked`
 * is the one dead-or-alive flag for both.
 * @kernel drivers/iommu/iommufd/io_pagetable.h iopt_pages_dmabuf
 * @category Drivers
 */
export interface IommufdDmabufPages {
  /** Discriminant. */
  readonly kind: "dmabuf";
  /** The dma-buf id (the fd userspace passed). */
  readonly buf: number;
  /** The dynamic attachment iommufd made (`pages->dmabuf.attach`). */
  readonly att: number;
  /** The exporter's physical ranges; empty after a revoke, for good, and always when core maps. */
  readonly phys: readonly PhysVec[];
  /** Who iommu_map()s the pages into a domain: iommufd itself, or dma-buf core. */
  readonly mappedBy: "iommufd" | "core";
  /** `iopt_dmabuf_revoked()`: revoked, for good. */
  readonly revoked: boolean;
  /** `pages->dmabuf.start`: byte offset into the buffer, page aligned. */
  readonly start: bigint;
  /** Bytes of the buffer the pages cover, from `start`. */
  readonly length: bigint;
  /** `pages->dmabuf.tracker`: every (area, domain) pair filled from these pages. */
  readonly tracker: readonly IommufdTrack[];
  /** `pages->kref`: the areas using these pages, sorted by IOAS then IOVA (kept by `setArea`). */
  readonly users: readonly IommufdAreaRef[];
}

/**
 * `struct iopt_pages` of type `IOPT_ADDRESS_USER`: a process's memory at
 * `user_va` (`IOMMU_IOAS_MAP`). Pinned (`pin_user_pages`, FOLL_LONGTERM)
 * only once a domain needs the PFNs: `pinned` is null until then.
 *
 * @category Drivers
 */
export interface IommufdUserPages {
  /** Discriminant. */
  readonly kind: "user";
  /** The process whose memory it is (its mm). */
  readonly process: string;
  /** The user virtual address `IOMMU_IOAS_MAP` named. */
  readonly userVa: bigint;
  /** Bytes. */
  readonly length: bigint;
  /** `pages->writable`: mapped `IOMMU_IOAS_MAP_WRITEABLE`, so pinned with FOLL_WRITE. */
  readonly writable: boolean;
  /** The pinned pieces from `userVa`, in order, or null while nothing needed the pages. */
  readonly pinned: readonly PagePiece[] | null;
  /** `pages->kref`: the areas using these pages, sorted by IOAS then IOVA (kept by `setArea`). */
  readonly users: readonly IommufdAreaRef[];
}

/**
 * `struct iopt_pages` of type `IOPT_ADDRESS_FILE`: a memfd's pages from a
 * byte offset (`IOMMU_IOAS_MAP_FILE` of a memfd, `memfd_pin_folios`),
 * pinned once a domain needs them.
 *
 * @category Drivers
 */
export interface IommufdFilePages {
  /** Discriminant. */
  readonly kind: "file";
  /** The memfd's fd number. */
  readonly fd: number;
  /** The file offset of the first byte (`start` of `IOMMU_IOAS_MAP_FILE`). */
  readonly start: bigint;
  /** Bytes. */
  readonly length: bigint;
  /** `pages->writable`: mapped `IOMMU_IOAS_MAP_WRITEABLE`. */
  readonly writable: boolean;
  /** The pinned pieces from `start`, in order, or null while nothing needed the pages. */
  readonly pinned: readonly PagePiece[] | null;
  /** `pages->kref`: the areas using these pages, sorted by IOAS then IOVA (kept by `setArea`). */
  readonly users: readonly IommufdAreaRef[];
}

/**
 * `struct iopt_pages`: what an area's IOVAs are backed by.
 *
 * @kernel drivers/iommu/iommufd/io_pagetable.h iopt_pages
 * @category Drivers
 */
export type IommufdPages = IommufdDmabufPages | IommufdUserPages | IommufdFilePages;

/**
 * A pages object and its id in the slice (the kernel refcounts them; areas point at them).
 *
 * @category Drivers
 */
export interface IommufdPagesEntry {
  /** The pages' id. */
  readonly id: number;
  /** The pages. */
  readonly pages: IommufdPages;
}

/**
 * `struct iopt_area`: a mapped IOVA range of an IOAS and the slice of its
 * pages behind it. An area whose dma-buf pages are revoked is *dead*: it
 * keeps its IOVA but no domain translates it (kernel-model §3.5, §7.11).
 *
 * @kernel drivers/iommu/iommufd/io_pagetable.h iopt_area
 * @category Drivers
 */
export interface IommufdArea {
  /** First IOVA (page aligned). */
  readonly iova: bigint;
  /** Bytes (page aligned). */
  readonly length: bigint;
  /** The pages' id. */
  readonly pages: number;
  /** `iopt_area_start_byte(area, iova)`: byte offset of the first IOVA within the pages. */
  readonly offset: bigint;
  /** `IOMMU_READ` (`IOMMU_IOAS_MAP_READABLE`). */
  readonly read: boolean;
  /** `IOMMU_WRITE` (`IOMMU_IOAS_MAP_WRITEABLE`). */
  readonly write: boolean;
  /** The oracle grants this area gives the attached devices (none while dead). */
  readonly grants: readonly number[];
}

/**
 * `struct iommufd_ioas` with its `struct io_pagetable`, as an object of
 * `ictx->objects`: the areas (`iopt->area_itree`) and the domains filled
 * from them (`iopt->domains`).
 *
 * @kernel drivers/iommu/iommufd/iommufd_private.h iommufd_ioas
 *   drivers/iommu/iommufd/io_pagetable.h io_pagetable
 * @category Drivers
 */
export interface IommufdIoasObject {
  /** Discriminant: an IOAS (`IOMMUFD_OBJ_IOAS`). */
  readonly kind: "ioas";
  /**
   * The areas, never overlapping, keyed by a slot nothing observes (the
   * IOAS compares them as a set), indexed by IOVA like `iopt->area_itree`
   * (each range names its slot); `areasOf` lists them by IOVA.
   */
  readonly areas: PTable<IommufdArea, IovaTree<number>>;
  /** IOMMU domains (ids of `world.domains`) attached to this IOAS, in the order they came. */
  readonly domains: readonly number[];
  /**
   * `iopt->iova_alignment`: 1 with no domain; the largest smallest page size
   * of the domains (PAGE_SIZE at least while large pages are disabled), kept
   * by `iopt_table_add_domain` and `iopt_calculate_iova_alignment`.
   */
  readonly iovaAlignment: bigint;
  /** `iopt->disable_large_pages` (`IOMMU_OPTION_HUGE_PAGES` set to 0). */
  readonly disableLargePages: boolean;
  /**
   * `iopt->allowed_itree` (`IOMMU_IOAS_ALLOW_IOVAS`), sorted by start: when
   * not empty, automatic IOVA placement stays inside these ranges and no
   * reservation may cut them.
   */
  readonly allowed: readonly IovaInterval[];
  /**
   * The entries of `iopt->reserved_itree` with no owner, in the order they
   * came: only `IOMMU_TEST_OP_ADD_RESERVED` adds them, and they stay until
   * the IOAS is destroyed (the other entries are derived from their
   * owners, `reservedIovas`).
   */
  readonly testReserved: readonly IovaInterval[];
}

/**
 * Where a bound device is attached (`idev->igroup->hwpt` and the IOAS it
 * maps), as `VFIO_DEVICE_ATTACH_IOMMUFD_PT` left it.
 *
 * @category Drivers
 */
export interface IommufdDeviceAttachment {
  /** The IOAS it is attached to. */
  readonly ioas: number;
  /** The HWPT_PAGING object it is attached through (`idev->igroup->hwpt`). */
  readonly hwpt: number;
  /** The domain its DMA is translated by now. */
  readonly domain: number;
  /** The domain it was attached to before (restored on detach). */
  readonly previousDomain: number | null;
}

/**
 * `struct iommufd_device`, as an object of `ictx->objects`: a device bound
 * and attached to an IOAS through a HWPT (the VFIO cdev
 * `VFIO_DEVICE_ATTACH_IOMMUFD_PT` path), and the DMA-API domain it had before.
 *
 * @kernel drivers/iommu/iommufd/iommufd_private.h iommufd_device
 * @category Drivers
 */
export interface IommufdDeviceObject {
  /** Discriminant: a device (`IOMMUFD_OBJ_DEVICE`). */
  readonly kind: "device";
  /** The device (a topology device id). */
  readonly device: string;
  /**
   * Where it is attached, or null while it is only bound
   * (`VFIO_DEVICE_BIND_IOMMUFD` done, no `VFIO_DEVICE_ATTACH_IOMMUFD_PT` yet,
   * or detached since).
   */
  readonly attach: IommufdDeviceAttachment | null;
}

/**
 * `struct iommufd_hwpt_paging`, as an object of `ictx->objects`: an IOMMU
 * domain of an IOAS (the automatic domain an attach creates is one too;
 * `VFIO_DEVICE_ATTACH_IOMMUFD_PT` writes its id back in `pt_id`).
 *
 * @kernel drivers/iommu/iommufd/iommufd_private.h iommufd_hwpt_paging
 * @category Drivers
 */
export interface IommufdHwptObject {
  /** Discriminant: a HWPT (`IOMMUFD_OBJ_HWPT_PAGING`). */
  readonly kind: "hwpt";
  /** The IOAS whose mappings it holds. */
  readonly ioas: number;
  /** The World's IOMMU domain it is. */
  readonly domain: number;
  /** `domain->pgsize_bitmap`: the page sizes the domain can map; its lowest bit drives the IOAS alignment. */
  readonly pgsizeBitmap: bigint;
  /** `domain->geometry`: the IOVA it translates (inclusive); the rest of the IOAS is reserved while it is in. */
  readonly aperture: IovaInterval;
  /**
   * `hwpt_paging->auto_domain`: made by an attach to an IOAS (shared by
   * later attaches, destroyed with its last device), not by `IOMMU_HWPT_ALLOC`.
   */
  readonly auto: boolean;
}

/**
 * One object of `ictx->objects`, the one xarray of every object kind.
 *
 * @category Drivers
 */
export type IommufdObject = IommufdIoasObject | IommufdDeviceObject | IommufdHwptObject;

/**
 * An IOAS as `iommufdStateOf` shows it: its object id, its areas
 * sorted by IOVA, its domains.
 *
 * @category Drivers
 */
export interface IommufdIoas {
  /** The object id (`out_ioas_id`). */
  readonly id: number;
  /** Areas, sorted by IOVA, never overlapping. */
  readonly areas: readonly IommufdArea[];
  /** IOMMU domains (ids of `world.domains`) attached to this IOAS. */
  readonly domains: readonly number[];
}

/**
 * An attached device as `iommufdStateOf` and `devicesOf` show it: its
 * device object (`struct iommufd_device`) with its id.
 *
 * @category Drivers
 */
export interface IommufdDevice {
  /** Its device object's id (`out_devid` of the bind), from the one object id space. */
  readonly id: number;
  /** The device (a topology device id). */
  readonly device: string;
  /** The IOAS it is attached to. */
  readonly ioas: number;
  /** The HWPT_PAGING object it is attached through. */
  readonly hwpt: number;
  /** The domain its DMA is translated by now. */
  readonly domain: number;
  /** The domain it was attached to before (restored on detach). */
  readonly previousDomain: number | null;
}

/**
 * A `struct iommufd_hwpt_paging` as `iommufdStateOf` shows it: its object
 * with its id.
 *
 * @category Drivers
 */
export interface IommufdHwpt {
  /** The object id. */
  readonly id: number;
  /** The IOAS whose mappings it holds. */
  readonly ioas: number;
  /** The World's IOMMU domain it is. */
  readonly domain: number;
}

/**
 * iommufd's state (one `struct iommufd_ctx`) as plain arrays, for
 * inspection by tests and renderers (`iommufdStateOf`). The World keeps it
 * in the driver's slices (`ictx->objects`, the pages, two small indexes).
 *
 * @category Drivers
 */
export interface IommufdState {
  /** IOAS objects, by increasing id. */
  readonly ioas: readonly IommufdIoas[];
  /** Pages objects, by increasing id. */
  readonly pages: readonly IommufdPagesEntry[];
  /** Attached devices, in attach order. */
  readonly devices: readonly IommufdDevice[];
  /** HWPT_PAGING objects, by increasing id. */
  readonly hwpts: readonly IommufdHwpt[];
  /** Every bound device (attached or not), in bind order: its device object id and name. */
  readonly bound: readonly {
    /** The device object's id (`out_devid` of `VFIO_DEVICE_BIND_IOMMUFD`). */
    readonly id: number;
    /** The device's name in the topology. */
    readonly device: string;
  }[];
}

/**
 * The context's own state, `struct iommufd_ctx` beyond its objects:
 * `ictx->account_mode` (`IOMMU_OPTION_RLIMIT_MODE`: 0 charges pinned pages
 * to the user, 1 to the process's mm).
 *
 * @kernel drivers/iommu/iommufd/iommufd_private.h iommufd_ctx
 * @category Drivers
 */
export interface IommufdCtx {
  /** 0 (`IOPT_PAGES_ACCOUNT_USER`, the default) or 1 (`IOPT_PAGES_ACCOUNT_MM`). */
  readonly accountMode: number;
  /**
   * Attachments whose pages state `iopt_release_pages` already destroyed
   * but which it has not yet detached: the window of the 6.19.0-7.1.4
   * release order (fixed by f2d70dbd3dce), closed by the `release-detach`
   * continuation. Always empty under the fixed order.
   */
  readonly releasing: readonly number[];
  /**
   * `ictx->vfio_ioas`: the IOAS VFIO container compatibility works on
   * (`IOMMU_VFIO_IOAS` SET), or null.
   */
  readonly vfioIoas: number | null;
}
