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

/**
 * Changes a region's state. Going inaccessible (a reset, memory decode
 * off, the owner freeing it) makes every grant of the region stale: a
 * mapping made before points at memory whose contents or owner changed, and
 * the oracle reports any access through it (DESIGN §3.5).
 *
 * @param w - the world.
 * @param id - the region's table id.
 * @param status - the new state.
 * @returns the new world.
 */
export function setRegionStatus(w: World, id: number, status: "live" | "inaccessible"): World {
  const r = w.regions.get(id);
  if (r === undefined) throw new Error(`no region ${id}`);
  if (r.status === status) return w;
  let grants = w.grants;
  if (status === "inaccessible") {
    for (const [gid, g] of w.grants.entries()) {
      if (g.region === r.id && !g.stale) grants = grants.set(gid, { ...g, stale: true });
    }
  }
  return { ...w, regions: w.regions.set(id, { ...r, status }), grants };
}
