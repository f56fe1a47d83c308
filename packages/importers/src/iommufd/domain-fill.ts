import { done, iommuMap, iommuUnmap } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { areaChunks } from "./chunks.js";
import { IOMMUFD } from "./constants.js";
import { coreFill, coreUnfill } from "./core-fill.js";
import type { IommufdArea } from "./types.js";
import { dmabufPages, mustPages, putPages } from "./state.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function note(text: string): TraceEvent {
  return { kind: "note", actor: IOMMUFD, text };
}

/**
 * `iopt_area_fill_domain` (plus `iopt_dmabuf_track_domain` for a dma-buf):
 * maps an area into one domain and, for dma-buf pages, records the (area,
 * domain) pair in the tracker. A revoked dma-buf area is tracked but maps
 * nothing (kernel-facts §3.5: filling a new domain "succeeds and maps nothing").
 * Live pages that core maps (the `iommu-domain` type, §4.4) are filled by
 * asking core ({@link coreFill}), which may refuse or sleep on resv.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the area's IOAS.
 * @param area - the area.
 * @param domain - the domain id.
 * @returns the outcome; a failure changes nothing.
 */
export function fillArea(
  m: Machine,
  w: World,
  ioas: number,
  area: IommufdArea,
  domain: number,
): StepOutcome {
  const pages = mustPages(m, w, area.pages);
  const viaCore = dmabufPages(pages);
  if (viaCore?.mappedBy === "core" && !viaCore.revoked) {
    return coreFill(m, w, ioas, area, domain, viaCore);
  }
  const chunks = areaChunks(area, pages);
  let world = w;
  for (const c of chunks) {
    world = iommuMap(world, domain, {
      iova: c.iova,
      len: c.len,
      phys: c.phys,
      read: area.read,
      write: area.write,
    });
  }
  const dmabuf = dmabufPages(pages);
  if (dmabuf !== null) {
    world = putPages(m, world, area.pages, {
      ...dmabuf,
      tracker: [...dmabuf.tracker, { ioas, iova: area.iova, domain }],
    });
  }
  const what =
    chunks.length === 0
      ? `area ${hex(area.iova)}+${hex(area.length)} is revoked: domain ${domain} maps nothing`
      : `iommu_map area ${hex(area.iova)}+${hex(area.length)} into domain ${domain}`;
  return done(world, [note(what)]);
}

/**
 * `iopt_area_unfill_domain` (plus `iopt_dmabuf_untrack_domain`): unmaps an
 * area from one domain, skipping the IOMMU unmap of a revoked dma-buf (its
 * mapping is already gone; a double unmap would WARN), and drops the pair
 * from the tracker. A pair core mapped is handed back to core
 * ({@link coreUnfill}: unmap unless revoked, detach), which may sleep on resv.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the area's IOAS.
 * @param area - the area.
 * @param domain - the domain id.
 * @returns the outcome.
 */
export function unfillArea(
  m: Machine,
  w: World,
  ioas: number,
  area: IommufdArea,
  domain: number,
): StepOutcome {
  const pages = mustPages(m, w, area.pages);
  const track = dmabufPages(pages)?.tracker.find(
    (t) => t.ioas === ioas && t.iova === area.iova && t.domain === domain,
  );
  if (track?.att !== undefined) return coreUnfill(m, w, area.pages, track, track.att);
  const chunks = areaChunks(area, pages);
  let world = chunks.reduce((acc, c) => iommuUnmap(acc, domain, c.iova, c.len), w);
  const dmabuf = dmabufPages(pages);
  if (dmabuf !== null) {
    world = putPages(m, world, area.pages, {
      ...dmabuf,
      tracker: dmabuf.tracker.filter(
        (t) => !(t.ioas === ioas && t.iova === area.iova && t.domain === domain),
      ),
    });
  }
  const events =
    chunks.length === 0 ? [] : [note(`iommu_unmap area ${hex(area.iova)} from domain ${domain}`)];
  return done(world, events);
}
