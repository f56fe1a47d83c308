/*
 * io_pagetable.c: an IOAS's IOVA space and its areas. Models
 * `iopt_insert_area` / `iopt_remove_area` (setArea, which keeps
 * `pages->kref`); `iopt_map_pages` once the IOVA is chosen, with
 * `iopt_fill_domains_pages` (insertArea); `iopt_unmap_iova_range` for one
 * area, with `iopt_area_unfill_domains` and `iopt_release_pages`
 * (removeArea); `iopt_cut_iova` / `iopt_area_split`. Alignment, reserved
 * and allowed ranges and the IOVA allocator are in io_pagetable-iova.ts. The area tree's readers
 * (`iopt_area_iter_first`, io_pagetable.h) are in objects.ts and
 * `batch_to_domain` (areaChunks) in pages.ts: pages.c's fill and revoke use
 * them, and this file imports pages.ts, so here they would close a cycle.
 */
import { blocked, done, endGrants, err, failed, hex, ok } from "@dmabuf-ref/core";
import type { Effect, Machine, Result, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { IOMMUFD } from "./constants.js";
import { grantArea } from "./grants.js";
import { areaPageOffset } from "./io_pagetable-iova.js";
import {
  areaAt,
  areaContaining,
  devicesOf,
  findIoas,
  IOMMUFD_CTX,
  mustIoas,
  putIoas,
  readIommufdSlice,
  slotAt,
  writeIommufdSlice,
} from "./objects.js";
import { iommufdNote } from "./outcome.js";
import { iommufdProfileOptions } from "./profile-options.js";
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
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_insert_area
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
 * (kernel-model §4.4) may refuse or sleep; then nothing changes.
 *
 * @param m - the machine.
 * @param w - the world, with the area's pages already in the slice.
 * @param ioas - the IOAS id.
 * @param area - the new area (its `grants` are ignored and recomputed).
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_map_pages drivers/iommu/iommufd/pages.c
 *   iopt_area_fill_domains
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
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_unmap_iova_range
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
  const options = iommufdProfileOptions(m.profile);
  if (pages !== null) {
    const released = releaseDmabuf(m, world, pages.att, {
      unpinUnderResv: options.releaseUnpinsUnderResv,
      detach: options.releaseDetachesFirst,
    });
    if (released.status === "blocked") return blocked(w, "resv", released.reason);
    if (released.status === "failed")
      throw new Error(`iommufd: release failed: ${released.error.message}`);
    world = released.world;
    events.push(...released.events);
  }
  world = deletePages(m, world, area.pages);
  if (pages !== null && !options.releaseDetachesFirst) {
    // 6.19.0-7.1.4: pages->mutex is gone, the attachment is still on the
    // buffer; `release-detach` finishes (f2d70dbd3dce moved the detach first).
    const ctx = readIommufdSlice(m, world, IOMMUFD_CTX);
    world = writeIommufdSlice(m, world, IOMMUFD_CTX, {
      ...ctx,
      releasing: [...ctx.releasing, pages.att],
    });
    events.push(iommufdNote(`pages of attachment ${pages.att} destroyed before dma_buf_detach`));
  }
  return done(world, events);
}

/**
 * `iopt_cut_iova` / `iopt_area_split` (kernel-model §3.4): splits areas so
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE,
 *   iommuIoasAlloc, iommuIoasMap, boot, referenceMachine, runScript,
 * } from "@dmabuf-ref/core";
 * import { iommufdCutIova, iommufdImporter, iommufdStateOf } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [iommufdImporter()] });
 * const iommufd = (action: object) => ({ kind: "driver", driver: "iommufd", action }) as const;
 * const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA;
 * const { world } = runScript(m, boot(m), [
 *   iommufd({ op: "ioctl", number: IOMMU_IOAS_ALLOC,
 *     buffer: iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 }) }),
 *   iommufd({ op: "attach-device", device: "dev0", ioas: 1 }), // a 4 KiB domain
 *   iommufd({ op: "ioctl", number: IOMMU_IOAS_MAP, buffer: iommuIoasMap.encode({
 *     size: iommuIoasMap.size, flags, ioas_id: 1, __reserved: 0,
 *     user_va: 0x7f00_2000_0000n, length: 0x4000n, iova: 0x10_0000n }) }),
 * ]);
 * // Cut the 16 KiB area after its first page, as type1's compat unmap does.
 * const cut = iommufdCutIova(m, world, 1, [0x10_0fffn]);
 * assert.ok(cut.ok);
 * const areas = iommufdStateOf(m, cut.value.world).ioas[0]?.areas.map((a) => [a.iova, a.length]);
 * assert.deepEqual(areas, [[0x10_0000n, 0x1000n], [0x10_1000n, 0x3000n]]);
 * // A cut whose next byte is not page aligned is EINVAL.
 * const bad = iommufdCutIova(m, world, 1, [0x10_07ffn]);
 * assert.equal(bad.ok ? "ok" : bad.error.errno, "EINVAL");
 * ```
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_cut_iova iopt_area_split
 * @category Drivers
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
    const alignment = mustIoas(m, w, ioas).iovaAlignment;
    const pages = mustPages(m, w, area.pages);
    const rhsByte = areaPageOffset({ ...area, offset: rhsOffset }, pages);
    if (newStart % alignment !== 0n || rhsByte % alignment !== 0n) {
      return err("EINVAL", () => `cut after ${hex(iova)} is not ${hex(alignment)} aligned`);
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
