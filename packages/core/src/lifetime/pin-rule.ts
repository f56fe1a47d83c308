import type { Machine } from "../machine/machine.js";
import type { ExporterDriver } from "../machine/machine.js";
import type { AttachmentState } from "../world/attachment-state.js";

/**
 * Whether map pins first and unmap unpins (kernel-model §1.2): the exporter
 * has a `pin` op and the importer cannot follow moves, i.e. the attachment
 * is static, or (CONFIG_DMABUF_MOVE_NOTIFY=n, linux-6.19) any attachment.
 *
 * @param m - the machine (for the profile).
 * @param exporter - the buffer's exporter driver.
 * @param att - the attachment.
 * @returns true when map must pin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   linux619,
 *   ok,
 *   pinsOnMap,
 *   referenceExporter,
 *   referenceMachine,
 *   runScript,
 * } from "@dmabuf-ref/core";
 * import type { ExporterDriver } from "@dmabuf-ref/core";
 *
 * // an exporter with a pin op (the reference one has none, so never pins)
 * const pinning: ExporterDriver = {
 *   ...referenceExporter({ region: "ram0" }),
 *   pin: (_m, w) => ok({ world: w, events: [] }),
 * };
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev1", dynamic: false },
 * ]);
 * const [dynamic, fixed] = [world.atts.get(1), world.atts.get(2)];
 * assert.ok(dynamic !== undefined && fixed !== undefined);
 * assert.equal(pinsOnMap(m, pinning, dynamic), false); // it follows moves
 * assert.equal(pinsOnMap(m, pinning, fixed), true); // a static importer cannot
 * // CONFIG_DMABUF_MOVE_NOTIFY=n: every map pins
 * assert.equal(pinsOnMap(referenceMachine({ profile: linux619 }), pinning, dynamic), true);
 * ```
 *
 * @category Lifetime
 */
export function pinsOnMap(m: Machine, exporter: ExporterDriver, att: AttachmentState): boolean {
  if (exporter.pin === undefined) return false;
  return !att.dynamic || !m.profile.rules.dynamicImportersMoveCapable;
}
