/**
 * Table ids grouped by a name their entries carry (buffers by exporter,
 * violations by what they say, regions by name, grants by region), kept in
 * a persistent B+tree ordered by (a hash of the group, the group, id) so a
 * lookup visits its group's entries and nothing else. The hash comes first
 * so that a search compares numbers, not strings: names that share a long
 * prefix (`exp0.buf1234`) made each of the ~13 comparisons of a search
 * among 10,000 entries a string comparison (issue 10). Model machinery, not
 * a kernel object: the kernel keeps such lists per owner (`vdev->dmabufs`).
 */
import type { Codec } from "./codec.js";
import type { TableIndex } from "./ptable.js";
import { PTable } from "./ptable.js";
import type { BTreeSpec } from "./btree.js";
import { BTree } from "./btree.js";

/**
 * An entry of a {@link GroupIndex}: its group's name and hash, then its table id.
 *
 * @category Tables and indexes
 */
export interface GroupKey {
  /** {@link groupHash} of `group`: the tree's first sort key. */
  readonly hash: number;
  /** The group (e.g. an exporter's name). */
  readonly group: string;
  /** The entry's table id. */
  readonly id: number;
}

/**
 * Table ids grouped by a name, each group in id order (see {@link groupIndex}).
 *
 * @category Tables and indexes
 */
export type GroupIndex = BTree<GroupKey, true, undefined>;

/**
 * The hash a {@link GroupIndex} orders its groups by: 32-bit FNV-1a over the
 * name's UTF-16 code units. Not part of any world's hash (indexes are not
 * hashed), so it may change freely.
 *
 * @param group - the group's name.
 * @returns a signed 32-bit hash (a small integer V8 keeps inline in every key).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { groupHash } from "@dmabuf-ref/core/encoding";
 *
 * // A signed 32-bit FNV-1a: what a group index orders its groups by.
 * assert.equal(groupHash("ram0"), groupHash("ram0"));
 * assert.ok(Number.isInteger(groupHash("ram0")));
 * assert.notEqual(groupHash("ram0"), groupHash("ram1"));
 * ```
 * @category Tables and indexes
 */
export function groupHash(group: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < group.length; i++) h = Math.imul(h ^ group.charCodeAt(i), 0x01000193);
  return h | 0;
}

function compareKeys(a: GroupKey, b: GroupKey): number {
  return a.hash !== b.hash
    ? a.hash - b.hash
    : a.group === b.group
      ? a.id - b.id
      : a.group < b.group
        ? -1
        : 1;
}

const groupSpec: BTreeSpec<GroupKey, true, undefined> = {
  compare: compareKeys,
  // The same order with the hash tested inline: most probes of a search
  // among 10,000 keys decide on the hash alone.
  search(keys, key) {
    const hash = key.hash;
    let lo = 0;
    let hi = keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid] as GroupKey;
      const c = k.hash !== hash ? k.hash - hash : compareKeys(k, key);
      if (c < 0) lo = mid + 1;
      else if (c > 0) hi = mid - 1;
      else return mid;
    }
    return -lo - 1;
  },
  leaf: () => undefined,
  inner: () => undefined,
};

/**
 * A table index of the entries by a name their value carries (buffers by
 * exporter, violations by what they say): a lookup visits the group's own
 * entries, never the rest ({@link idsInGroup}).
 *
 * @param group - the value's group, or undefined to leave it out.
 * @returns the indexer, for `PTable.indexed`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stringCodec } from "@dmabuf-ref/core";
 * import { PTable, groupIndex, idsInGroup } from "@dmabuf-ref/core/encoding";
 *
 * // Table ids grouped by their value's name (as buffers by exporter).
 * let t = PTable.indexed(stringCodec, groupIndex((v: string) => v));
 * t = t.set(1, "vfio").set(2, "gpu").set(3, "vfio");
 * assert.deepEqual([...idsInGroup(t.index, "vfio")], [1, 3]);
 * assert.deepEqual([...idsInGroup(t.delete(1).index, "vfio")], [3]);
 * ```
 * @category Tables and indexes
 */
export function groupIndex<T>(group: (value: T) => string | undefined): TableIndex<T, GroupIndex> {
  return {
    empty: BTree.empty(groupSpec),
    add(index, id, value) {
      const g = group(value);
      return g === undefined ? index : index.set({ hash: groupHash(g), group: g, id }, true);
    },
    remove(index, id, value) {
      const g = group(value);
      return g === undefined ? index : index.delete({ hash: groupHash(g), group: g, id });
    },
    update(index, id, old, value) {
      const was = group(old);
      const now = group(value);
      if (was === now) return index;
      const removed =
        was === undefined ? index : index.delete({ hash: groupHash(was), group: was, id });
      return now === undefined
        ? removed
        : removed.set({ hash: groupHash(now), group: now, id }, true);
    },
  };
}

/**
 * Calls `visit` with each table id in one group, in increasing order,
 * without allocating an iterator (the hot paths' form of {@link idsInGroup}).
 *
 * @param index - the group index.
 * @param group - the group's name.
 * @param visit - receives each id; returns false to stop.
 */
export function forEachInGroup(
  index: GroupIndex,
  group: string,
  visit: (id: number) => boolean,
): void {
  const hash = groupHash(group);
  index.forEachFrom({ hash, group, id: -1 }, (key) =>
    key.hash === hash && key.group === group ? visit(key.id) : false,
  );
}

/**
 * The table ids in one group, in increasing order.
 *
 * @param index - the group index.
 * @param group - the group's name.
 * @yields each id.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stringCodec } from "@dmabuf-ref/core";
 * import { PTable, groupIndex, idsInGroup } from "@dmabuf-ref/core/encoding";
 *
 * const t = PTable.indexed(stringCodec, groupIndex((v: string) => v))
 *   .set(4, "ref-exporter")
 *   .set(2, "ref-exporter");
 * // In id order; a group nobody is in is empty.
 * assert.deepEqual([...idsInGroup(t.index, "ref-exporter")], [2, 4]);
 * assert.deepEqual([...idsInGroup(t.index, "gpu")], []);
 * ```
 * @category Tables and indexes
 */
export function* idsInGroup(index: GroupIndex, group: string): Generator<number> {
  const hash = groupHash(group);
  for (const n of index.entriesFrom({ hash, group, id: -1 })) {
    if (n.key.hash !== hash || n.key.group !== group) return;
    yield n.key.id;
  }
}

/**
 * One owner's group in an {@link IdGroups}: its table ids in a persistent
 * B+tree (one leaf for the few grants of a buffer; a few levels for RAM
 * pinned page by page), so adding an id copies one short path, never the
 * whole group, and a walk reads the leaf's keys in order.
 *
 * @category Tables and indexes
 */
export type IdTree = BTree<number, true, undefined>;

/**
 * Table ids grouped by another table's id their value carries (grants by
 * the id of their region in `World.regions`): see {@link idGroupIndex}.
 * The groups sit in a table under the owner's id, so finding one is a trie
 * walk of index arithmetic, with no key comparison at any depth. A group of
 * one id (a buffer's one grant, the common case) is that id itself; larger
 * ones are an {@link IdTree}.
 *
 * @category Tables and indexes
 */
export type IdGroups = PTable<number | IdTree>;

// No `search` of its own: the tree's generic binary search calls `compare`,
// and only this tree's keys are numbers there, so that site stays
// specialised (the IOVA tree's inline search compares bigints).
const idTreeSpec: BTreeSpec<number, true, undefined> = {
  compare: (a, b) => a - b,
  leaf: () => undefined,
  inner: () => undefined,
};

const emptyIdTree: IdTree = BTree.empty(idTreeSpec);

/** The groups are an index, neither hashed nor compared: their values encode to nothing. */
const idGroupsCodec: Codec<number | IdTree> = { seed: 0x1d65, encode: () => undefined };

/**
 * A table index of the entries by the id of another table's entry that
 * their value names (grants by region): a lookup finds the owner's group by
 * its id, as a trie does (no search among the other groups, whose number
 * only adds trie levels), then walks that group alone.
 *
 * @param owner - the id the value is grouped under, or undefined to leave it out.
 * @returns the indexer, for `PTable.indexed`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intCodec } from "@dmabuf-ref/core";
 * import { PTable, idGroupIndex, idsInIdGroup } from "@dmabuf-ref/core/encoding";
 *
 * // Entries grouped by the owner id their value holds.
 * let t = PTable.indexed(intCodec, idGroupIndex((owner: number) => owner));
 * t = t.set(1, 7).set(2, 9).set(3, 7);
 * assert.deepEqual(idsInIdGroup(t.index, 7), [1, 3]);
 * assert.deepEqual(idsInIdGroup(t.set(3, 9).index, 9), [2, 3]);
 * assert.deepEqual(idsInIdGroup(t.delete(1).delete(3).index, 7), []);
 * ```
 * @category Tables and indexes
 */
export function idGroupIndex<T>(owner: (value: T) => number | undefined): TableIndex<T, IdGroups> {
  const add = (index: IdGroups, id: number, group: number | undefined): IdGroups => {
    if (group === undefined) return index;
    const ids = index.get(group);
    if (ids === undefined) return index.set(group, id);
    const tree = typeof ids === "number" ? emptyIdTree.set(ids, true) : ids;
    return index.set(group, tree.set(id, true));
  };
  const remove = (index: IdGroups, id: number, group: number | undefined): IdGroups => {
    const ids = group === undefined ? undefined : index.get(group);
    if (group === undefined || ids === undefined) return index;
    // An owner with no entries left leaves no group behind (the index follows the table).
    if (typeof ids === "number") return ids === id ? index.delete(group) : index;
    const rest = ids.delete(id);
    if (rest.size !== 1) return index.set(group, rest);
    // Back to a group of one: the id itself, as if it had come alone.
    let last = id;
    rest.forEachFrom(0, (left) => ((last = left), false));
    return index.set(group, last);
  };
  return {
    empty: PTable.empty(idGroupsCodec),
    add: (index, id, value) => add(index, id, owner(value)),
    remove: (index, id, value) => remove(index, id, owner(value)),
    update(index, id, old, value) {
      const was = owner(old);
      const now = owner(value);
      return was === now ? index : add(remove(index, id, was), id, now);
    },
  };
}

/**
 * Calls `visit` with each table id in one owner's group, in increasing
 * order, without allocating (the hot paths' form of {@link idsInIdGroup}).
 *
 * @param index - the index.
 * @param owner - the owner's id.
 * @param visit - receives each id; returns false to stop.
 */
export function forEachInIdGroup(
  index: IdGroups,
  owner: number,
  visit: (id: number) => boolean,
): void {
  const ids = index.get(owner);
  if (typeof ids === "number") visit(ids);
  else ids?.forEachFrom(0, visit);
}

/**
 * The table ids in one owner's group, in increasing order.
 *
 * @param index - the index.
 * @param owner - the owner's id.
 * @returns the ids (empty when the owner has none).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intCodec } from "@dmabuf-ref/core";
 * import { PTable, idGroupIndex, idsInIdGroup } from "@dmabuf-ref/core/encoding";
 *
 * // Ids 4 and 9 are grouped under owner 2; owner 3 has none.
 * const t = PTable.indexed(intCodec, idGroupIndex((owner: number) => owner)).set(9, 2).set(4, 2);
 * assert.deepEqual(idsInIdGroup(t.index, 2), [4, 9]);
 * assert.deepEqual(idsInIdGroup(t.index, 3), []);
 * ```
 * @category Tables and indexes
 */
export function idsInIdGroup(index: IdGroups, owner: number): number[] {
  const ids: number[] = [];
  forEachInIdGroup(index, owner, (id) => ids.push(id) > 0);
  return ids;
}
