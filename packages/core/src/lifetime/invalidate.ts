import type { Machine } from "../machine/machine.js";
import type { Effect } from "../world/effect.js";
import type { TraceEvent } from "../trace/event.js";
import { importerOf, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";
import { assertResvHeld } from "./resv.js";
import { worldWith } from "../world/world.js";

/**
 * `dma_buf_invalidate_mappings(dmabuf)` (`dma_buf_move_notify` before 7.1),
 * resv held by `holder` (kernel-model §1.3): for every attachment whose
 * importer has the callback, marks its mapping invalidated (no new DMA, only
 * read-and-discard until unmap) and calls the importer. Attachments without
 * the callback (pinned importers) are skipped, as 7.1 made it optional.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param holder - who holds resv.
 * @returns the world and events.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_invalidate_mappings dma_buf_move_notify
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, invalidateMappings, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "map", att: 1, holder: null },
 *   { kind: "lock", buf: 1, holder: "exp0#FLR" },
 * ]);
 * const r = invalidateMappings(m, world, 1, "exp0#FLR");
 * assert.equal(r.world.atts.get(1)?.invalidated, true); // no new DMA until it maps again
 * assert.deepEqual(
 *   r.events.map((e) => e.kind),
 *   ["invalidate"],
 * );
 * ```
 *
 * @category Lifetime
 */
export function invalidateMappings(m: Machine, w: World, buf: number, holder: string): Effect {
  const held = assertResvHeld(w, buf, holder, "dma_buf_invalidate_mappings() holds dmabuf->resv");
  let world = held.world;
  const events: TraceEvent[] = [...held.events];
  const b = mustBuf(world, buf);
  const callback = m.profile.rules.invalidateCallback;
  for (const id of b.attachments) {
    const a = world.atts.get(id);
    if (a === undefined || !a.dynamic || !a.hasInvalidate) continue;
    const imp = importerOf(m, a);
    if (imp.invalidateMappings === undefined) continue;
    world = worldWith(world, {
      atts: world.atts.set(id, { ...a, invalidated: a.mapping !== null }),
    });
    events.push({ kind: "invalidate", owner: b.owner, importer: imp.name, att: id, callback });
    const r = imp.invalidateMappings(m, world, id);
    world = r.world;
    events.push(...r.events);
  }
  return { world, events };
}
