import { err, ok } from "@dmabuf-ref/core";
import type { Machine, Result, World } from "@dmabuf-ref/core";
import {
  IOMMUFD_APERTURE_LAST,
  IOMMUFD_IOVA_ALIGNMENT,
  IOMMUFD_MSI_WINDOW,
  PAGE_SIZE,
  ULONG_MAX,
} from "./constants.js";
import type { IovaInterval } from "./constants.js";
import { areasIn, areasOf, devicesOf, mustIoas } from "./state.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

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
