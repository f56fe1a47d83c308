import type { Machine } from "../machine/machine.js";
import { kernelError } from "../errors/kernel-error.js";
import type { TraceEvent } from "../trace/event.js";
import {
  exporterOf,
  importerOf,
  isKernelError,
  lookupAtt,
  mustBuf,
  recordViolation,
} from "../world/access.js";
import type { World } from "../world/world.js";
import type { StepOutcome } from "./outcome.js";
import { done, failed } from "./outcome.js";
import { assertResvHeld } from "./resv.js";
import { worldWith } from "../world/world.js";

/**
 * `dma_buf_pin()`: "the buffer may not move anymore" (kernel-model §1.1).
 * Only dynamic importers pin (a static attachment is a contract violation,
 * the kernel's WARN_ON(!importer_ops)); resv must be held. A NULL exporter
 * `pin` succeeds as a no-op; VFIO's 6.19 pin fails with `EOPNOTSUPP`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @param holder - the resv holder.
 * @returns the outcome.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_pin
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, importerHolder, pinAtt, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 * ]);
 * const r = pinAtt(m, world, 1, holder);
 * assert.ok(r.status === "done");
 * assert.equal(r.world.atts.get(1)?.pins, 1);
 * assert.equal(r.world.violations.size, 0); // dynamic, under resv: by the rules
 * ```
 *
 * @category Lifetime
 */
export function pinAtt(m: Machine, w: World, att: number, holder: string): StepOutcome {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return failed(w, a);
  const b = mustBuf(w, a.buf);
  const events: TraceEvent[] = [];
  let world = w;
  if (!a.dynamic) {
    const v = recordViolation(world, {
      kind: "contract",
      rule: "dma_buf_pin() is for dynamic importers (attach->importer_ops set)",
      actor: holder,
      message: `attachment ${att} is static`,
    });
    world = v.world;
    events.push(v.event);
  }
  const held = assertResvHeld(world, a.buf, holder, "dma_buf_pin() holds dmabuf->resv");
  world = held.world;
  events.push(...held.events);
  const exp = exporterOf(m, b);
  const pinned = exp.pin?.(m, world, att) ?? { ok: true as const, value: { world, events: [] } };
  if (!pinned.ok) return failed(w, pinned.error);
  world = pinned.value.world;
  const current = world.atts.get(att);
  if (current === undefined) throw new Error(`attachment ${att} vanished during pin`);
  world = worldWith(world, { atts: world.atts.set(att, { ...current, pins: current.pins + 1 }) });
  events.push(...pinned.value.events, {
    kind: "pin",
    importer: importerOf(m, a).name,
    owner: b.owner,
    att,
    implicit: false,
  });
  return done(world, events);
}

/**
 * `dma_buf_unpin()` (resv held). Unpinning what is not pinned is `EINVAL`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @param holder - the resv holder.
 * @returns the outcome.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_unpin
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, importerHolder, referenceMachine, runScript, unpinAtt } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "pin", att: 1, holder },
 * ]);
 * const r = unpinAtt(m, world, 1, holder);
 * assert.ok(r.status === "done");
 * assert.equal(r.world.atts.get(1)?.pins, 0);
 * const again = unpinAtt(m, r.world, 1, holder);
 * assert.ok(again.status === "failed");
 * assert.equal(again.error.errno, "EINVAL"); // not pinned
 * ```
 *
 * @category Lifetime
 */
export function unpinAtt(m: Machine, w: World, att: number, holder: string): StepOutcome {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return failed(w, a);
  if (a.pins === 0)
    return failed(
      w,
      kernelError("EINVAL", () => `attachment ${att} is not pinned`),
    );
  const b = mustBuf(w, a.buf);
  const held = assertResvHeld(w, a.buf, holder, "dma_buf_unpin() holds dmabuf->resv");
  const exp = exporterOf(m, b);
  const unpinned = exp.unpin?.(m, held.world, att) ?? { world: held.world, events: [] };
  const current = unpinned.world.atts.get(att);
  if (current === undefined) throw new Error(`attachment ${att} vanished during unpin`);
  return done(
    worldWith(unpinned.world, {
      atts: unpinned.world.atts.set(att, { ...current, pins: current.pins - 1 }),
    }),
    [
      ...held.events,
      ...unpinned.events,
      { kind: "unpin", importer: importerOf(m, a).name, owner: b.owner, att, implicit: false },
    ],
  );
}
