/**
 * Table ids grouped by a name their entries carry (buffers by exporter,
 * violations by what they say, regions by name), kept in a persistent
 * B+tree ordered by (group, id) so a lookup visits its group's entries and
 * nothing else. Model machinery, not a kernel object: the kernel keeps such
 * lists per owner (`vdev->dmabufs`).
 */
import type { TableIndex } from "./ptable.js";
import type { BTreeSpec } from "./btree.js";
import { BTree } from "./btree.js";

/** An entry of a {@link GroupIndex}: its group's name, then its table id. */
export interface GroupKey {
  /** The group (e.g. an exporter's name). */
  readonly group: string;
  /** The entry's table id. */
  readonly id: number;
}

/** Table ids grouped by a name, each group in id order (see {@link groupIndex}). */
export type GroupIndex = BTree<GroupKey, true, undefined>;

const groupSpec: BTreeSpec<GroupKey, true, undefined> = {
  compare: (a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.id - b.id),
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
 */
export function groupIndex<T>(group: (value: T) => string | undefined): TableIndex<T, GroupIndex> {
  return {
    empty: BTree.empty(groupSpec),
    add(index, id, value) {
      const g = group(value);
      return g === undefined ? index : index.set({ group: g, id }, true);
    },
    remove(index, id, value) {
      const g = group(value);
      return g === undefined ? index : index.delete({ group: g, id });
    },
    update(index, id, old, value) {
      const was = group(old);
      const now = group(value);
      if (was === now) return index;
      const removed = was === undefined ? index : index.delete({ group: was, id });
      return now === undefined ? removed : removed.set({ group: now, id }, true);
    },
  };
}

/**
 * The table ids in one group, in increasing order.
 *
 * @param index - the group index.
 * @param group - the group's name.
 * @yields each id.
 */
export function* idsInGroup(index: GroupIndex, group: string): Generator<number> {
  for (const n of index.entriesFrom({ group, id: -1 })) {
    if (n.key.group !== group) return;
    yield n.key.id;
  }
}
