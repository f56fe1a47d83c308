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
