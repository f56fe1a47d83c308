import type { Machine } from "../machine/machine.js";
import { kernelError } from "../errors/kernel-error.js";
import { deviceIdSchema } from "../schemas.js";
import { exporterOf, importerOf, isKernelError, lookupAtt, lookupBuf } from "../world/access.js";
import { attachRevocable } from "../world/attachment-state.js";
import type { World } from "../world/world.js";
import { negotiateAttach } from "./attach-negotiation.js";
import { encodedWith } from "../encoding/codecs.js";
import type { StepOutcome } from "./outcome.js";
import { blocked, done, failed } from "./outcome.js";
import { dropFileRef } from "./release.js";
import { worldWith } from "../world/world.js";
import { bufWith } from "../world/dmabuf-state.js";

/**
 * `dma_buf_dynamic_attach()` (dynamic) or `dma_buf_attach()` (static), with
 * the mapping-type negotiation of the active profile (kernel-model §1.2,
 * §4.2): the exporter's offers meet the importer's accepts, the match is
 * stored on the attachment, then the exporter's `attach` callback may refuse.
 * The attach takes the buffer's resv to link the attachment, so it blocks
 * while someone holds it; the importer keeps a file reference while attached.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param importer - the importer driver's name.
 * @param device - the importing DMA device, or null.
 * @param dynamic - dynamic (importer ops) or static.
 * @returns the outcome; `created` is the attachment id.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_dynamic_attach dma_buf_attach
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachBuf, boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const r = attachBuf(m, world, 1, "ref-importer", "dev0", true);
 * assert.ok(r.status === "done");
 * assert.equal(r.created, 1); // the attachment's id
 * assert.equal(r.world.atts.get(1)?.mapType, "sgt");
 * assert.equal(r.world.bufs.get(1)?.fileRefs, 2); // the importer's file reference
 * ```
 *
 * @category Lifetime
 */
export function attachBuf(
  m: Machine,
  w: World,
  buf: number,
  importer: string,
  device: string | null,
  dynamic: boolean,
): StepOutcome {
  const b = lookupBuf(w, buf);
  if (isKernelError(b)) return failed(w, b);
  const imp = m.importers.get(importer);
  if (imp === undefined)
    return failed(
      w,
      kernelError("EINVAL", () => `no importer driver ${importer}`),
    );
  // The kernel is handed a struct device; a name that cannot be a device's has none.
  if (device !== null && !deviceIdSchema.safeParse(device).success)
    return failed(
      w,
      kernelError("EINVAL", () => `${JSON.stringify(device)} is not a device name`),
    );
  if (b.resvHolder !== null) {
    return blocked(w, "resv", () => `resv of buf ${buf} is held by ${String(b.resvHolder)}`);
  }
  const peer2peer = dynamic && imp.allowPeer2peer;
  const exp = exporterOf(m, b);
  const result = negotiateAttach(m, w, buf, imp, { device, dynamic, peer2peer });
  if (!result.ok) return failed(w, result.error);
  const att = w.atts.lowestFreeId();
  const next = w;
  const attachment = {
    buf,
    importer,
    device,
    dynamic,
    peer2peer,
    hasInvalidate: dynamic && imp.invalidateMappings !== undefined,
    pins: 0,
    mapType: result.match.type.id,
    exporterType: result.match.exporterType.id,
    importerData: encodedWith(result.match.type.importerDataCodec, result.match.importerData),
    converter: result.match.converter?.id ?? null,
    mapping: null,
    invalidated: false,
  };
  const linked: World = worldWith(next, {
    atts: next.atts.set(att, attachment),
    bufs: next.bufs.set(
      buf,
      // list_add(): at the head, so walks of the list (invalidate, revoke)
      // meet the newest attachment first, as the kernel's do.
      bufWith(b, { attachments: [att, ...b.attachments], fileRefs: b.fileRefs + 1 }),
    ),
  });
  const accepted = exp.attach?.(m, linked, att) ?? {
    ok: true,
    value: { world: linked, events: [] },
  };
  if (!accepted.ok) return failed(w, accepted.error);
  return done(
    accepted.value.world,
    [
      ...accepted.value.events,
      {
        kind: "attach",
        importer,
        owner: b.owner,
        att,
        dynamic,
        revocable: attachRevocable(attachment),
        mapType:
          attachment.converter === null
            ? attachment.mapType
            : `${attachment.mapType} via ${attachment.converter}`,
      },
    ],
    att,
  );
}

/**
 * `dma_buf_detach()`: the importer must have unmapped and unpinned first
 * (`EBUSY` otherwise, a model rule standing for the kernel's WARN); takes
 * resv to unlink, then the exporter's `detach`, then drops the importer's
 * file reference.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @returns the outcome.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_detach
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, detachAtt, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 * ]);
 * const r = detachAtt(m, world, 1);
 * assert.ok(r.status === "done");
 * assert.equal(r.world.atts.size, 0);
 * assert.equal(r.world.bufs.get(1)?.fileRefs, 1);
 * ```
 *
 * @category Lifetime
 */
export function detachAtt(m: Machine, w: World, att: number): StepOutcome {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return failed(w, a);
  if (a.mapping !== null)
    return failed(
      w,
      kernelError("EBUSY", () => `attachment ${att} is still mapped`),
    );
  if (a.pins > 0)
    return failed(
      w,
      kernelError("EBUSY", () => `attachment ${att} is still pinned`),
    );
  const b = w.bufs.get(a.buf);
  if (b === undefined) throw new Error(`attachment ${att} has no buffer`);
  if (b.resvHolder !== null) {
    return blocked(w, "resv", () => `resv of buf ${a.buf} is held by ${String(b.resvHolder)}`);
  }
  const exp = exporterOf(m, b);
  const detached = exp.detach?.(m, w, att) ?? { world: w, events: [] };
  const world = detached.world;
  const buf = world.bufs.get(a.buf);
  if (buf === undefined) throw new Error(`buffer ${a.buf} vanished`);
  const imp = importerOf(m, a);
  const unlinked: World = worldWith(world, {
    atts: world.atts.delete(att),
    bufs: world.bufs.set(
      a.buf,
      bufWith(buf, { attachments: buf.attachments.filter((x) => x !== att) }),
    ),
  });
  const put = dropFileRef(m, unlinked, a.buf);
  return done(put.world, [
    ...detached.events,
    { kind: "detach", importer: imp.name, owner: buf.owner, att },
    ...put.events,
  ]);
}
