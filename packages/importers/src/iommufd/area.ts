import { blocked, done, endGrants, failed } from "@dmabuf-ref/core";
import type { Effect, Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { IOMMUFD } from "./constants.js";
import { fillArea, unfillArea } from "./domain-fill.js";
import { grantArea } from "./grants.js";
import { releaseDmabuf } from "./release-dmabuf.js";
import type { IommufdArea } from "./types.js";
import {
  areaAt,
  deletePages,
  devicesOf,
  dmabufPages,
  mustIoas,
  mustPages,
  setArea,
} from "./state.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

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
