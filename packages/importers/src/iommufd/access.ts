import { err, ok } from "@dmabuf-ref/core";
import type { Machine, PhysVec, Result, World } from "@dmabuf-ref/core";
import { areaChunks } from "./chunks.js";
import { ULONG_MAX } from "./constants.js";
import { areaContaining, dmabufPages, findIoas, mustPages } from "./state.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * `iommufd_access_rw` through an emulated-device access object attached to
 * an IOAS (`iopt_pages_rw_access`, kernel-facts §3.4): the CPU reads or
 * writes IOVA `[iova, iova + length)` on a device's behalf. Unknown IOAS:
 * `ENOENT`; `length` 0: `EINVAL`; a wrapping range: `EOVERFLOW`; a range not
 * covered by contiguous areas: `ENOENT`; any dma-buf area in it: `EINVAL`
 * (MMIO has no struct page to copy through). World-neutral: it returns the
 * physical ranges the CPU would touch.
 *
 * @param m - the machine.
 * @param world - the world (unchanged).
 * @param ioas - the IOAS id the access object is attached to.
 * @param iova - first IOVA.
 * @param length - bytes.
 * @returns the physical ranges touched, in order, or the errno.
 */
export function iommufdAccessRw(
  m: Machine,
  world: World,
  ioas: number,
  iova: bigint,
  length: bigint,
): Result<readonly PhysVec[]> {
  const io = findIoas(m, world, ioas);
  if (io === undefined) return err("ENOENT", () => `no IOAS ${ioas}`);
  if (length === 0n) return err("EINVAL", "length is 0");
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return err("EOVERFLOW", "iova + length - 1 wraps");
  const touched: PhysVec[] = [];
  let cursor = iova;
  while (cursor <= last) {
    const area = areaContaining(io, cursor);
    if (area === undefined) return err("ENOENT", () => `IOVA ${hex(cursor)} is not mapped`);
    const pages = mustPages(m, world, area.pages);
    if (dmabufPages(pages) !== null) {
      return err(
        "EINVAL",
        () => `IOVA ${hex(cursor)} is a dma-buf area: no CPU access through iommufd`,
      );
    }
    const areaLast = area.iova + area.length - 1n;
    const end = areaLast < last ? areaLast : last;
    for (const c of areaChunks(area, pages)) {
      const from = c.iova > cursor ? c.iova : cursor;
      const to = c.iova + c.len - 1n < end ? c.iova + c.len - 1n : end;
      if (from <= to) touched.push({ paddr: c.phys + (from - c.iova), len: to - from + 1n });
    }
    if (end === ULONG_MAX) break;
    cursor = end + 1n;
  }
  return ok(touched);
}
