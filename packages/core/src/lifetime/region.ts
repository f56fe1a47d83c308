import { kernelError } from "../errors/kernel-error.js";
import { regionNamed, setRegionStatus } from "../fabric/regions.js";
import type { World } from "../world/world.js";
import type { StepOutcome } from "./outcome.js";
import { done, failed } from "./outcome.js";

/**
 * Memory of a region goes away (FLR, PCI_COMMAND.MEMORY cleared, D3hot, a
 * free) or comes back. Going away advances the region's epoch: any grant
 * made before is stale from then on (DESIGN §3.5).
 *
 * @param w - the world.
 * @param name - the region's id.
 * @param status - the new state.
 * @param by - who does it.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, setRegion } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * // the buffer's pages, carved from ram0 as the region exp0.buf1, go away
 * const r = setRegion(world, "exp0.buf1", "inaccessible", "exp0 FLR");
 * assert.ok(r.status === "done");
 * assert.deepEqual(r.events, [
 *   { kind: "region", actor: "exp0 FLR", region: "exp0.buf1", status: "inaccessible" },
 * ]);
 * assert.equal(setRegion(world, "bar9", "live", "exp0").status, "failed"); // EINVAL
 * ```
 *
 * @category Lifetime
 */
export function setRegion(
  w: World,
  name: string,
  status: "live" | "inaccessible",
  by: string,
): StepOutcome {
  const found = regionNamed(w, name);
  if (found === undefined)
    return failed(
      w,
      kernelError("EINVAL", () => `no region ${name}`),
    );
  const [id, r] = found;
  if (r.status === "freed")
    return failed(
      w,
      kernelError("EINVAL", () => `region ${name} was freed: it has no owner`),
    );
  if (r.status === status) return done(w, []);
  return done(setRegionStatus(w, id, status), [
    { kind: "region", actor: by, region: name, status },
  ]);
}
