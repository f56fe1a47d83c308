import { defineDriver } from "../machine/define-driver.js";
import type { ImporterDriver } from "../machine/machine.js";
import type { Op } from "../lifetime/op.js";
import { sgt } from "../mapping-types/sgt.js";
import { accept } from "../negotiation/offer.js";
import type { World } from "../world/world.js";

/**
 * The resv holder name an importer uses for its own work on one attachment.
 *
 * @param importer - the importer's name.
 * @param att - the attachment id.
 * @returns e.g. `"ref-importer#attach 7"`.
 */
export function importerHolder(importer: string, att: number): string {
  return `${importer}#attach ${att}`;
}

/**
 * The reference dynamic importer: the minimal correct revocable importer
 * (kernel-model §1.3, §7.15). It attaches dynamically with
 * `allow_peer2peer`, accepts one SGT, and on `invalidate_mappings` stops
 * starting DMA and owes an unmap, which it performs on its own (lock resv,
 * unmap, unlock) as soon as resv is free. It never re-maps by itself.
 *
 * @param opts - the driver's name.
 * @returns the importer driver.
 */
export function referenceImporter(opts: { readonly name?: string } = {}): ImporterDriver {
  const name = opts.name ?? "ref-importer";
  return defineDriver({
    role: "importer",
    name,
    slices: {},
    callbacks: {
      allowPeer2peer: true,
      accepts: (_m, _w, req) => [
        accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, name),
      ],
      invalidateMappings: (_m, world) => ({ world, events: [] }),
      pending: (_m, w) => owedUnmaps(w, name),
    },
  });
}

/**
 * The resv holder name an importer uses for the unmap it owes after an
 * invalidate, distinct from {@link importerHolder} so the importer never
 * releases a lock its user took.
 *
 * @param importer - the importer's name.
 * @param att - the attachment id.
 * @returns e.g. `"ref-importer#attach 7, owed unmap"`.
 */
export function owedUnmapHolder(importer: string, att: number): string {
  return `${importerHolder(importer, att)}, owed unmap`;
}

/**
 * The next step of the unmap an importer owes after an invalidate, for every
 * attachment of `importer`: lock resv, unmap, unlock. Shared by importers
 * that behave like the reference one.
 *
 * @param w - the world.
 * @param importer - the importer's name.
 * @returns the next op per attachment that owes work.
 */
export function owedUnmaps(w: World, importer: string): Op[] {
  const ops: [number, Op][] = [];
  // The world marks attachments invalidated and still mapped, and buffers
  // whose resv is held: only those can owe a step (no scan of the rest).
  for (const id of w.atts.index.keys()) {
    const a = w.atts.get(id);
    const b = a === undefined ? undefined : w.bufs.get(a.buf);
    if (a === undefined || b === undefined || a.importer !== importer) continue;
    const holder = owedUnmapHolder(importer, id);
    ops.push([
      id,
      b.resvHolder === holder
        ? { kind: "unmap", att: id, holder }
        : { kind: "lock", buf: a.buf, holder },
    ]);
  }
  for (const buf of w.bufs.index.held.keys()) {
    const b = w.bufs.get(buf);
    if (b === undefined) continue;
    for (const id of b.attachments) {
      const a = w.atts.get(id);
      if (a === undefined || a.importer !== importer) continue;
      const owes = a.mapping !== null && a.invalidated;
      if (!owes && b.resvHolder === owedUnmapHolder(importer, id))
        ops.push([id, { kind: "unlock", buf, holder: b.resvHolder }]);
    }
  }
  // In attachment order, as a scan would list them.
  return ops.sort((x, y) => x[0] - y[0]).map(([, op]) => op);
}
