import { iommufdNote } from "./outcome.js";
/*
 * pages.c, continued: the dma-buf side of `struct iopt_pages` that sits on
 * top of the rest (kept apart from pages.ts for size). Models
 * `iopt_map_dmabuf` (the import: dynamic attach with the global device,
 * `dma_buf_pin`, the physical ranges through the private VFIO interconnect
 * or the RFC's PAL map) and `iopt_revoke_notify`, the `invalidate_mappings`
 * of `iopt_dmabuf_attach_revoke_ops`.
 */
import {
  attachBuf,
  detachAtt,
  done,
  endGrants,
  failed,
  hex,
  importerHolder,
  iommuUnmap,
  isKernelError,
  kernelError,
  lookupBuf,
  mapAtt,
  mustAtt,
  mustBuf,
  mustRun,
  negotiateAttach,
  pal,
  payloadAs,
  pinAtt,
  privatePhys,
  recordViolation,
  resvLock,
  resvUnlock,
  unmapAtt,
} from "@dmabuf-ref/core";
import type {
  DriverStep,
  KernelError,
  Machine,
  Op,
  StepOutcome,
  PairReport,
  PhysVec,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { IOMMUFD, IOMMUFD_GLOBAL_DEVICE } from "./constants.js";
import {
  areaAt,
  areaEntriesOf,
  IOMMUFD_CTX,
  mustIoas,
  putIoas,
  readIommufdSlice,
  writeIommufdSlice,
} from "./objects.js";
import { areaChunks, pagesOfAttachment, putPages } from "./pages.js";
import { iommufdProfileOptions } from "./profile-options.js";

/**
 * Where the import of a dma-buf into iommufd stopped (DESIGN §3.2's
 * refusal stages, for iommufd's path of kernel-model §3.3):
 * - `fd`: the fd is not a live dma-buf (`dma_buf_get` fails: `EBADF`);
 * - `negotiation`: no mapping type matched (only where the profile negotiates);
 * - `exporter-attach`: the exporter's `attach` refused (VFIO: not P2P, revoked, not revocable);
 * - `pin`: `dma_buf_pin()` failed (7.1 iommufd pins);
 * - `private-phys`: `vfio_pci_dma_buf_iommufd_map` refused (foreign exporter, more than one range, revoked);
 * - `pal-map`: the RFC's `dma_buf_pal_map_phys` failed.
 *
 * Under the converters proposal the import ends at the pin: core maps
 * through PAL->iommu-domain only when MAP_FILE fills a domain (kernel-model
 * §4.4), and that map's errno is MAP_FILE's own.
 *
 * @category Drivers
 */
export type ImportStage =
  "fd" | "negotiation" | "exporter-attach" | "pin" | "private-phys" | "pal-map";

/** What importing a dma-buf produced, or where and why it stopped. */
export type ImportOutcome =
  | {
      /** Attached (and pinned) with the physical ranges in hand; resv released. */
      readonly status: "done";
      /** The world with the attachment. */
      readonly world: World;
      /** What happened, in order. */
      readonly events: readonly TraceEvent[];
      /** The new attachment. */
      readonly att: number;
      /** The exporter's physical ranges, in buffer order; none when core maps. */
      readonly phys: readonly PhysVec[];
      /** Who maps the pages into iommufd's domains. */
      readonly mappedBy: "iommufd" | "core";
      /** The negotiation report. */
      readonly pairs: readonly PairReport[];
    }
  | {
      /** A step refused; nothing changed. */
      readonly status: "failed";
      /** The step. */
      readonly stage: ImportStage;
      /** Its errno. */
      readonly error: KernelError;
      /** The negotiation report (empty before negotiation ran). */
      readonly pairs: readonly PairReport[];
    }
  | {
      /** The call would sleep on the buffer's resv. */
      readonly status: "blocked";
      /** Who holds it. */
      readonly reason: string;
    };

type PhysRoute = "private" | "pal" | "converter";

function routeOf(mapType: string): PhysRoute {
  if (mapType === "vfio-iommufd-private" || mapType === "sgt") return "private";
  if (mapType === "pal") return "pal";
  if (mapType === "iommu-domain") return "converter";
  throw new Error(`iommufd: attach negotiated ${mapType}, which iommufd never accepts`);
}

type PhysResult =
  | {
      readonly ok: true;
      readonly world: World;
      readonly events: readonly TraceEvent[];
      readonly phys: readonly PhysVec[];
      readonly mappedBy: "iommufd" | "core";
    }
  | { readonly ok: false; readonly stage: ImportStage; readonly error: KernelError };

function lookupPhys(
  m: Machine,
  w: World,
  att: number,
  holder: string,
  mapType: string,
): PhysResult {
  return (
    match(routeOf(mapType))
      .returnType<PhysResult>()
      .with("private", () => {
        const r = privatePhys(m, w, att, holder);
        return r.ok
          ? { ok: true, world: w, events: [], phys: r.value, mappedBy: "iommufd" }
          : { ok: false, stage: "private-phys", error: r.error };
      })
      .with("pal", () => {
        const r = mapAtt(m, w, att, holder);
        if (r.status === "failed") return { ok: false, stage: "pal-map", error: r.error };
        const mapped = mustRun(r, "iommufd: dma_buf_pal_map_phys");
        const payload = payloadAs(pal, mapped.world.atts.get(att)?.mapping?.payload);
        if (payload.phys.length === 0) {
          return {
            ok: false,
            stage: "pal-map",
            error: kernelError("EINVAL", "the exporter's physical address list is empty"),
          };
        }
        return {
          ok: true,
          world: mapped.world,
          events: mapped.events,
          phys: payload.phys,
          mappedBy: "iommufd",
        };
      })
      // The iommu-domain type: no address reaches iommufd. Core maps each
      // (area, domain) pair when iommufd fills a domain (coreFill, pages.ts).
      .with("converter", () => ({ ok: true, world: w, events: [], phys: [], mappedBy: "core" }))
      .exhaustive()
  );
}

/**
 * `iopt_map_dmabuf` (kernel-model §3.3): dynamic attach with the global
 * device and `allow_peer2peer`, lock resv, `dma_buf_pin()` where the
 * profile says iommufd pins (7.1), get the physical ranges (the private
 * VFIO interconnect, or the RFC's PAL map), unlock. With the converters
 * proposal's `iommu-domain` type (kernel-model §4.4) there are no ranges
 * to get: the attach and pin are the whole import, and core maps later. Any failure leaves the
 * world as it was (the kernel unpins and detaches); the stage says who refused.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buf - the dma-buf id (the fd).
 * @returns the attachment and ranges, the refusing stage, or blocked.
 * @kernel drivers/iommu/iommufd/pages.c iopt_map_dmabuf
 */
export function importDmabuf(m: Machine, w: World, buf: number): ImportOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return { status: "failed", stage: "fd", error: b, pairs: [] };
  const imp = m.importers.get(IOMMUFD);
  if (imp === undefined) throw new Error("iommufd is not configured in this world");
  const request = { device: IOMMUFD_GLOBAL_DEVICE, dynamic: true, peer2peer: imp.allowPeer2peer };
  const negotiated = negotiateAttach(m, w, buf, imp, request);
  if (!negotiated.ok) {
    return {
      status: "failed",
      stage: "negotiation",
      error: negotiated.error,
      pairs: negotiated.pairs,
    };
  }
  const pairs = negotiated.pairs;
  const attached = attachBuf(m, w, buf, IOMMUFD, IOMMUFD_GLOBAL_DEVICE, true);
  if (attached.status === "blocked") return { status: "blocked", reason: attached.reason };
  if (attached.status === "failed") {
    return { status: "failed", stage: "exporter-attach", error: attached.error, pairs };
  }
  const att = attached.created;
  if (att === undefined) throw new Error("iommufd: attach created no attachment");
  const holder = importerHolder(IOMMUFD, att);
  const events: TraceEvent[] = [...attached.events];
  let world = mustRun(
    resvLock(attached.world, buf, holder),
    "iommufd: dma_resv_lock",
    events,
  ).world;
  if (iommufdProfileOptions(m.profile).pins) {
    const pinned = pinAtt(m, world, att, holder);
    if (pinned.status === "failed")
      return { status: "failed", stage: "pin", error: pinned.error, pairs };
    world = mustRun(pinned, "iommufd: dma_buf_pin", events).world;
  }
  const mapType = world.atts.get(att)?.mapType ?? "";
  const phys = lookupPhys(m, world, att, holder, mapType);
  if (!phys.ok) return { status: "failed", stage: phys.stage, error: phys.error, pairs };
  events.push(...phys.events);
  const unlocked = mustRun(resvUnlock(phys.world, buf, holder), "iommufd: dma_resv_unlock", events);
  return {
    status: "done",
    world: unlocked.world,
    events,
    att,
    phys: phys.phys,
    mappedBy: phys.mappedBy,
    pairs,
  };
}

/**
 * `iopt_revoke_notify`, iommufd's `invalidate_mappings` (kernel-model §3.5,
 * §7.11), called by the exporter with the buffer's resv held. If the pages
 * are already revoked it does nothing, so the invalidate an un-revoke sends
 * is harmless. Otherwise it unmaps every tracked (area, domain) pair from
 * the IOMMU, ends the devices' grants, releases the RFC's PAL mapping if one
 * is held (`dma_buf_pal_unmap_phys`, §4.3), and empties the physical ranges:
 * revoked for good. A pair that core mapped (the converters proposal's
 * `iommu-domain` type, §4.4) is unmapped by core (`dma_buf_unmap_attachment`
 * of that pair's attachment), so iommufd still never touches a physical
 * address; the attachment stays until the area or domain goes. Any of the
 * buffer's iommufd attachments may be the one invalidated: the pages answer
 * for all of them. The areas keep their IOVA and nothing is ever re-mapped
 * automatically; userspace must unmap and map again.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the invalidated attachment.
 * @returns the world and events.
 * @kernel drivers/iommu/iommufd/pages.c iopt_revoke_notify
 */
export function iommufdRevokeNotify(m: Machine, w: World, att: number): DriverStep {
  if (readIommufdSlice(m, w, IOMMUFD_CTX).releasing.includes(att)) {
    // 6.19.0-7.1.4: iopt_release_pages destroyed pages->mutex before it
    // detached, so this callback locks a destroyed mutex in freed memory.
    const v = recordViolation(w, {
      kind: "contract",
      rule: "iopt_revoke_notify locks pages->mutex of pages that still exist (f2d70dbd3dce)",
      actor: IOMMUFD,
      message: `invalidate of attachment ${att} after iopt_release_pages destroyed its pages state`,
    });
    return { world: v.world, events: [v.event] };
  }
  const found = pagesOfAttachment(m, w, att);
  if (found === undefined) return { world: w, events: [] };
  const { id, pages } = found;
  if (pages.revoked) {
    return { world: w, events: [iommufdNote(`attach ${att} already revoked: nothing to do`)] };
  }
  let world = w;
  const events: TraceEvent[] = [];
  const holder = mustBuf(w, pages.buf).resvHolder;
  for (const t of pages.tracker) {
    if (t.att !== undefined) {
      if (mustAtt(world, t.att).mapping === null) continue;
      world = mustRun(
        unmapAtt(m, world, t.att, holder),
        "iommufd: dma_buf_unmap_attachment",
        events,
      ).world;
      events.push(iommufdNote(`revoke: core unmaps area ${hex(t.iova)} from domain ${t.domain}`));
      continue;
    }
    const area = areaAt(mustIoas(m, world, t.ioas), t.iova);
    if (area === undefined) throw new Error(`iommufd: tracked area ${hex(t.iova)} is gone`);
    world = areaChunks(area, pages).reduce(
      (acc, c) => iommuUnmap(acc, t.domain, c.iova, c.len),
      world,
    );
    events.push(iommufdNote(`revoke: iommu_unmap area ${hex(t.iova)} from domain ${t.domain}`));
  }
  // The areas that use the pages (their references), IOAS by IOAS.
  for (const ioasId of new Set(pages.users.map((u) => u.ioas))) {
    const io = mustIoas(m, world, ioasId);
    const mine = areaEntriesOf(io).filter(([, a]) => a.pages === id);
    world = endGrants(
      world,
      mine.flatMap(([, a]) => a.grants),
    );
    let areas = io.areas;
    for (const [slot, a] of mine) areas = areas.set(slot, { ...a, grants: [] });
    world = putIoas(m, world, ioasId, { ...io, areas });
  }
  if (mustAtt(world, pages.att).mapping !== null) {
    world = mustRun(
      unmapAtt(m, world, pages.att, holder),
      `iommufd: dma_buf_pal_unmap_phys`,
      events,
    ).world;
  }
  world = putPages(m, world, id, { ...pages, phys: [], revoked: true });
  events.push(
    iommufdNote(`attach ${pages.att} revoked for good: its areas stay, dead, until unmapped`),
  );
  return { world, events };
}

/**
 * The rest of `iopt_release_pages` under the 6.19.0-7.1.4 order, after the
 * pages state is gone: `dma_buf_detach()` (which takes the buffer's resv
 * and sleeps while someone holds it) and `dma_buf_put()`. A
 * kernel-internal continuation (the `release-detach` op, listed by
 * {@link iommufdPending}); until it runs, an invalidate of the attachment
 * is a use after destroy ({@link iommufdRevokeNotify}).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment being released.
 * @returns done, blocked on resv, or `ENOENT` when nothing is pending for it.
 * @kernel drivers/iommu/iommufd/pages.c iopt_release_pages
 */
export function iommufdReleaseDetach(m: Machine, w: World, att: number): StepOutcome {
  const ctx = readIommufdSlice(m, w, IOMMUFD_CTX);
  if (!ctx.releasing.includes(att)) {
    return failed(
      w,
      kernelError("ENOENT", () => `no release pending for attachment ${att}`),
    );
  }
  const detached = detachAtt(m, w, att);
  if (detached.status !== "done") return detached;
  const world = writeIommufdSlice(m, detached.world, IOMMUFD_CTX, {
    ...ctx,
    releasing: ctx.releasing.filter((x) => x !== att),
  });
  return done(world, [...detached.events, iommufdNote(`attachment ${att} detached late`)]);
}

/**
 * The work iommufd owes on its own (core's `pendingOps`): the detach of
 * every attachment whose release the 6.19.0-7.1.4 order left half done.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns one `release-detach` op per such attachment.
 */
export function iommufdPending(m: Machine, w: World): readonly Op[] {
  return readIommufdSlice(m, w, IOMMUFD_CTX).releasing.map((att) => ({
    kind: "driver",
    driver: IOMMUFD,
    action: { op: "release-detach", att },
  }));
}
