/*
 * io_pagetable.c: an IOAS's IOVA space and its areas. Models
 * `iopt_insert_area` / `iopt_remove_area` (setArea, which keeps
 * `pages->kref`); `iopt_map_pages` once the IOVA is chosen, with
 * `iopt_fill_domains_pages` (insertArea); `iopt_unmap_iova_range` for one
 * area, with `iopt_area_unfill_domains` and `iopt_release_pages`
 * (removeArea); the reserved ranges (`iopt->reserved_itree`,
 * `iopt_table_enforce_dev_resv_regions`, `iopt_table_add_domain`) and their
 * holes; `iopt_alloc_iova`, `iopt_check_iova` and `iopt_alloc_area_pages`
 * (placeIova); `iopt_cut_iova` / `iopt_area_split`. The area tree's readers
 * (`iopt_area_iter_first`, io_pagetable.h) are in objects.ts and
 * `batch_to_domain` (areaChunks) in pages.ts: pages.c's fill and revoke use
 * them, and this file imports pages.ts, so here they would close a cycle.
 */
import { blocked, done, endGrants, err, failed, hex, ok } from "@dmabuf-ref/core";
import type { Effect, Machine, Result, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import {
  IOMMUFD,
  IOMMUFD_APERTURE_LAST,
  IOMMUFD_IOVA_ALIGNMENT,
  IOMMUFD_MSI_WINDOW,
  PAGE_SIZE,
  ULONG_MAX,
} from "./constants.js";
import type { IovaInterval } from "./constants.js";
import { grantArea } from "./grants.js";
import {
  areaAt,
  areaContaining,
  areasIn,
  areasOf,
  devicesOf,
  findIoas,
  mustIoas,
  putIoas,
  slotAt,
} from "./objects.js";
import {
  deletePages,
  dmabufPages,
  fillArea,
  mustPages,
  putPages,
  releaseDmabuf,
  unfillArea,
} from "./pages.js";
import type { IommufdArea, IommufdAreaRef, IommufdPages } from "./types.js";

function compareRefs(a: IommufdAreaRef, b: IommufdAreaRef): number {
  if (a.ioas !== b.ioas) return a.ioas - b.ioas;
  return a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0;
}

function withUsers(pages: IommufdPages, users: readonly IommufdAreaRef[]): IommufdPages {
  return { ...pages, users };
}

/**
 * Inserts, replaces or removes the area that starts at `iova` in an IOAS
 * (`iopt_insert_area` / `iopt_remove_area`), keeping the references the
 * pages count (`pages->kref`): an area holds one on its pages.
 *
 * @param m - the machine.
 * @param w - the world; the new area's pages must exist.
 * @param ioas - the IOAS id.
 * @param iova - the area's first IOVA.
 * @param area - the new area (its `iova` is `iova`), or null to remove it.
 * @returns the new world.
 */
export function setArea(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  area: IommufdArea | null,
): World {
  const io = mustIoas(m, w, ioas);
  const slot = slotAt(io, iova);
  const old = slot === undefined ? undefined : io.areas.get(slot);
  const areas =
    area === null
      ? slot === undefined
        ? io.areas
        : io.areas.delete(slot)
      : io.areas.set(slot ?? io.areas.lowestFreeId(), area);
  let world = putIoas(m, w, ioas, { ...io, areas });
  if (old?.pages === area?.pages) return world;
  const ref: IommufdAreaRef = { ioas, iova };
  if (old !== undefined) {
    const pages = mustPages(m, world, old.pages);
    const users = pages.users.filter((u) => u.ioas !== ioas || u.iova !== iova);
    world = putPages(m, world, old.pages, withUsers(pages, users));
  }
  if (area !== null) {
    const pages = mustPages(m, world, area.pages);
    world = putPages(
      m,
      world,
      area.pages,
      withUsers(pages, [...pages.users, ref].sort(compareRefs)),
    );
  }
  return world;
}

/**
 * `iopt_map_pages` after the IOVA is chosen: inserts the area, fills every
 * domain of the IOAS with it (`iopt_area_fill_domains`, tracking dma-buf
 * pairs) and grants the attached devices access. A domain that core fills
 * (kernel-facts §4.4) may refuse or sleep; then nothing changes.
 *
 * @param m - the machine.
 * @param w - the world, with the area's pages already in the slice.
 * @param ioas - the IOAS id.
 * @param area - the new area (its `grants` are ignored and recomputed).
 * @returns the outcome.
 */
export function insertArea(m: Machine, w: World, ioas: number, area: IommufdArea): StepOutcome {
  let world = setArea(m, w, ioas, area.iova, { ...area, grants: [] });
  const events: TraceEvent[] = [];
  for (const domain of mustIoas(m, world, ioas).domains) {
    const filled = fillArea(m, world, ioas, area, domain);
    if (filled.status === "failed") return failed(w, filled.error);
    if (filled.status === "blocked") return blocked(w, "resv", filled.reason);
    world = filled.world;
    events.push(...filled.events);
  }
  const granted = grantArea(
    m,
    world,
    area,
    devicesOf(m, world, ioas).map((d) => d.device),
  );
  world = setArea(m, granted.world, ioas, area.iova, { ...area, grants: granted.grants });
  return done(world, events);
}

/**
 * {@link insertArea} for user memory, which iommufd maps itself and which
 * can neither fail nor sleep.
 *
 * @param m - the machine.
 * @param w - the world, with the area's pages already in the slice.
 * @param ioas - the IOAS id.
 * @param area - the new area.
 * @returns the world and events.
 */
export function insertUserArea(m: Machine, w: World, ioas: number, area: IommufdArea): Effect {
  const r = insertArea(m, w, ioas, area);
  if (r.status !== "done") throw new Error("iommufd: filling user memory cannot fail or sleep");
  return r;
}

/**
 * Tears one area down (`iopt_unmap_iova_range` for one area): unmaps it
 * from every domain (skipping a revoked one), untracks it, ends its grants,
 * and, when no other area uses its pages, releases them (for a dma-buf:
 * unpin and detach under resv, `iopt_release_pages`). Sleeps (blocked, the
 * world unchanged) when that release needs a resv someone else holds.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param iova - the area's first IOVA.
 * @param opts - `keepPages`: leave the pages in place even if unused (a
 *   split re-inserts halves that use them).
 * @returns the outcome.
 */
export function removeArea(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  opts: { readonly keepPages?: boolean } = {},
): StepOutcome {
  const area = areaAt(mustIoas(m, w, ioas), iova);
  if (area === undefined) throw new Error(`iommufd: no area at ${hex(iova)} in IOAS ${ioas}`);
  let world = w;
  const events: TraceEvent[] = [];
  for (const domain of mustIoas(m, w, ioas).domains) {
    const unfilled = unfillArea(m, world, ioas, area, domain);
    if (unfilled.status === "blocked") return blocked(w, "resv", unfilled.reason);
    if (unfilled.status === "failed") throw new Error(`iommufd: unfill: ${unfilled.error.message}`);
    world = unfilled.world;
    events.push(...unfilled.events);
  }
  world = setArea(m, endGrants(world, area.grants), ioas, iova, null);
  events.push({
    kind: "note",
    actor: IOMMUFD,
    text: `IOAS ${ioas}: area ${hex(iova)}+${hex(area.length)} removed`,
  });
  const inUse = mustPages(m, world, area.pages).users.length > 0;
  if (inUse || opts.keepPages === true) return done(world, events);
  const pages = dmabufPages(mustPages(m, world, area.pages));
  if (pages !== null) {
    const released = releaseDmabuf(m, world, pages.att);
    if (released.status === "blocked") return blocked(w, "resv", released.reason);
    if (released.status === "failed")
      throw new Error(`iommufd: release failed: ${released.error.message}`);
    world = released.world;
    events.push(...released.events);
  }
  world = deletePages(m, world, area.pages);
  return done(world, events);
}

/**
 * What an attached device reserves in its IOAS: its MSI window
 * (`iopt_table_enforce_dev_resv_regions`) and everything above the domain
 * aperture (`iopt_table_add_domain`).
 */
export const DEVICE_RESERVATIONS: readonly IovaInterval[] = Object.freeze([
  IOMMUFD_MSI_WINDOW,
  { start: IOMMUFD_APERTURE_LAST + 1n, last: ULONG_MAX },
]);

/**
 * `iopt->reserved_itree` of an IOAS: nothing while no device is attached;
 * once one is, its MSI window (`iopt_table_enforce_dev_resv_regions`) and
 * everything above the domain aperture (`iopt_table_add_domain`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @returns the reserved intervals, sorted.
 */
export function reservedIovas(m: Machine, w: World, ioas: number): readonly IovaInterval[] {
  return devicesOf(m, w, ioas).length === 0 ? [] : DEVICE_RESERVATIONS;
}

/**
 * The IOVA intervals an IOAS's areas occupy, sorted.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @returns one interval per area, dead areas included.
 */
export function areaIntervals(m: Machine, w: World, ioas: number): readonly IovaInterval[] {
  return areasOf(mustIoas(m, w, ioas)).map((a) => ({
    start: a.iova,
    last: a.iova + a.length - 1n,
  }));
}

/**
 * Whether two inclusive intervals intersect.
 *
 * @param a - one interval.
 * @param b - the other.
 * @returns true when they share an IOVA.
 */
export function intersects(a: IovaInterval, b: IovaInterval): boolean {
  return a.start <= b.last && b.start <= a.last;
}

/**
 * The holes of a sorted list of intervals within `[0, ULONG_MAX]`: what
 * `IOMMU_IOAS_IOVA_RANGES` reports as allowed (`interval_tree_for_each_span`
 * over the reserved tree).
 *
 * @param used - sorted, non-overlapping intervals.
 * @returns the gaps between them, sorted.
 */
export function holesOf(used: readonly IovaInterval[]): readonly IovaInterval[] {
  const holes: IovaInterval[] = [];
  let cursor = 0n;
  let ended = false;
  for (const u of used) {
    if (u.start > cursor) holes.push({ start: cursor, last: u.start - 1n });
    if (u.last === ULONG_MAX) {
      ended = true;
      break;
    }
    if (u.last + 1n > cursor) cursor = u.last + 1n;
  }
  if (!ended) holes.push({ start: cursor, last: ULONG_MAX });
  return holes;
}

function roundupPowerOfTwo(v: bigint): bigint {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
}

function lowestSetBit(v: bigint): bigint {
  return v & -v;
}

/**
 * `iopt_alloc_iova`: picks the lowest free IOVA, never 0, that fits
 * `length` bytes (kernel-facts §3.1). The alignment keeps the low bits of
 * `addr` (`min(roundup_pow_of_two(length), 1 << __ffs(addr))`, capped at a
 * page with no transparent huge pages), and `page_offset = addr % PAGE_SIZE`
 * is kept in the result.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param addr - the user address or file offset the mapping starts at.
 * @param length - bytes.
 * @returns the IOVA, or `EOVERFLOW` (huge length), `EINVAL` (alignment below
 *   the IOAS's) or `ENOSPC` (no hole fits).
 */
export function allocIovaFor(
  m: Machine,
  w: World,
  ioas: number,
  addr: bigint,
  length: bigint,
): Result<bigint> {
  if (length === 0n || length >= ULONG_MAX / 2n) {
    return err("EOVERFLOW", () => `length ${hex(length)} is too large to allocate IOVA for`);
  }
  const pow = roundupPowerOfTwo(length);
  let alignment = addr === 0n ? pow : pow < lowestSetBit(addr) ? pow : lowestSetBit(addr);
  if (alignment >= PAGE_SIZE) alignment = PAGE_SIZE;
  if (alignment < IOMMUFD_IOVA_ALIGNMENT) {
    return err(
      "EINVAL",
      () =>
        `IOVA alignment ${hex(alignment)} from address ${hex(addr)} is below the IOAS's ${hex(IOMMUFD_IOVA_ALIGNMENT)}`,
    );
  }
  const pageOffset = addr % PAGE_SIZE;
  const used = [...reservedIovas(m, w, ioas), ...areaIntervals(m, w, ioas)].sort((a, b) =>
    a.start < b.start ? -1 : a.start > b.start ? 1 : 0,
  );
  const allowed: IovaInterval = { start: PAGE_SIZE, last: ULONG_MAX - PAGE_SIZE };
  for (const hole of holesOf(used)) {
    const start = hole.start > allowed.start ? hole.start : allowed.start;
    const last = hole.last < allowed.last ? hole.last : allowed.last;
    if (start > last) continue;
    const aligned = (((start + alignment - 1n) / alignment) * alignment) | pageOffset;
    if (aligned >= last || last - aligned < length - 1n) continue;
    return ok(aligned);
  }
  return err("ENOSPC", () => `no free IOVA range of ${hex(length)} bytes in IOAS ${ioas}`);
}

/**
 * `iopt_check_iova`, the `IOMMU_IOAS_MAP_FIXED_IOVA` rules (kernel-facts
 * §3.1): a misaligned IOVA or one in a reserved range is `EINVAL`, a range
 * that wraps is `EOVERFLOW`, and overlapping any area, dead ones included,
 * is `EEXIST`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param iova - the IOVA userspace chose.
 * @param length - bytes (non-zero).
 * @returns nothing, or the errno.
 */
export function checkFixedIova(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  length: bigint,
): Result<undefined> {
  if (iova % IOMMUFD_IOVA_ALIGNMENT !== 0n) {
    return err("EINVAL", () => `IOVA ${hex(iova)} is not ${hex(IOMMUFD_IOVA_ALIGNMENT)} aligned`);
  }
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return err("EOVERFLOW", () => `IOVA ${hex(iova)} + length wraps`);
  const range: IovaInterval = { start: iova, last };
  const reserved = reservedIovas(m, w, ioas).find((r) => intersects(r, range));
  if (reserved !== undefined) {
    return err(
      "EINVAL",
      () =>
        `IOVA ${hex(iova)}..${hex(last)} meets reserved ${hex(reserved.start)}..${hex(reserved.last)}`,
    );
  }
  if (areasIn(mustIoas(m, w, ioas), iova, length).length > 0) {
    return err("EEXIST", () => `IOVA ${hex(iova)}..${hex(last)} overlaps a mapped area`);
  }
  return ok(undefined);
}

function fixedAt(m: Machine, w: World, ioas: number, iova: bigint, length: bigint): Result<bigint> {
  const checked = checkFixedIova(m, w, ioas, iova, length);
  return checked.ok ? ok(iova) : checked;
}

/**
 * `iopt_alloc_area_pages` + `iopt_insert_area`: where a new area goes. A
 * length that is not a multiple of the IOAS alignment is `EINVAL`; then
 * `FIXED_IOVA` checks the given IOVA ({@link checkFixedIova}) or the
 * allocator picks one ({@link allocIovaFor}); last, the area's offset into
 * its first page must be aligned too (`EINVAL`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param fixed - `IOMMU_IOAS_MAP_FIXED_IOVA` was given.
 * @param iova - the IOVA userspace passed (used only when fixed).
 * @param addr - the user address or file offset the mapping starts at.
 * @param pageOffset - `addr % PAGE_SIZE`, the area's `page_offset`.
 * @param length - bytes.
 * @returns the IOVA, or the errno.
 */
export function placeIova(
  m: Machine,
  w: World,
  ioas: number,
  fixed: boolean,
  iova: bigint,
  addr: bigint,
  pageOffset: bigint,
  length: bigint,
): Result<bigint> {
  if (length % IOMMUFD_IOVA_ALIGNMENT !== 0n) {
    return err(
      "EINVAL",
      () => `length ${hex(length)} is not ${hex(IOMMUFD_IOVA_ALIGNMENT)} aligned`,
    );
  }
  const placed = fixed ? fixedAt(m, w, ioas, iova, length) : allocIovaFor(m, w, ioas, addr, length);
  if (!placed.ok) return placed;
  if (pageOffset % IOMMUFD_IOVA_ALIGNMENT !== 0n) {
    return err("EINVAL", () => `offset ${hex(pageOffset)} into the first page is not aligned`);
  }
  return placed;
}

/**
 * `iopt_cut_iova` / `iopt_area_split` (kernel-facts §3.4): splits areas so
 * that each given IOVA becomes the last byte of an area, as the VFIO type1
 * compatibility unmap does (with large pages disabled) before unmapping part
 * of a mapping. An IOVA in no area, or at an area's first or last byte, is
 * skipped. Splitting a dma-buf area is `EOPNOTSUPP`; a split point whose next
 * byte is not page aligned is `EINVAL`; unknown IOAS `ENOENT`. The two
 * halves share the pages. On any error the world is unchanged.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param ioas - the IOAS id.
 * @param iovas - the IOVAs to cut after, in order.
 * @returns the world and events, or the errno.
 */
export function iommufdCutIova(
  m: Machine,
  world: World,
  ioas: number,
  iovas: readonly bigint[],
): Result<Effect> {
  if (findIoas(m, world, ioas) === undefined) return err("ENOENT", () => `no IOAS ${ioas}`);
  let w = world;
  const events: TraceEvent[] = [];
  for (const iova of iovas) {
    const area = areaContaining(mustIoas(m, w, ioas), iova);
    if (area === undefined) continue;
    const areaLast = area.iova + area.length - 1n;
    if (iova === area.iova || iova === areaLast) continue;
    if (dmabufPages(mustPages(m, w, area.pages)) !== null) {
      return err("EOPNOTSUPP", () => `area ${hex(area.iova)} is a dma-buf: it cannot be split`);
    }
    const newStart = iova + 1n;
    const rhsOffset = area.offset + (newStart - area.iova);
    if (newStart % IOMMUFD_IOVA_ALIGNMENT !== 0n || rhsOffset % IOMMUFD_IOVA_ALIGNMENT !== 0n) {
      return err("EINVAL", () => `cut after ${hex(iova)} is not page aligned`);
    }
    const lhs = { ...area, length: newStart - area.iova, grants: [] };
    const rhs = {
      ...area,
      iova: newStart,
      length: areaLast - newStart + 1n,
      offset: rhsOffset,
      grants: [],
    };
    const removed = removeAreaKeepingPages(m, w, ioas, area.iova);
    w = insertUserArea(m, insertUserArea(m, removed, ioas, lhs).world, ioas, rhs).world;
    events.push({
      kind: "note",
      actor: IOMMUFD,
      text: `IOAS ${ioas}: area ${hex(area.iova)}+${hex(area.length)} split at ${hex(newStart)}`,
    });
  }
  return ok({ world: w, events });
}

function removeAreaKeepingPages(m: Machine, w: World, ioas: number, iova: bigint): World {
  const r = removeArea(m, w, ioas, iova, { keepPages: true });
  if (r.status !== "done") throw new Error("iommufd: splitting a user-memory area cannot block");
  return r.world;
}
