import { endGrants, iommuUnmap, mustAtt, mustBuf, mustRun, unmapAtt } from "@dmabuf-ref/core";
import type { DriverStep, Machine, TraceEvent, World } from "@dmabuf-ref/core";
import { areaChunks } from "./chunks.js";
import { IOMMUFD } from "./constants.js";
import { areaAt, areaEntriesOf, mustIoas, pagesOfAttachment, putIoas, putPages } from "./state.js";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function note(text: string): TraceEvent {
  return { kind: "note", actor: IOMMUFD, text };
}

/**
 * `iopt_revoke_notify`, iommufd's `invalidate_mappings` (kernel-facts §3.5,
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
 */
export function iommufdRevokeNotify(m: Machine, w: World, att: number): DriverStep {
  const found = pagesOfAttachment(m, w, att);
  if (found === undefined) return { world: w, events: [] };
  const { id, pages } = found;
  if (pages.revoked) {
    return { world: w, events: [note(`attach ${att} already revoked: nothing to do`)] };
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
      events.push(note(`revoke: core unmaps area ${hex(t.iova)} from domain ${t.domain}`));
      continue;
    }
    const area = areaAt(mustIoas(m, world, t.ioas), t.iova);
    if (area === undefined) throw new Error(`iommufd: tracked area ${hex(t.iova)} is gone`);
    world = areaChunks(area, pages).reduce(
      (acc, c) => iommuUnmap(acc, t.domain, c.iova, c.len),
      world,
    );
    events.push(note(`revoke: iommu_unmap area ${hex(t.iova)} from domain ${t.domain}`));
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
  events.push(note(`attach ${pages.att} revoked for good: its areas stay, dead, until unmapped`));
  return { world, events };
}
