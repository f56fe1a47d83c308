/*
 * io_pagetable.c, continued: where IOVA may go (kept apart from
 * io_pagetable.ts for size). Models `iopt->iova_alignment` and its upkeep
 * (`iopt_check_iova_alignment`, the alignment half of
 * `iopt_table_add_domain`, `iopt_calculate_iova_alignment`), the reserved
 * ranges (`iopt->reserved_itree`: each attached device's reserved regions,
 * `iopt_table_enforce_dev_resv_regions`, and each domain's aperture,
 * `iopt_table_add_domain`) and the allowed ranges (`iopt->allowed_itree`,
 * `iopt_set_allow_iova`), `iopt_alloc_iova` with `__alloc_iova_check_range`,
 * `iopt_check_iova`, and the checks of `iopt_alloc_area_pages` /
 * `iopt_insert_area` (placeIova).
 */
import { err, hex, ok } from "@dmabuf-ref/core";
import type { Machine, Result, World } from "@dmabuf-ref/core";
import { deviceReservedRegions } from "./config.js";
import { HPAGE_SIZE, PAGE_SIZE, ULONG_MAX } from "./constants.js";
import type { IovaInterval } from "./constants.js";
import { areasIn, areasOf, devicesOf, findIoas, mustIoas, objectsOf } from "./objects.js";
import { mustPages } from "./pages.js";
import type { IommufdArea, IommufdIoasObject, IommufdPages } from "./types.js";

/**
 * What a domain reserves in its IOAS (`iopt_table_add_domain`): the IOVA
 * below and above its aperture.
 *
 * @param aperture - the domain's `geometry` (inclusive).
 * @returns the reserved intervals, sorted.
 */
export function apertureReservations(aperture: IovaInterval): readonly IovaInterval[] {
  const out: IovaInterval[] = [];
  if (aperture.start !== 0n) out.push({ start: 0n, last: aperture.start - 1n });
  if (aperture.last !== ULONG_MAX) out.push({ start: aperture.last + 1n, last: ULONG_MAX });
  return out;
}

function byStart(a: IovaInterval, b: IovaInterval): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/**
 * `iopt->reserved_itree` of an IOAS, derived from who owns its entries: the
 * reserved regions of each attached device (`iopt_table_enforce_dev_resv_regions`)
 * and the out-of-aperture IOVA of each domain (each entry goes with its
 * owner, `__iopt_remove_reserved_iova`), and the ranges the selftest
 * reserved with no owner (`IommufdIoasObject.testReserved`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @returns the reserved intervals, sorted by start (they may overlap).
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_table_enforce_dev_resv_regions
 */
export function reservedIovas(m: Machine, w: World, ioas: number): readonly IovaInterval[] {
  const out: IovaInterval[] = [];
  for (const d of devicesOf(m, w, ioas)) out.push(...deviceReservedRegions(m, d.device));
  for (const o of objectsOf(m, w).values()) {
    if (o.kind === "hwpt" && o.ioas === ioas) out.push(...apertureReservations(o.aperture));
  }
  out.push(...(findIoas(m, w, ioas)?.testReserved ?? []));
  return out.sort(byStart);
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
 * @param used - intervals sorted by start (they may overlap).
 * @returns the gaps between them, sorted.
 */
export function holesOf(used: readonly IovaInterval[]): readonly IovaInterval[] {
  const holes: IovaInterval[] = [];
  let cursor = 0n;
  for (const u of used) {
    if (u.start > cursor) holes.push({ start: cursor, last: u.start - 1n });
    if (u.last === ULONG_MAX) return holes;
    if (u.last + 1n > cursor) cursor = u.last + 1n;
  }
  holes.push({ start: cursor, last: ULONG_MAX });
  return holes;
}

/**
 * The used spans of sorted intervals within `[first, last]`: overlapping or
 * adjacent intervals merge, and each span is clipped to the window, as
 * `interval_tree_for_each_span` reports `is_used` spans.
 *
 * @param intervals - sorted by start.
 * @param first - the window's first index.
 * @param last - the window's last index.
 * @returns the spans, sorted.
 */
export function usedSpans(
  intervals: readonly IovaInterval[],
  first: bigint,
  last: bigint,
): readonly IovaInterval[] {
  const spans: IovaInterval[] = [];
  for (const i of intervals) {
    const start = i.start > first ? i.start : first;
    const end = i.last < last ? i.last : last;
    if (start > end) continue;
    const prev = spans[spans.length - 1];
    if (prev !== undefined && start <= prev.last + 1n) {
      if (end > prev.last) spans[spans.length - 1] = { start: prev.start, last: end };
    } else {
      spans.push({ start, last: end });
    }
  }
  return spans;
}

/**
 * `roundup_pow_of_two`.
 *
 * @param v - at least 1.
 * @returns the smallest power of two at least `v`.
 * @kernel include/linux/log2.h roundup_pow_of_two
 */
export function roundupPowerOfTwo(v: bigint): bigint {
  let p = 1n;
  while (p < v) p <<= 1n;
  return p;
}

/**
 * `1UL << __ffs(v)`: the lowest set bit (a domain's smallest page size from
 * its `pgsize_bitmap`, or the alignment an address already has).
 *
 * @param v - non-zero.
 * @returns the lowest set bit's value.
 */
export function lowestSetBit(v: bigint): bigint {
  return v & -v;
}

/**
 * The alignment `iopt_alloc_iova` asks of an automatically placed IOVA
 * (kernel-model §3.1): `roundup_pow_of_two(length)`, or, when the source
 * offset is not 0, the smaller of that and the offset's lowest set bit, so
 * that the IOVA keeps the offset's alignment (more chances for large
 * pages); capped at `HPAGE_SIZE` (transparent huge pages on).
 *
 * @param addr - the source offset: `user_va`, or the file offset `start`.
 * @param length - bytes (1 .. ULONG_MAX/2 - 1).
 * @returns the alignment.
 */
export function allocAlignment(addr: bigint, length: bigint): bigint {
  const pow = roundupPowerOfTwo(length);
  const own = addr === 0n ? pow : lowestSetBit(addr);
  const align = pow < own ? pow : own;
  return align >= HPAGE_SIZE ? HPAGE_SIZE : align;
}

/** `ALIGN(x, a) | off`, or undefined when the round-up passes ULONG_MAX (`check_add_overflow`). */
function alignedCandidate(x: bigint, align: bigint, pageOffset: bigint): bigint | undefined {
  const up = x + align - 1n;
  if (up > ULONG_MAX) return undefined;
  return (up - (up % align)) | pageOffset;
}

/**
 * `__alloc_iova_check_range`: the candidate of a span, or undefined when
 * it does not fit (`aligned >= last` is refused too, as the kernel does).
 */
function fitIn(
  start: bigint,
  last: bigint,
  length: bigint,
  align: bigint,
  pageOffset: bigint,
): bigint | undefined {
  const cand = alignedCandidate(start, align, pageOffset);
  if (cand === undefined || cand >= last || last - cand < length - 1n) return undefined;
  return cand;
}

/**
 * The first hole of `areas ∪ reserved` inside `[from, last]` where the
 * aligned candidate fits: the double-span walk of `iopt_alloc_iova`. Holes
 * too small for `length` are skipped in O(log n) through the area tree's
 * gap index ({@link IovaTree.firstFit}); each hole tried costs O(log n).
 */
function firstHoleFit(
  ioas: IommufdIoasObject,
  reserved: readonly IovaInterval[],
  from: bigint,
  last: bigint,
  length: bigint,
  align: bigint,
  pageOffset: bigint,
): bigint | undefined {
  const tree = ioas.areas.index;
  let cur = from;
  while (cur <= last) {
    const p = tree.firstFit(cur, length);
    if (p + length - 1n > last) return undefined;
    const inside = reserved.find((r) => r.start <= p && r.last >= p);
    if (inside !== undefined) {
      if (inside.last >= last) return undefined;
      cur = inside.last + 1n;
      continue;
    }
    let holeLast = last;
    const nextArea = tree.overlappingAll(p, ULONG_MAX - p + 1n).next();
    if (nextArea.done !== true && nextArea.value.start - 1n < holeLast)
      holeLast = nextArea.value.start - 1n;
    const nextReserved = reserved.find((r) => r.start > p);
    if (nextReserved !== undefined && nextReserved.start - 1n < holeLast)
      holeLast = nextReserved.start - 1n;
    const cand = fitIn(p, holeLast, length, align, pageOffset);
    if (cand !== undefined) return cand;
    if (holeLast >= last) return undefined;
    cur = holeLast + 1n;
  }
  return undefined;
}

/**
 * `iopt_alloc_iova`: the IOVA the kernel picks for a mapping without
 * `IOMMU_IOAS_MAP_FIXED_IOVA` (kernel-model §3.1). `length` 0 or at least
 * `ULONG_MAX / 2` is `EOVERFLOW`; the alignment is {@link allocAlignment},
 * and one below the IOAS's `iova_alignment` is `EINVAL`. The search walks
 * the allowed ranges (or, with none set, `[PAGE_SIZE, ULONG_MAX -
 * PAGE_SIZE]`) in order; in each it takes the first hole between areas and
 * reserved ranges where `ALIGN(hole_start) | page_offset` fits (the
 * source's offset into its page kept in the low bits). IOVA 0 is never
 * returned. No hole fits: `ENOSPC`.
 *
 * @param ioas - the IOAS.
 * @param reserved - its reserved ranges, sorted ({@link reservedIovas}).
 * @param addr - the source offset: `user_va` for `IOMMU_IOAS_MAP`, the file
 *   offset for `IOMMU_IOAS_MAP_FILE`.
 * @param length - bytes.
 * @returns the IOVA, or the errno.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_alloc_iova
 */
export function allocIova(
  ioas: IommufdIoasObject,
  reserved: readonly IovaInterval[],
  addr: bigint,
  length: bigint,
): Result<bigint> {
  if (length === 0n || length >= ULONG_MAX / 2n) {
    return err("EOVERFLOW", () => `length ${hex(length)} is too large to allocate IOVA for`);
  }
  const align = allocAlignment(addr, length);
  if (align < ioas.iovaAlignment) {
    return err(
      "EINVAL",
      () =>
        `IOVA alignment ${hex(align)} from ${hex(addr)}+${hex(length)} is below the IOAS's ${hex(ioas.iovaAlignment)}`,
    );
  }
  const pageOffset = addr % PAGE_SIZE;
  const window = { start: PAGE_SIZE, last: ULONG_MAX - PAGE_SIZE };
  const spans =
    ioas.allowed.length === 0 ? [window] : usedSpans(ioas.allowed, window.start, window.last);
  for (const span of spans) {
    const from = fitIn(span.start, span.last, length, align, pageOffset);
    if (from === undefined) continue;
    const found = firstHoleFit(ioas, reserved, from, span.last, length, align, pageOffset);
    if (found !== undefined) return ok(found);
  }
  return err("ENOSPC", () => `no free IOVA range of ${hex(length)} bytes aligned to ${hex(align)}`);
}

/**
 * `iopt_check_iova`, the `IOMMU_IOAS_MAP_FIXED_IOVA` rules (kernel-model
 * §3.1): an IOVA that is not a multiple of the IOAS's `iova_alignment` is
 * `EINVAL`, a range that wraps `EOVERFLOW`, one meeting a reserved range
 * `EINVAL`, one overlapping any area, dead ones included, `EEXIST`. The
 * allowed ranges do not restrict a fixed IOVA.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param iova - the IOVA userspace chose.
 * @param length - bytes (non-zero).
 * @returns nothing, or the errno.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_check_iova
 */
export function checkFixedIova(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  length: bigint,
): Result<undefined> {
  const io = mustIoas(m, w, ioas);
  if (iova % io.iovaAlignment !== 0n) {
    return err("EINVAL", () => `IOVA ${hex(iova)} is not ${hex(io.iovaAlignment)} aligned`);
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
  if (areasIn(io, iova, length).length > 0) {
    return err("EEXIST", () => `IOVA ${hex(iova)}..${hex(last)} overlaps a mapped area`);
  }
  return ok(undefined);
}

/**
 * `iopt_alloc_area_pages` + `iopt_insert_area`: where a new area goes, in
 * the kernel's order. A `length` of 0 or not a multiple of the IOAS's
 * `iova_alignment` is `EINVAL`; then `FIXED_IOVA` checks the given IOVA
 * ({@link checkFixedIova}) or the allocator picks one ({@link allocIova});
 * last, the area's offset into its first page must be aligned too (`EINVAL`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param fixed - `IOMMU_IOAS_MAP_FIXED_IOVA` was given.
 * @param iova - the IOVA userspace passed (used only when fixed).
 * @param addr - the source offset (user address or file offset).
 * @param pageOffset - `addr % PAGE_SIZE`, the area's `page_offset`.
 * @param length - bytes.
 * @returns the IOVA, or the errno.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_alloc_area_pages
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
  const io = mustIoas(m, w, ioas);
  if (length === 0n || length % io.iovaAlignment !== 0n) {
    return err(
      "EINVAL",
      () => `length ${hex(length)} is not a non-zero multiple of ${hex(io.iovaAlignment)}`,
    );
  }
  const placed = fixed
    ? ((): Result<bigint> => {
        const checked = checkFixedIova(m, w, ioas, iova, length);
        return checked.ok ? ok(iova) : checked;
      })()
    : allocIova(io, reservedIovas(m, w, ioas), addr, length);
  if (!placed.ok) return placed;
  if (pageOffset % io.iovaAlignment !== 0n) {
    return err(
      "EINVAL",
      () => `offset ${hex(pageOffset)} into the first page is not ${hex(io.iovaAlignment)} aligned`,
    );
  }
  return placed;
}

/**
 * `area->page_offset`: the byte offset of an area's first IOVA into its
 * first page (`start_byte % PAGE_SIZE`).
 *
 * @param area - the area.
 * @param pages - its pages.
 * @returns the offset.
 */
export function areaPageOffset(area: IommufdArea, pages: IommufdPages): bigint {
  const base = pages.kind === "user" ? pages.userVa : pages.start;
  return (base + area.offset) % PAGE_SIZE;
}

/**
 * `iopt_check_iova_alignment`: every area must conform to a raised
 * alignment (its IOVA, length and page offset multiples of it), else
 * `EADDRINUSE`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param alignment - the new alignment.
 * @returns nothing, or `EADDRINUSE` naming the first area that does not conform.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_check_iova_alignment
 */
export function checkIovaAlignment(
  m: Machine,
  w: World,
  ioas: number,
  alignment: bigint,
): Result<undefined> {
  for (const a of areasOf(mustIoas(m, w, ioas))) {
    const off = areaPageOffset(a, mustPages(m, w, a.pages));
    if (a.iova % alignment !== 0n || a.length % alignment !== 0n || off % alignment !== 0n) {
      return err(
        "EADDRINUSE",
        () =>
          `area ${hex(a.iova)}+${hex(a.length)} does not conform to alignment ${hex(alignment)}`,
      );
    }
  }
  return ok(undefined);
}

/**
 * The page-size bitmaps of an IOAS's domains, by domain id: a scan of the
 * few HWPT objects.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @returns domain id -> `pgsize_bitmap`.
 */
export function domainPgsizes(m: Machine, w: World, ioas: number): ReadonlyMap<number, bigint> {
  const out = new Map<number, bigint>();
  for (const o of objectsOf(m, w).values()) {
    if (o.kind === "hwpt" && o.ioas === ioas) out.set(o.domain, o.pgsizeBitmap);
  }
  return out;
}

/**
 * The alignment half of `iopt_table_add_domain`: the larger of the IOAS's
 * alignment and the new domain's smallest page; more than `PAGE_SIZE` is
 * `EINVAL`; a change that an existing area does not conform to is
 * `EADDRINUSE` ({@link checkIovaAlignment}).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param pgsizeBitmap - the new domain's page sizes.
 * @returns the IOAS's alignment once the domain is in, or the errno.
 */
export function alignmentWithDomain(
  m: Machine,
  w: World,
  ioas: number,
  pgsizeBitmap: bigint,
): Result<bigint> {
  const current = mustIoas(m, w, ioas).iovaAlignment;
  const smallest = lowestSetBit(pgsizeBitmap);
  const next = smallest > current ? smallest : current;
  if (next > PAGE_SIZE) {
    return err(
      "EINVAL",
      () => `the domain's smallest page ${hex(smallest)} is larger than PAGE_SIZE`,
    );
  }
  if (next !== current) {
    const checked = checkIovaAlignment(m, w, ioas, next);
    if (!checked.ok) return checked;
  }
  return ok(next);
}

/**
 * `iopt_calculate_iova_alignment`: 1 (PAGE_SIZE while large pages are
 * disabled) raised to every domain's smallest page; a raise that an area
 * does not conform to is `EADDRINUSE`.
 *
 * @param m - the machine.
 * @param w - the world (the IOAS with its domains as they are to be).
 * @param ioas - the IOAS id.
 * @param disableLargePages - `iopt->disable_large_pages` as it is to be.
 * @returns the alignment, or the errno.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_calculate_iova_alignment
 */
export function calculateIovaAlignment(
  m: Machine,
  w: World,
  ioas: number,
  disableLargePages: boolean,
): Result<bigint> {
  const io = mustIoas(m, w, ioas);
  const pgsizes = domainPgsizes(m, w, ioas);
  let next = disableLargePages ? PAGE_SIZE : 1n;
  for (const d of io.domains) {
    const bitmap = pgsizes.get(d);
    if (bitmap === undefined) continue;
    const smallest = lowestSetBit(bitmap);
    if (smallest > next) next = smallest;
  }
  if (next > io.iovaAlignment) {
    const checked = checkIovaAlignment(m, w, ioas, next);
    if (!checked.ok) return checked;
  }
  return ok(next);
}

/**
 * `iopt_reserve_iova`'s check: a new reservation may cut neither an area
 * nor an allowed range (`EADDRINUSE`).
 *
 * @param io - the IOAS.
 * @param ranges - the ranges to reserve.
 * @returns nothing, or `EADDRINUSE`.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_reserve_iova
 */
export function checkReservable(
  io: IommufdIoasObject,
  ranges: readonly IovaInterval[],
): Result<undefined> {
  for (const r of ranges) {
    const area = areasIn(io, r.start, r.last - r.start + 1n)[0];
    if (area !== undefined) {
      return err(
        "EADDRINUSE",
        () =>
          `area ${hex(area.iova)}+${hex(area.length)} lies in reserved ${hex(r.start)}..${hex(r.last)}`,
      );
    }
    const allowed = io.allowed.find((a) => intersects(a, r));
    if (allowed !== undefined) {
      return err(
        "EADDRINUSE",
        () =>
          `allowed range ${hex(allowed.start)}..${hex(allowed.last)} meets reserved ${hex(r.start)}..${hex(r.last)}`,
      );
    }
  }
  return ok(undefined);
}
