import type { RegionState, RegionStatus } from "../world/region-state.js";
import type { World } from "../world/world.js";
import { grantsOfRegion } from "../world/grant-index.js";
import { intervalAt, regionIndex } from "./region-index.js";

/**
 * The innermost region containing `[phys, phys + len)`: a buffer carved out
 * of RAM wins over RAM itself, and a live region over a freed one no
 * smaller than it (freed memory is handed out again, as the kernel's
 * allocators do; an old mapping's grant stays stale, so the oracle still
 * catches an access through it).
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
  const index = regionIndex(w.regions);
  const i = intervalAt(index, phys);
  if (i < 0) return undefined;
  const end = phys + len;
  const smallest = (ids: readonly number[] | undefined): [number, RegionState] | undefined => {
    for (const id of ids ?? []) {
      const r = w.regions.get(id);
      if (r !== undefined && r.base <= phys && end <= r.base + r.size) return [id, r];
    }
    return undefined;
  };
  // An empty range at a region's end is inside it too: look one interval back.
  const j = len === 0n && index.starts[i] === phys && i > 0 ? i - 1 : i;
  const pick = (lists: readonly (readonly number[])[]): [number, RegionState] | undefined => {
    const a = smallest(lists[i]);
    const b = j === i ? undefined : smallest(lists[j]);
    if (a === undefined) return b;
    if (b === undefined) return a;
    return b[1].size < a[1].size || (b[1].size === a[1].size && b[0] < a[0]) ? b : a;
  };
  const owned = pick(index.owned);
  const freed = pick(index.freed);
  // A freed region counts only where nothing owned as inner covers it again.
  return freed !== undefined && (owned === undefined || freed[1].size < owned[1].size)
    ? freed
    : owned;
}

/**
 * The lowest address in a parent region where `size` bytes fit between its
 * live sub-regions and the ranges a driver has reserved but not carved yet:
 * first fit over the holes, the way a memory manager hands out freed memory
 * again (so a world that allocates and frees returns to where it was).
 *
 * @param w - the world.
 * @param parentName - the parent region (RAM, VRAM) by name.
 * @param size - bytes.
 * @param reserved - ranges already promised (e.g. a move's destination).
 * @returns the base, or undefined when no hole fits (`ENOMEM` for the caller).
 */
export function firstFitIn(
  w: World,
  parentName: string,
  size: bigint,
  reserved: readonly { readonly base: bigint; readonly size: bigint }[] = [],
): bigint | undefined {
  const found = regionNamed(w, parentName);
  if (found === undefined) throw new Error(`no region ${parentName}`);
  const [pid, parent] = found;
  const end = parent.base + parent.size;
  const taken = [...reserved];
  for (const [id, r] of w.regions.entries()) {
    // Memory mid-reset or disabled still has its owner; only freed memory is free.
    if (id === pid || r.status === "freed") continue;
    if (r.base >= parent.base && r.base + r.size <= end) taken.push(r);
  }
  taken.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  let at = parent.base;
  for (const t of taken) {
    if (t.base >= at + size) break;
    if (t.base + t.size > at) at = t.base + t.size;
  }
  return at + size <= end ? at : undefined;
}

/**
 * A region by name.
 *
 * @param w - the world.
 * @param name - the region's id.
 * @returns its table id and state, or undefined.
 */
export function regionNamed(w: World, name: string): [number, RegionState] | undefined {
  const id = regionIndex(w.regions).byName.get(name);
  const r = id === undefined ? undefined : w.regions.get(id);
  return id === undefined || r === undefined ? undefined : [id, r];
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
export function setRegionStatus(w: World, id: number, status: RegionStatus): World {
  const r = w.regions.get(id);
  if (r === undefined) throw new Error(`no region ${id}`);
  if (r.status === status) return w;
  let grants = w.grants;
  if (status !== "live") {
    for (const gid of grantsOfRegion(w.grantIndex, r.id)) {
      const g = w.grants.get(gid);
      if (g !== undefined && !g.stale) grants = grants.set(gid, { ...g, stale: true });
    }
  }
  return { ...w, regions: w.regions.set(id, { ...r, status }), grants };
}
