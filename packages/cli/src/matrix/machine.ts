import type { Profile, World } from "@dmabuf-ref/core";
import { standardWorld } from "../scenarios/machine.js";

/**
 * The machine every matrix cell starts from: every device P2P-reachable
 * through the host bridge (issue 5's definition of a cell).
 *
 * @param profile - the rules in force.
 * @returns a fresh world.
 */
export function matrixWorld(profile: Profile): World {
  return standardWorld(profile);
}
