import { forEachInIdGroup, idGroupIndex, idsInIdGroup } from "../encoding/group-index.js";
import type { IdGroups } from "../encoding/group-index.js";
import type { TableIndex } from "../encoding/ptable.js";
import type { Grant } from "./grant.js";

/**
 * The grant ids of each region, under the region's id in `World.regions`:
 * the oracle's index for judging an access (which grants cover this device
 * at this region?) and for making a region's grants stale, without a scan
 * of every grant (issue 10). The grant table keeps it as its index
 * ({@link grantIndexer}), so every change of a grant updates it; not part
 * of a world's hash or equality, which the grants themselves decide.
 *
 * An {@link IdGroups}: a trie by region id of tries by grant id, so
 * judging an access (the region found by address first) reaches its
 * region's grants by index arithmetic, with no search among the other
 * regions' (issue 10: a B+tree by region name cost a three-level search
 * per device access at 10,000 buffers); adding or removing a grant copies
 * two short paths and no per-region array (RAM may hold thousands).
 * @category Tables and indexes
 */
export type GrantIndex = IdGroups;

/**
 * The grant table's index of its grants by region (`PTable.indexed`):
 * kept by the table as grants come, go or go stale. A grant going stale
 * stays in its region, so that update leaves the index as it is.
 * @category Tables and indexes
 */
export const grantIndexer: TableIndex<Grant, GrantIndex> = idGroupIndex<Grant>((g) => g.regionId);

/**
 * The grant ids of a region.
 *
 * @param index - the index.
 * @param regionId - the region's id in `World.regions`.
 * @returns its grant ids, ascending (empty when none).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, grantIn, referenceMachine, regionNamed } from "@dmabuf-ref/core";
 * import { grantsOfRegion } from "@dmabuf-ref/core/encoding";
 *
 * // A grant in ram0 is found by the region's id; a region nobody granted has none.
 * const w = boot(referenceMachine());
 * const ram = regionNamed(w, "ram0");
 * assert.ok(ram);
 * const req = { device: "dev0", phys: 0x1_0000_0000n, len: 0x1000n, write: true, att: null };
 * const { id, world } = grantIn(w, ram, req);
 * assert.deepEqual(grantsOfRegion(world.grants.index, ram[0]), [id]);
 * assert.deepEqual(grantsOfRegion(w.grants.index, ram[0]), []);
 * ```
 * @category Tables and indexes
 */
export function grantsOfRegion(index: GrantIndex, regionId: number): readonly number[] {
  return idsInIdGroup(index, regionId);
}

/**
 * Calls `visit` with each grant id of a region, ascending, until it
 * returns false; allocates nothing (every device access is judged).
 *
 * @param index - the index.
 * @param regionId - the region's id in `World.regions`.
 * @param visit - receives each grant id; returns false to stop.
 */
export function forEachGrantOfRegion(
  index: GrantIndex,
  regionId: number,
  visit: (id: number) => boolean,
): void {
  forEachInIdGroup(index, regionId, visit);
}
