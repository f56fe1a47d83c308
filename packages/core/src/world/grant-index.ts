import { forEachInGroup, groupIndex } from "../encoding/group-index.js";
import type { GroupIndex } from "../encoding/group-index.js";
import type { TableIndex } from "../encoding/ptable.js";
import type { Grant } from "./grant.js";

/**
 * The grant ids of each region, by region name: the oracle's index for
 * judging an access (which grants cover this device at this region?) and
 * for making a region's grants stale, without a scan of every grant (issue
 * 10). The grant table keeps it as its index ({@link grantIndexer}), so
 * every change of a grant updates it; not part of a world's hash or
 * equality, which the grants themselves decide.
 *
 * A {@link GroupIndex} ordered by (hash of the region name, region name,
 * grant id): a persistent B+tree 3 levels deep at 10,000 grants, so adding
 * or removing a grant copies one short path and no per-region array.
 * @category Tables and indexes
 */
export type GrantIndex = GroupIndex;

/**
 * The grant table's index of its grants by region (`PTable.indexed`):
 * kept by the table as grants come, go or go stale. A grant going stale
 * stays in its region, so that update leaves the index as it is.
 * @category Tables and indexes
 */
export const grantIndexer: TableIndex<Grant, GrantIndex> = groupIndex<Grant>((g) => g.region);

/** An index with no grants. */
export const EMPTY_GRANT_INDEX: GrantIndex = grantIndexer.empty;

/**
 * The grant ids of a region.
 *
 * @param index - the index.
 * @param region - the region's name.
 * @returns its grant ids, ascending (empty when none).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, grantIn, referenceMachine } from "@dmabuf-ref/core";
 * import { grantsOfRegion } from "@dmabuf-ref/core/encoding";
 *
 * // A grant in ram0 is found by the region's name.
 * const w = boot(referenceMachine());
 * const req = { device: "dev0", phys: 0x1_0000_0000n, len: 0x1000n, write: true, att: null };
 * const { id, world } = grantIn(w, { id: "ram0" }, req);
 * assert.deepEqual(grantsOfRegion(world.grants.index, "ram0"), [id]);
 * assert.deepEqual(grantsOfRegion(world.grants.index, "bar0"), []);
 * ```
 * @category Tables and indexes
 */
export function grantsOfRegion(index: GrantIndex, region: string): readonly number[] {
  const ids: number[] = [];
  forEachInGroup(index, region, (id) => {
    ids.push(id);
    return true;
  });
  return ids;
}
