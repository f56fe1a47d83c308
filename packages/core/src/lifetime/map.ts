import type { Machine } from "../machine/machine.js";
import type { Effect } from "../world/effect.js";
import { kernelError } from "../errors/kernel-error.js";
import { dmaUnmapIova } from "../fabric/dma-map.js";
import { endGrants } from "../fabric/grants.js";
import { findMappingType } from "../mapping-types/builtins.js";
import { isPayloadOf } from "../mapping-types/define.js";
import type { Encoded } from "../encoding/codecs.js";
import type { TraceEvent } from "../trace/event.js";
import { exporterOf, importerOf, isKernelError, lookupAtt, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";
import type { StepOutcome } from "./outcome.js";
import { blocked, done, failed } from "./outcome.js";
import { pinsOnMap } from "./pin-rule.js";
import { assertResvHeld } from "./resv.js";
import { worldWith } from "../world/world.js";

const MAP_RULE = "dma_buf_map_attachment() of a dynamic attachment holds dmabuf->resv";
const UNMAP_RULE = "dma_buf_unmap_attachment() of a dynamic attachment holds dmabuf->resv";

/** Describes a payload with its type's `describe`, when the type is known. */
function describePayload(typeId: string, payload: Encoded<unknown>): string {
  const type = findMappingType(typeId);
  return type !== undefined && isPayloadOf(type, payload) ? type.describe(payload.value) : typeId;
}

/**
 * Resolves who holds resv for a map/unmap: `holder` for the locked call; for
 * the `_unlocked` variant (holder null) core takes the lock itself, so the
 * step blocks while anyone holds it.
 */
function lockContext(
  w: World,
  buf: number,
  holder: string | null,
  dynamic: boolean,
  rule: string,
): Effect | { blockedBy: string } {
  const b = mustBuf(w, buf);
  if (holder === null) {
    if (b.resvHolder !== null) return { blockedBy: b.resvHolder };
    return { world: w, events: [] };
  }
  return dynamic ? assertResvHeld(w, buf, holder, rule) : { world: w, events: [] };
}

/**
 * `dma_buf_map_attachment()` (resv held by `holder`) or
 * `dma_buf_map_attachment_unlocked()` (holder null; core takes resv): pins
 * first when the pin-on-map rule applies, then the exporter's map for the
 * negotiated type. A dynamic attachment mapped without resv is a contract
 * violation (kernel-model §1.2). With a converter, the exporter maps its
 * own type (`exporterType`) and core converts the payload for the importer
 * (kernel-model §4.4), with `request` (default: the accept's data) as the
 * importer's per-map arguments. A failed map leaves nothing pinned or
 * mapped. One mapping per attachment: a second map is `EBUSY`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @param holder - the resv holder, or null for the unlocked variant.
 * @param request - the importer's arguments for a converted map (e.g. the
 *   iommu-domain's domain, IOVA, offset and size).
 * @returns the outcome.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_map_attachment dma_buf_map_attachment_unlocked
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   importerHolder,
 *   mapAtt,
 *   payloadAs,
 *   referenceMachine,
 *   runScript,
 *   sgt,
 * } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 * ]);
 * const r = mapAtt(m, world, 1, holder);
 * assert.ok(r.status === "done");
 * // dev0 is behind the IOMMU: the SGT holds the IOVA its DMA-API domain allocated
 * const entries = payloadAs(sgt, r.world.atts.get(1)?.mapping?.payload).entries;
 * assert.deepEqual(entries, [{ dmaAddress: 0x1000_0000n, length: 0x4000n }]);
 * ```
 *
 * @category Lifetime
 */
export function mapAtt(
  m: Machine,
  w: World,
  att: number,
  holder: string | null,
  request?: unknown,
): StepOutcome {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return failed(w, a);
  const b = mustBuf(w, a.buf);
  const ctx = lockContext(w, a.buf, holder, a.dynamic, MAP_RULE);
  if ("blockedBy" in ctx) {
    return blocked(w, "resv", () => `resv of buf ${a.buf} is held by ${ctx.blockedBy}`);
  }
  if (a.mapping !== null)
    return failed(
      w,
      kernelError("EBUSY", () => `attachment ${att} is already mapped`),
    );
  const exp = exporterOf(m, b);
  const imp = importerOf(m, a);
  const events: TraceEvent[] = [...ctx.events];
  let world = ctx.world;
  const pin = pinsOnMap(m, exp, a);
  if (pin && exp.pin !== undefined) {
    const pinned = exp.pin(m, world, att);
    if (!pinned.ok) return failed(w, pinned.error);
    world = pinned.value.world;
    events.push(...pinned.value.events, {
      kind: "pin",
      importer: imp.name,
      owner: b.owner,
      att,
      implicit: true,
    });
  }
  const mapped = exp.map(m, world, att);
  if (!mapped.ok) return failed(w, mapped.error);
  world = mapped.value.world;
  let mapping = mapped.value.mapping;
  if (a.converter !== null) {
    const converter = m.profile.converters.find((c) => c.id === a.converter);
    if (converter === undefined)
      throw new Error(`attachment ${att} names unknown converter ${a.converter}`);
    if (converter.convert === undefined) {
      return failed(
        w,
        kernelError("EOPNOTSUPP", () => `core cannot map through ${converter.id}`),
      );
    }
    const converted = converter.convert(
      m,
      world,
      att,
      mapping.payload,
      request ?? a.importerData.value,
    );
    if (!converted.ok) return failed(w, converted.error);
    world = converted.value.world;
    mapping = {
      payload: converted.value.payload,
      grants: [...mapping.grants, ...converted.value.grants],
      iova: [...mapping.iova, ...converted.value.iova],
    };
  }
  const current = world.atts.get(att);
  if (current === undefined) throw new Error(`attachment ${att} vanished during map`);
  world = worldWith(world, {
    atts: world.atts.set(att, {
      ...current,
      mapping,
      invalidated: false,
      pins: current.pins + (pin ? 1 : 0),
    }),
  });
  events.push(...mapped.value.events, {
    kind: "map",
    importer: imp.name,
    owner: b.owner,
    att,
    detail: describePayload(a.mapType, mapping.payload),
  });
  return done(world, events);
}

/**
 * `dma_buf_unmap_attachment()` (or `_unlocked`): the exporter's unmap, then
 * core undoes what its converter mapped (the IOVA of a PAL->SGT or
 * PAL->iommu-domain conversion, kernel-model §4.4: core made it, so core
 * unmaps it whatever the exporter's unmap does), ends the mapping's grants
 * (from here on the importer may not touch the memory), then unpins when
 * map had pinned.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @param holder - the resv holder, or null for the unlocked variant.
 * @returns the outcome.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_unmap_attachment dma_buf_unmap_attachment_unlocked
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, importerHolder, referenceMachine, runScript, unmapAtt } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "map", att: 1, holder },
 * ]);
 * const r = unmapAtt(m, world, 1, holder);
 * assert.ok(r.status === "done");
 * assert.equal(r.world.atts.get(1)?.mapping, null);
 * assert.equal(unmapAtt(m, r.world, 1, holder).status, "failed"); // EINVAL: not mapped
 * ```
 *
 * @category Lifetime
 */
export function unmapAtt(m: Machine, w: World, att: number, holder: string | null): StepOutcome {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return failed(w, a);
  const b = mustBuf(w, a.buf);
  const ctx = lockContext(w, a.buf, holder, a.dynamic, UNMAP_RULE);
  if ("blockedBy" in ctx) {
    return blocked(w, "resv", () => `resv of buf ${a.buf} is held by ${ctx.blockedBy}`);
  }
  const mapping = a.mapping;
  if (mapping === null)
    return failed(
      w,
      kernelError("EINVAL", () => `attachment ${att} is not mapped`),
    );
  const exp = exporterOf(m, b);
  const imp = importerOf(m, a);
  const unmapped = exp.unmap(m, ctx.world, att, mapping);
  // Idempotent: an exporter that already unmapped the whole list leaves nothing to undo.
  let world = a.converter === null ? unmapped.world : dmaUnmapIova(unmapped.world, mapping.iova);
  const events: TraceEvent[] = [...ctx.events, ...unmapped.events];
  world = endGrants(world, mapping.grants);
  const current = world.atts.get(att);
  if (current === undefined) throw new Error(`attachment ${att} vanished during unmap`);
  world = worldWith(world, {
    atts: world.atts.set(att, { ...current, mapping: null, invalidated: false }),
  });
  events.push({ kind: "unmap", importer: imp.name, owner: b.owner, att, detail: "" });
  if (pinsOnMap(m, exp, a) && current.pins > 0) {
    const unpinned = exp.unpin?.(m, world, att) ?? { world, events: [] };
    const after = unpinned.world.atts.get(att);
    if (after === undefined) throw new Error(`attachment ${att} vanished during unpin`);
    world = worldWith(unpinned.world, {
      atts: unpinned.world.atts.set(att, { ...after, pins: after.pins - 1 }),
    });
    events.push(...unpinned.events, {
      kind: "unpin",
      importer: imp.name,
      owner: b.owner,
      att,
      implicit: true,
    });
  }
  return done(world, events);
}
