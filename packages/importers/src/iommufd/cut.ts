import { err, ok } from "@dmabuf-ref/core";
import type { Effect, Machine, Result, TraceEvent, World } from "@dmabuf-ref/core";
import { insertUserArea, removeArea } from "./area.js";
import { IOMMUFD, IOMMUFD_IOVA_ALIGNMENT } from "./constants.js";
import { areaContaining, dmabufPages, findIoas, mustIoas, mustPages } from "./state.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

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
