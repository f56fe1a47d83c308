import type { Codec } from "../encoding/codec.js";
import { hashWords, pushString } from "../encoding/hash.js";
import { PTable } from "../encoding/ptable.js";
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
 * A persistent map keyed by a hash of the name; a bucket holds the names
 * that share a hash.
 */
export type GrantIndex = PTable<GrantBucket>;

/** The regions whose names share one hash, and their grant ids. */
export type GrantBucket = readonly {
  /** The region's name. */
  readonly region: string;
  /** Its grant ids, ascending. */
  readonly ids: readonly number[];
}[];

const bucketCodec: Codec<GrantBucket> = {
  seed: 0x6a1d,
  encode(b, out) {
    out.push(b.length);
    for (const e of b) {
      pushString(out, e.region);
      out.push(e.ids.length, ...e.ids);
    }
  },
};

/** An index with no grants. */
export const EMPTY_GRANT_INDEX: GrantIndex = PTable.empty(bucketCodec);

function keyOf(region: string): number {
  const words: number[] = [];
  pushString(words, region);
  return hashWords(words) & 0x3fff_ffff;
}

/**
 * The grant ids of a region.
 *
 * @param index - the index.
 * @param region - the region's name.
 * @returns its grant ids, ascending (empty when none).
 */
export function grantsOfRegion(index: GrantIndex, region: string): readonly number[] {
  return index.get(keyOf(region))?.find((e) => e.region === region)?.ids ?? [];
}

/**
 * The index with a grant added to or removed from a region.
 *
 * @param index - the index.
 * @param region - the region's name.
 * @param id - the grant id.
 * @param present - add (true) or remove (false).
 * @returns the new index.
 */
function indexGrant(index: GrantIndex, region: string, id: number, present: boolean): GrantIndex {
  const key = keyOf(region);
  const bucket = index.get(key) ?? [];
  const old = bucket.find((e) => e.region === region)?.ids ?? [];
  const ids = present
    ? [...old.filter((x) => x !== id), id].sort((a, b) => a - b)
    : old.filter((x) => x !== id);
  const others = bucket.filter((e) => e.region !== region);
  const next = ids.length === 0 ? others : [...others, { region, ids }];
  return next.length === 0 ? index.delete(key) : index.set(key, next);
}

/**
 * The grant table's index of its grants by region ({@link PTable.indexed}):
 * kept by the table as grants come, go or go stale.
 */
export const grantIndexer: TableIndex<Grant, GrantIndex> = {
  empty: EMPTY_GRANT_INDEX,
  add: (index, id, g) => indexGrant(index, g.region, id, true),
  remove: (index, id, g) => indexGrant(index, g.region, id, false),
  // A grant going stale stays in its region.
  update: (index, id, old, g) =>
    old.region === g.region
      ? index
      : indexGrant(indexGrant(index, old.region, id, false), g.region, id, true),
};
