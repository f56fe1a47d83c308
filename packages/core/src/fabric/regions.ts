import type { RegionState } from "../world/region-state.js";
import type { World } from "../world/world.js";

/**
 * The innermost region containing `[phys, phys + len)`: a buffer carved out
 * of RAM wins over RAM itself.
 *
 * @param w - the world.
 * @param phys - CPU physical address.
 * @param len - bytes.
 * @returns the region's id and state, or undefined when no memory is there.
 */
export function regionContaining(
  w: World,
  phys: bigint,
  len: bigint,
): [number, RegionState] | undefined {
  let best: [number, RegionState] | undefined;
  for (const [id, r] of w.regions.entries()) {
    if (
      phys >= r.base &&
      phys + len <= r.base + r.size &&
      (best === undefined || r.size < best[1].size)
    ) {
      best = [id, r];
    }
  }
  return best;
}

/**
 * A region by name.
 *
 * @param w - the world.
 * @param name - the region's id.
 * @returns its table id and state, or undefined.
 */
export function regionNamed(w: World, name: string): [number, RegionState] | undefined {
  for (const entry of w.regions.entries()) if (entry[1].id === name) return entry;
  return undefined;
}
