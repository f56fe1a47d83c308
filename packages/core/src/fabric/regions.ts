import type { RegionState, RegionStatus } from "../world/region-state.js";
import type { World } from "../world/world.js";
import { grantsOfRegion } from "../world/grant-index.js";
import { forEachInGroup } from "../encoding/group-index.js";
import { firstFitAmong, rangesHolding } from "./region-index.js";
import { worldWith } from "../world/world.js";

/** The smallest range of `tree` holding [phys, end), the lower id on a tie. */
function smallestHolding(
  w: World,
  tree: World["regions"]["index"]["owned"],
  phys: bigint,
  end: bigint,
): [number, RegionState] | undefined {
  let best: { id: number; size: bigint } | undefined;
  rangesHolding(tree, phys, end, (id, start, stop) => {
    const size = stop - start;
    if (best === undefined || size < best.size || (size === best.size && id < best.id))
      best = { id, size };
  });
  const r = best === undefined ? undefined : w.regions.get(best.id);
  return best === undefined || r === undefined ? undefined : [best.id, r];
}

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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, regionContaining } from "@dmabuf-ref/core";
 *
 * // The reference machine's 1 GiB of RAM starts at 0x1_0000_0000.
 * const w = boot(referenceMachine());
 * assert.equal(regionContaining(w, 0x1_0000_4000n, 0x1000n)?.[1].id, "ram0");
 * assert.equal(regionContaining(w, 0x8000_0000n, 0x1000n), undefined);
 * ```
 * @category Fabric and oracle
 */
export function regionContaining(
  w: World,
  phys: bigint,
  len: bigint,
): [number, RegionState] | undefined {
  const index = w.regions.index;
  const end = phys + len;
  const owned = smallestHolding(w, index.owned, phys, end);
  const freed = smallestHolding(w, index.freed, phys, end);
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, firstFitIn, referenceMachine } from "@dmabuf-ref/core";
 *
 * // An exporter carving 16 KiB out of ram0, skipping a range a move has promised.
 * const w = boot(referenceMachine());
 * assert.equal(firstFitIn(w, "ram0", 0x4000n), 0x1_0000_0000n);
 * const promised = [{ base: 0x1_0000_0000n, size: 0x8000n }];
 * assert.equal(firstFitIn(w, "ram0", 0x4000n, promised), 0x1_0000_8000n);
 * assert.equal(firstFitIn(w, "ram0", 0x8000_0000n), undefined); // more than 1 GiB: ENOMEM
 * ```
 * @category Fabric and oracle
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
  // First fit over the sub-regions (owned: memory mid-reset or disabled still
  // has its owner; only freed memory is free), then past any promised range
  // the candidate meets.
  let at = parent.base;
  for (;;) {
    at = firstFitAmong(w.regions.index.owned, parent.base, pid, at, size);
    const candidate = at;
    const clash = reserved.find((p) => p.base < candidate + size && candidate < p.base + p.size);
    if (clash === undefined) break;
    at = clash.base + clash.size;
  }
  return at + size <= end ? at : undefined;
}

/**
 * A region by name: the one that holds the name now. A freed region whose
 * stale grants keep it in the world may share its name with the region
 * that took its place (a memfd id used again), and is found only when no
 * other region has the name.
 *
 * @param w - the world.
 * @param name - the region's id.
 * @returns its table id and state, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, regionNamed } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * const found = regionNamed(w, "ram0");
 * assert.ok(found);
 * const [, ram] = found;
 * assert.equal(ram.base, 0x1_0000_0000n);
 * assert.equal(ram.status, "live");
 * assert.equal(regionNamed(w, "vfio0.bar0"), undefined);
 * ```
 * @category Fabric and oracle
 */
export function regionNamed(w: World, name: string): [number, RegionState] | undefined {
  let found: [number, RegionState] | undefined;
  forEachInGroup(w.regions.index.byName, name, (id) => {
    const r = w.regions.get(id);
    if (r === undefined) return true;
    // The lowest id, unless it is freed and a later one is not.
    if (found === undefined || (found[1].status === "freed" && r.status !== "freed"))
      found = [id, r];
    return found[1].status === "freed";
  });
  return found;
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   grantAccess,
 *   referenceMachine,
 *   regionNamed,
 *   setRegionStatus,
 * } from "@dmabuf-ref/core";
 *
 * // dev2 was granted a page of ram0; the memory then goes away (freed).
 * const w0 = boot(referenceMachine());
 * const req = { device: "dev2", phys: 0x1_0000_0000n, len: 0x1000n, write: true, att: null };
 * const granted = grantAccess(w0, req);
 * assert.ok(granted);
 * const found = regionNamed(granted.world, "ram0");
 * assert.ok(found);
 * const [rid] = found;
 * const w = setRegionStatus(granted.world, rid, "freed");
 * assert.equal(w.regions.get(rid)?.status, "freed");
 * assert.equal(w.grants.get(granted.id)?.stale, true);
 * ```
 * @category Fabric and oracle
 */
export function setRegionStatus(w: World, id: number, status: RegionStatus): World {
  const r = w.regions.get(id);
  if (r === undefined) throw new Error(`no region ${id}`);
  if (r.status === status) return w;
  let grants = w.grants;
  if (status !== "live") {
    for (const gid of grantsOfRegion(w.grants.index, id)) {
      const g = w.grants.get(gid);
      if (g !== undefined && !g.stale) grants = grants.set(gid, { ...g, stale: true });
    }
  }
  return worldWith(w, { regions: w.regions.set(id, { ...r, status }), grants });
}
