import { driverState, setDriverState } from "@dmabuf-ref/core";
import type { Machine, PhysVec, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { IOMMUFD } from "./constants.js";

/**
 * One entry of a dma-buf's tracker, `struct iopt_pages_dmabuf_track`
 * (kernel-facts §3.4): the area (named by its IOAS and first IOVA) is mapped,
 * or was mapped before a revoke, into the domain.
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
 * `struct iopt_pages` of type `IOPT_ADDRESS_DMABUF` (`struct
 * iopt_pages_dmabuf`, kernel-facts §3.4): the attachment, the physical
 * ranges (empty once revoked: "revoked ⇔ `phys.len == 0`"), the page-aligned
 * offset into the buffer, and the (area, domain) tracker.
 *
 * @remarks
 * Who maps the pages into a domain (`mappedBy`) follows the negotiated
 * type: `iommufd` when it holds physical ranges (the private VFIO
 * interconnect of 6.19/7.1, the RFC's PAL), `core` for the `iommu-domain`
 * type of the converters proposal (kernel-facts §4.4), where `phys` stays
 * empty for good because iommufd never sees the addresses and each (area,
 * domain) pair is a core mapping (see {@link IommufdTrack.att}). `revoked`
 * is the one dead-or-alive flag for both.
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
}

/**
 * `struct iopt_pages` of type `IOPT_ADDRESS_USER`: a VMM's anonymous memory
 * at `user_va`, modelled as one physically contiguous RAM range.
 */
export interface IommufdUserPages {
  /** Discriminant. */
  readonly kind: "user";
  /** The user virtual address `IOMMU_IOAS_MAP` named. */
  readonly userVa: bigint;
  /** CPU physical address of the first byte. */
  readonly phys: bigint;
  /** Bytes. */
  readonly length: bigint;
}

/** `struct iopt_pages`: what an area's IOVAs are backed by. */
export type IommufdPages = IommufdDmabufPages | IommufdUserPages;

/** A pages object and its id in the slice (the kernel refcounts them; areas point at them). */
export interface IommufdPagesEntry {
  /** The pages' id. */
  readonly id: number;
  /** The pages. */
  readonly pages: IommufdPages;
}

/**
 * `struct iopt_area`: a mapped IOVA range of an IOAS and the slice of its
 * pages behind it. An area whose dma-buf pages are revoked is *dead*: it
 * keeps its IOVA but no domain translates it (kernel-facts §3.5, §7.11).
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
 * `struct iommufd_ioas` with its `struct io_pagetable`: the areas (sorted by
 * IOVA) and the domains filled from them (`iopt->domains`).
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
 * A device attached to an IOAS through a domain (the VFIO cdev
 * `VFIO_DEVICE_ATTACH_IOMMUFD_PT` path), and the DMA-API domain it had before.
 */
export interface IommufdDevice {
  /** Its device object's id (`out_devid` of the bind), from the one object id space. */
  readonly id: number;
  /** The device (a topology device id). */
  readonly device: string;
  /** The IOAS it is attached to. */
  readonly ioas: number;
  /** The domain its DMA is translated by now. */
  readonly domain: number;
  /** The domain it was attached to before (restored on detach). */
  readonly previousDomain: number | null;
}

/**
 * iommufd's whole slice of the World: one `struct iommufd_ctx`. A plain
 * immutable value (DESIGN §2a).
 */
export interface IommufdState {
  /** IOAS objects, by increasing id. */
  readonly ioas: readonly IommufdIoas[];
  /** Pages objects. */
  readonly pages: readonly IommufdPagesEntry[];
  /** Attached devices. */
  readonly devices: readonly IommufdDevice[];
  /** HWPT_PAGING objects: the IOMMU domains of the IOASes, each with an object id. */
  readonly hwpts: readonly IommufdHwpt[];
}

/**
 * A `struct iommufd_hwpt_paging`: an IOMMU domain of an IOAS, an object
 * with an id in the one id space (the automatic domain an attach creates
 * is one too; `VFIO_DEVICE_ATTACH_IOMMUFD_PT` writes its id back in `pt_id`).
 */
export interface IommufdHwpt {
  /** The object id. */
  readonly id: number;
  /** The IOAS whose mappings it holds. */
  readonly ioas: number;
  /** The World's IOMMU domain it is. */
  readonly domain: number;
}

const EMPTY: IommufdState = Object.freeze({
  ioas: [],
  pages: [],
  devices: [],
  hwpts: [],
});

/**
 * The id the next iommufd object gets: `ictx->objects` is an xarray that
 * allocates the lowest free id from 1 (`xa_alloc` with `xa_limit_31b`), in
 * one id space for every object kind: IOAS, device and HWPT objects alike.
 *
 * @param s - iommufd's state.
 * @param reserved - ids already taken by an object being built (a bind's
 *   device before the attach's HWPT).
 * @returns the lowest id no object uses.
 */
export function nextObjectId(s: IommufdState, reserved: readonly number[] = []): number {
  return lowestFree([
    ...reserved,
    ...s.ioas.map((x) => x.id),
    ...s.devices.map((x) => x.id),
    ...s.hwpts.map((x) => x.id),
  ]);
}

/**
 * The id the next pages object gets: the lowest free one (the kernel's
 * `struct iopt_pages` has no id; the model's ids are table keys, kept
 * canonical so that worlds repeat).
 *
 * @param s - iommufd's state.
 * @returns the lowest id no pages object uses.
 */
export function nextPagesId(s: IommufdState): number {
  return lowestFree(s.pages.map((x) => x.id));
}

function lowestFree(ids: readonly number[]): number {
  const used = new Set(ids);
  let id = 1;
  while (used.has(id)) id++;
  return id;
}

/**
 * iommufd's slice of a world, for inspection (tests, renderers, the
 * explorer's invariants).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the state; an empty context before the first ioctl.
 */
export function iommufdStateOf(m: Machine, w: World): IommufdState {
  return driverState<IommufdState>(m, w, IOMMUFD, EMPTY);
}

/**
 * Replaces iommufd's slice.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param s - the new state.
 * @returns the new world.
 */
export function putState(m: Machine, w: World, s: IommufdState): World {
  return setDriverState(m, w, IOMMUFD, s);
}

/**
 * An IOAS by id.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the IOAS id.
 * @returns the IOAS, or undefined.
 */
export function findIoas(m: Machine, w: World, id: number): IommufdIoas | undefined {
  return iommufdStateOf(m, w).ioas.find((i) => i.id === id);
}

/**
 * An IOAS that must exist (its absence is a bug in the model).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the IOAS id.
 * @returns the IOAS.
 */
export function mustIoas(m: Machine, w: World, id: number): IommufdIoas {
  const ioas = findIoas(m, w, id);
  if (ioas === undefined) throw new Error(`iommufd: no IOAS ${id}`);
  return ioas;
}

/**
 * Replaces one IOAS.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the new IOAS (same id).
 * @returns the new world.
 */
export function putIoas(m: Machine, w: World, ioas: IommufdIoas): World {
  const s = iommufdStateOf(m, w);
  return putState(m, w, { ...s, ioas: s.ioas.map((i) => (i.id === ioas.id ? ioas : i)) });
}

/**
 * Pages that must exist.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @returns the pages.
 */
export function mustPages(m: Machine, w: World, id: number): IommufdPages {
  const entry = iommufdStateOf(m, w).pages.find((p) => p.id === id);
  if (entry === undefined) throw new Error(`iommufd: no pages ${id}`);
  return entry.pages;
}

/**
 * Replaces (or adds) a pages object.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @param pages - the pages.
 * @returns the new world.
 */
export function putPages(m: Machine, w: World, id: number, pages: IommufdPages): World {
  const s = iommufdStateOf(m, w);
  const rest = s.pages.filter((p) => p.id !== id);
  return putState(m, w, { ...s, pages: [...rest, { id, pages }].sort((a, b) => a.id - b.id) });
}

/**
 * The dma-buf pages behind an attachment, if iommufd made it: the pages'
 * own attachment or one that holds a core mapping of one (area, domain).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @returns the pages' id and value, or undefined.
 */
export function pagesOfAttachment(
  m: Machine,
  w: World,
  att: number,
): { readonly id: number; readonly pages: IommufdDmabufPages } | undefined {
  for (const entry of iommufdStateOf(m, w).pages) {
    const pages = dmabufPages(entry.pages);
    if (pages === null) continue;
    if (pages.att === att || pages.tracker.some((t) => t.att === att)) {
      return { id: entry.id, pages };
    }
  }
  return undefined;
}

/**
 * The devices attached to an IOAS.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @returns the attached devices, in attach order.
 */
export function devicesOf(m: Machine, w: World, ioas: number): readonly IommufdDevice[] {
  return iommufdStateOf(m, w).devices.filter((d) => d.ioas === ioas);
}

/**
 * The dma-buf view of a pages object (`iopt_is_dmabuf`): the pages when
 * they come from a dma-buf, null for user memory.
 *
 * @param pages - the pages.
 * @returns the dma-buf pages, or null.
 */
export function dmabufPages(pages: IommufdPages): IommufdDmabufPages | null {
  return match(pages)
    .returnType<IommufdDmabufPages | null>()
    .with({ kind: "dmabuf" }, (p) => p)
    .with({ kind: "user" }, () => null)
    .exhaustive();
}

/**
 * Whether an area is dead: its dma-buf pages were revoked.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param area - the area.
 * @returns true when no domain may translate it.
 */
export function areaDead(m: Machine, w: World, area: IommufdArea): boolean {
  return dmabufPages(mustPages(m, w, area.pages))?.revoked === true;
}
