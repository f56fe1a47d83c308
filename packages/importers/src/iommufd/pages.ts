import { iommufdNote } from "./outcome.js";
import { pinnedPages } from "./pages-pin.js";
/*
 * pages.c: `struct iopt_pages`, the memory behind areas (user memory or a
 * dma-buf). Models: the pages objects, `pages->kref`'s users and the
 * attachment index (`attach->importer_priv`), `iopt_is_dmabuf`; the pin of
 * user memory (`pin_user_pages`); `batch_to_domain` (areaChunks);
 * `iopt_area_fill_domain` / `iopt_area_unfill_domain` with
 * `iopt_dmabuf_track_domain` / `iopt_dmabuf_untrack_domain`; the converters
 * proposal's fill through dma-buf core (kernel-model §4.4; no kernel code
 * yet); `iopt_release_pages` for dma-buf pages. pages.c's dma-buf import
 * (`iopt_map_dmabuf`) and `iopt_revoke_notify` are in pages-dmabuf.ts.
 */
import {
  attachBuf,
  blocked,
  detachAtt,
  done,
  failed,
  hex,
  importerHolder,
  iommuMap,
  iommuUnmap,
  mapAtt,
  mustAtt,
  mustBuf,
  mustRun,
  ok,
  releasePages,
  resvLock,
  resvUnlock,
  slicePhysVecs,
  syncDomainGrants,
  unmapAtt,
  unpinAtt,
} from "@dmabuf-ref/core";
import type { PTable } from "@dmabuf-ref/core/encoding";
import type { Machine, PhysVec, Result, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { IOMMUFD, IOMMUFD_GLOBAL_DEVICE } from "./constants.js";
import {
  findIoas,
  IOMMUFD_ATTACHMENTS,
  IOMMUFD_PAGES,
  readIommufdSlice,
  writeIommufdSlice,
} from "./objects.js";
import type { IommufdArea, IommufdDmabufPages, IommufdPages, IommufdTrack } from "./types.js";

/**
 * iommufd's pages objects in a world.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the table by pages id.
 */
export function pagesTableOf(m: Machine, w: World): PTable<IommufdPages> {
  return readIommufdSlice(m, w, IOMMUFD_PAGES);
}

/**
 * The id the next pages object gets: the lowest free one (O(1)).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the lowest id no pages object uses.
 */
export function nextPagesId(m: Machine, w: World): number {
  return pagesTableOf(m, w).lowestFreeId();
}

/**
 * Pages that must exist.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @returns the pages.
 */
export function mustPages(m: Machine, w: World, id: number): IommufdPages {
  const pages = pagesTableOf(m, w).get(id);
  if (pages === undefined) throw new Error(`iommufd: no pages ${id}`);
  return pages;
}

function attachmentsOf(pages: IommufdPages | undefined): readonly number[] {
  if (pages === undefined || pages.kind !== "dmabuf") return [];
  const atts = [pages.att];
  for (const t of pages.tracker) if (t.att !== undefined) atts.push(t.att);
  return atts;
}

function reindex(
  m: Machine,
  w: World,
  id: number,
  before: IommufdPages | undefined,
  after: IommufdPages | undefined,
): World {
  const gone = attachmentsOf(before);
  const come = attachmentsOf(after);
  let index = readIommufdSlice(m, w, IOMMUFD_ATTACHMENTS);
  for (const att of gone) if (!come.includes(att)) index = index.delete(att);
  for (const att of come) if (index.get(att) !== id) index = index.set(att, id);
  return writeIommufdSlice(m, w, IOMMUFD_ATTACHMENTS, index);
}

/**
 * Replaces (or adds) a pages object, and indexes the attachments it holds.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @param pages - the pages.
 * @returns the new world.
 */
export function putPages(m: Machine, w: World, id: number, pages: IommufdPages): World {
  const table = pagesTableOf(m, w);
  const before = table.get(id);
  const world = writeIommufdSlice(m, w, IOMMUFD_PAGES, table.set(id, pages));
  return reindex(m, world, id, before, pages);
}

/**
 * Drops a pages object (`iopt_release_pages`, the last reference gone),
 * and its attachments from the index.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @returns the new world.
 */
export function deletePages(m: Machine, w: World, id: number): World {
  const table = pagesTableOf(m, w);
  const before = table.get(id);
  let world = writeIommufdSlice(m, w, IOMMUFD_PAGES, table.delete(id));
  // iopt_release_pages: the last reference unpins what the pages pinned.
  if (before !== undefined && before.kind !== "dmabuf" && before.pinned !== null) {
    world = releasePages(world, before.pinned);
  }
  return reindex(m, world, id, before, undefined);
}

/**
 * The dma-buf pages behind an attachment, if iommufd made it
 * (`attach->importer_priv`): the pages' own attachment or one that holds a
 * core mapping of one (area, domain).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @returns the pages' id and value, or undefined.
 */
export function pagesOfAttachment(
  m: Machine,
  w: World,
  att: number,
): { readonly id: number; readonly pages: IommufdDmabufPages } | undefined {
  const id = readIommufdSlice(m, w, IOMMUFD_ATTACHMENTS).get(att);
  if (id === undefined) return undefined;
  const pages = dmabufPages(mustPages(m, w, id));
  return pages === null ? undefined : { id, pages };
}

/**
 * The dma-buf view of a pages object (`iopt_is_dmabuf`): the pages when
 * they come from a dma-buf, null for user memory.
 *
 * @param pages - the pages.
 * @returns the dma-buf pages, or null.
 * @kernel drivers/iommu/iommufd/io_pagetable.h iopt_is_dmabuf
 */
export function dmabufPages(pages: IommufdPages): IommufdDmabufPages | null {
  return match(pages)
    .returnType<IommufdDmabufPages | null>()
    .with({ kind: "dmabuf" }, (p) => p)
    .with({ kind: "user" }, { kind: "file" }, () => null)
    .exhaustive();
}

/**
 * Whether an area is dead: its dma-buf pages were revoked.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param area - the area.
 * @returns true when no domain may translate it.
 */
export function areaDead(m: Machine, w: World, area: IommufdArea): boolean {
  return dmabufPages(mustPages(m, w, area.pages))?.revoked === true;
}

/**
 * Pins the pages of a pages object if nothing pinned them yet
 * ({@link pinnedPages}) and stores them pinned.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @returns the world with the pages pinned, or the errno.
 */
export function pinPages(m: Machine, w: World, id: number): Result<World> {
  const pages = mustPages(m, w, id);
  const pinned = pinnedPages(m, w, pages);
  if (!pinned.ok) return pinned;
  return ok(
    pinned.value.pages === pages ? w : putPages(m, pinned.value.world, id, pinned.value.pages),
  );
}

/**
 * Unpins user or memfd pages that no domain holds any more (the last
 * domain's `iopt_area_unfill_domain` returns the pages to an unpinned
 * state): when none of the areas using them is in an IOAS with a domain,
 * the pins are released and the next fill pins again.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @returns the new world.
 */
export function unpinIfUnused(m: Machine, w: World, id: number): World {
  const pages = pagesTableOf(m, w).get(id);
  if (pages === undefined || pages.kind === "dmabuf" || pages.pinned === null) return w;
  const held = pages.users.some((u) => (findIoas(m, w, u.ioas)?.domains.length ?? 0) > 0);
  if (held) return w;
  return putPages(m, releasePages(w, pages.pinned), id, { ...pages, pinned: null });
}

/** One contiguous piece of an area as the IOMMU maps it: IOVA -> physical. */
export interface AreaChunk {
  /** First IOVA of the piece. */
  readonly iova: bigint;
  /** CPU physical address of its first byte. */
  readonly phys: bigint;
  /** Bytes. */
  readonly len: bigint;
}

/**
 * The bytes `[offset, offset + length)` of a list of physical ranges laid
 * end to end, as physical pieces (a multi-range dma-buf walked with
 * cur_index/cur_base, kernel-model §4.3).
 *
 * @param ranges - the ranges in buffer order.
 * @param offset - byte offset into their concatenation.
 * @param length - bytes wanted.
 * @returns the pieces; throws if the ranges are too short (a model bug).
 */
export function sliceRanges(
  ranges: readonly PhysVec[],
  offset: bigint,
  length: bigint,
): readonly PhysVec[] {
  const pieces = slicePhysVecs(ranges, offset, length);
  if (pieces === undefined) throw new Error("iommufd: physical ranges shorter than the area");
  return pieces;
}

/**
 * The pieces the IOMMU maps for an area (`batch_to_domain`): none for a
 * revoked dma-buf, one for user memory, one per physical range crossed for
 * a dma-buf.
 *
 * @param area - the area.
 * @param pages - its pages.
 * @returns the pieces, at consecutive IOVAs from the area's first.
 * @kernel drivers/iommu/iommufd/pages.c batch_to_domain
 */
export function areaChunks(area: IommufdArea, pages: IommufdPages): readonly AreaChunk[] {
  return match(pages)
    .returnType<readonly AreaChunk[]>()
    .with({ kind: "user" }, { kind: "file" }, (p) => {
      if (p.pinned === null) return [];
      let iova = area.iova;
      const ranges = p.pinned.map((x) => ({ paddr: x.phys, len: x.len }));
      return sliceRanges(ranges, area.offset, area.length).map((r) => {
        const chunk = { iova, phys: r.paddr, len: r.len };
        iova += r.len;
        return chunk;
      });
    })
    .with({ kind: "dmabuf" }, (p) => {
      let iova = area.iova;
      return sliceRanges(p.phys, p.start + area.offset, p.phys.length === 0 ? 0n : area.length).map(
        (r) => {
          const chunk = { iova, phys: r.paddr, len: r.len };
          iova += r.len;
          return chunk;
        },
      );
    })
    .exhaustive();
}

/**
 * `iopt_area_fill_domain` (plus `iopt_dmabuf_track_domain` for a dma-buf):
 * maps an area into one domain and, for dma-buf pages, records the (area,
 * domain) pair in the tracker. A revoked dma-buf area is tracked but maps
 * nothing (kernel-model §3.5: filling a new domain "succeeds and maps nothing").
 * Live pages that core maps (the `iommu-domain` type, §4.4) are filled by
 * asking core ({@link coreFill}), which may refuse or sleep on resv.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the area's IOAS.
 * @param area - the area.
 * @param domain - the domain id.
 * @returns the outcome; a failure changes nothing.
 * @kernel drivers/iommu/iommufd/pages.c iopt_area_fill_domain iopt_dmabuf_track_domain
 */
export function fillArea(
  m: Machine,
  w: World,
  ioas: number,
  area: IommufdArea,
  domain: number,
): StepOutcome {
  const viaCore = dmabufPages(mustPages(m, w, area.pages));
  if (viaCore?.mappedBy === "core" && !viaCore.revoked) {
    return coreFill(m, w, ioas, area, domain, viaCore);
  }
  const pinned = pinPages(m, w, area.pages);
  if (!pinned.ok) return failed(w, pinned.error);
  let world = pinned.value;
  const pages = mustPages(m, world, area.pages);
  const chunks = areaChunks(area, pages);
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
  return done(world, [iommufdNote(what)]);
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
 * @kernel drivers/iommu/iommufd/pages.c iopt_area_unfill_domain iopt_dmabuf_untrack_domain
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
    chunks.length === 0
      ? []
      : [iommufdNote(`iommu_unmap area ${hex(area.iova)} from domain ${domain}`)];
  return done(world, events);
}

/**
 * Fills one domain with a dma-buf area through dma-buf core, for pages of
 * the converters proposal's `iommu-domain` type (kernel-model §4.4): a new
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
 * holds the pin (`dma_buf_pin`, kernel-model §3.3) for as long as any IOAS
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
    iommufdNote(
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
    iommufdNote(
      `core unmaps area ${hex(track.iova)} from domain ${track.domain} (attachment ${fill})`,
    ),
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

/** How `iopt_release_pages` lets go of a dma-buf (the profile's release options). */
export interface ReleaseOrder {
  /**
   * `dma_buf_unpin()` under the buffer's resv (e745cd2c749e; v7.2, 7.1.5).
   * False: 7.1.0-7.1.4 unpin without it, and `dma_buf_unpin`'s
   * `dma_resv_assert_held` fires (recorded as a contract violation).
   */
  readonly unpinUnderResv: boolean;
  /**
   * Detach (and put) now. False: the caller destroys the pages state first
   * and detaches in a later step (the 6.19.0-7.1.4 order, f2d70dbd3dce).
   */
  readonly detach: boolean;
}

/**
 * `iopt_release_pages` for dma-buf pages (kernel-model §3.3): under resv,
 * undo the mapping if it is still held (the RFC's PAL map, or core's
 * converted map of one (area, domain) pair) and `dma_buf_unpin()` each pin
 * (without resv in 7.1.0-7.1.4: the violation is recorded and nothing
 * sleeps); then, unless the caller defers it, `dma_buf_detach()` (which
 * takes resv itself and drops the attachment's file reference). Sleeps
 * (blocked, nothing changes) while someone else holds a resv it must take.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - iommufd's attachment.
 * @param order - the release order (default: the fixed one of v7.2 and 7.1.5).
 * @returns the outcome: done, or blocked on resv.
 * @kernel drivers/iommu/iommufd/pages.c iopt_release_pages
 */
export function releaseDmabuf(
  m: Machine,
  w: World,
  att: number,
  order: ReleaseOrder = { unpinUnderResv: true, detach: true },
): StepOutcome {
  const a = mustAtt(w, att);
  const b = mustBuf(w, a.buf);
  const lock = order.unpinUnderResv || a.mapping !== null;
  if (lock && b.resvHolder !== null) {
    return blocked(w, "resv", () => `resv of buf ${a.buf} is held by ${String(b.resvHolder)}`);
  }
  const holder = importerHolder(IOMMUFD, att);
  const events: TraceEvent[] = [];
  let world = w;
  if (lock) world = mustRun(resvLock(world, a.buf, holder), "iommufd: dma_resv_lock", events).world;
  if (a.mapping !== null)
    world = mustRun(
      unmapAtt(m, world, att, holder),
      "iommufd: dma_buf_unmap_attachment",
      events,
    ).world;
  if (lock && !order.unpinUnderResv) {
    world = mustRun(resvUnlock(world, a.buf, holder), "iommufd: dma_resv_unlock", events).world;
  }
  for (let i = 0; i < a.pins; i++)
    world = mustRun(unpinAtt(m, world, att, holder), "iommufd: dma_buf_unpin", events).world;
  if (order.unpinUnderResv) {
    world = mustRun(resvUnlock(world, a.buf, holder), "iommufd: dma_resv_unlock", events).world;
  }
  if (!order.detach) return done(world, events);
  const detached = detachAtt(m, world, att);
  if (detached.status === "blocked") return blocked(w, "resv", detached.reason);
  world = mustRun(detached, "iommufd: dma_buf_detach", events).world;
  return done(world, events);
}
