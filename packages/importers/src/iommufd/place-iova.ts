import { err, ok } from "@dmabuf-ref/core";
import type { Machine, Result, World } from "@dmabuf-ref/core";
import { IOMMUFD_IOVA_ALIGNMENT } from "./constants.js";
import { allocIovaFor, checkFixedIova } from "./iova.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

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
