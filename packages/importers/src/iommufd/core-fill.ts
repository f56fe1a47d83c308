import {
  attachBuf,
  blocked,
  done,
  failed,
  importerHolder,
  mapAtt,
  mustRun,
  resvLock,
  resvUnlock,
  syncDomainGrants,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { IOMMUFD, IOMMUFD_GLOBAL_DEVICE } from "./constants.js";
import { releaseDmabuf } from "./release-dmabuf.js";
import type { IommufdArea, IommufdDmabufPages, IommufdTrack } from "./types.js";
import { dmabufPages, mustPages, pagesTableOf, putPages } from "./state.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function note(text: string): TraceEvent {
  return { kind: "note", actor: IOMMUFD, text };
}

/**
 * Fills one domain with a dma-buf area through dma-buf core, for pages of
 * the converters proposal's `iommu-domain` type (kernel-facts §4.4): a new
 * dynamic attachment of the same buffer, then under resv
 * `dma_buf_map_attachment()` with `{domain, iova, offset, size}`, so that
 * core's PAL->iommu-domain converter iommu_map()s the exporter's memory at
 * the area's IOVA. iommufd never sees a physical address. A refusal (the
 * exporter's attach or map) fails the fill and changes nothing; a resv held
 * by someone else makes it sleep.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the area's IOAS.
 * @param area - the area.
 * @param domain - the domain id.
 * @param pages - the area's pages (live, `mappedBy: "core"`).
 * @returns the outcome; the tracker records the pair with its attachment.
 *
 * @remarks
 * Why one core attachment per (area, domain) pair: core keeps one mapping
 * per attachment (a second map is `EBUSY`), and the `iommu-domain` type's
 * importer data names exactly one domain and one IOVA range. Giving each
 * pair its own attachment keeps every core invariant as it is: an
 * exporter's revoke waits for *every* mapping (each pair's) to be
 * unmapped, map and unmap run under resv, and the World's encoding needs no
 * new shape. The pages' own attachment, made at `IOMMU_IOAS_MAP_FILE`,
 * holds the pin (`dma_buf_pin`, kernel-facts §3.3) for as long as any IOAS
 * maps the buffer, even one with no domains (§3.4); the pairs' attachments
 * only carry mappings. The proposal does not say whether the kernel would
 * instead map several times through one attachment.
 */
export function coreFill(
  m: Machine,
  w: World,
  ioas: number,
  area: IommufdArea,
  domain: number,
  pages: IommufdDmabufPages,
): StepOutcome {
  const attached = attachBuf(m, w, pages.buf, IOMMUFD, IOMMUFD_GLOBAL_DEVICE, true);
  if (attached.status === "blocked") return blocked(w, "resv", attached.reason);
  if (attached.status === "failed") return failed(w, attached.error);
  const fill = attached.created;
  if (fill === undefined) throw new Error("iommufd: attach created no attachment");
  const holder = importerHolder(IOMMUFD, fill);
  const events: TraceEvent[] = [...attached.events];
  let world = mustRun(
    resvLock(attached.world, pages.buf, holder),
    "iommufd: dma_resv_lock",
    events,
  ).world;
  const request = {
    domain: String(domain),
    iova: area.iova,
    offset: pages.start + area.offset,
    size: area.length,
    read: area.read,
    write: area.write,
  };
  const mapped = mapAtt(m, world, fill, holder, request);
  if (mapped.status === "failed") return failed(w, mapped.error);
  world = mustRun(mapped, "iommufd: dma_buf_map_attachment", events).world;
  world = mustRun(resvUnlock(world, pages.buf, holder), "iommufd: dma_resv_unlock", events).world;
  world = putPages(m, world, area.pages, {
    ...pages,
    tracker: [...pages.tracker, { ioas, iova: area.iova, domain, att: fill }],
  });
  events.push(
    note(
      `core maps area ${hex(area.iova)}+${hex(area.length)} into domain ${domain} ` +
        `(attachment ${fill}, pal->iommu-domain)`,
    ),
  );
  return done(world, events);
}

/**
 * Undoes {@link coreFill} for one tracked pair: the pair's attachment is
 * released like any iommufd dma-buf attachment ({@link releaseDmabuf}:
 * unmapped only if still mapped, since a revoke has already unmapped it and
 * core must not unmap twice; then detached), and the pair leaves the tracker. Sleeps while someone
 * else holds the buffer's resv.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param pagesId - the pages' id.
 * @param track - the tracked pair (with its attachment).
 * @param fill - that attachment.
 * @returns the outcome.
 */
export function coreUnfill(
  m: Machine,
  w: World,
  pagesId: number,
  track: IommufdTrack,
  fill: number,
): StepOutcome {
  const released = releaseDmabuf(m, w, fill);
  if (released.status !== "done") return released;
  let world = released.world;
  const events: TraceEvent[] = [...released.events];
  const pages = dmabufPages(mustPages(m, world, pagesId));
  if (pages === null) throw new Error(`iommufd: no dma-buf pages ${pagesId}`);
  world = putPages(m, world, pagesId, {
    ...pages,
    tracker: pages.tracker.filter((t) => t.att !== fill),
  });
  events.push(
    note(`core unmaps area ${hex(track.iova)} from domain ${track.domain} (attachment ${fill})`),
  );
  return done(world, events);
}

/**
 * Brings the oracle's grants of every core-mapped pair in `domain` up to
 * date with the devices attached to it now (core's
 * {@link syncDomainGrants}), after iommufd attached or detached a device.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param domain - the domain id.
 * @returns the new world.
 */
export function syncCoreFills(m: Machine, w: World, domain: number): World {
  let world = w;
  for (const entry of pagesTableOf(m, w).values()) {
    const pages = dmabufPages(entry);
    for (const t of pages?.tracker ?? []) {
      if (t.domain === domain && t.att !== undefined) world = syncDomainGrants(m, world, t.att);
    }
  }
  return world;
}
