/**
 * A persistent AVL tree: ordered keys, O(log n) insert, remove and search,
 * and an update that copies one root-to-leaf path and shares the rest with
 * the previous version (DESIGN §2a, structural sharing). Each node carries
 * an augmentation computed from its own entry and its children's, so a
 * caller can answer range questions (the widest hole, the furthest end)
 * without visiting every node. Model machinery behind the indexes `step`
 * keeps (IOVA ranges, regions by address and by name), not a kernel object;
 * the kernel keeps the same indexes in rbtrees and interval trees.
 *
 * Trees are indexes, not part of a world's canonical encoding: two trees
 * with the same entries may differ in shape.
 */
import type { TableIndex } from "./ptable.js";

/** One node; read-only, shared between versions. */
export interface AvlNode<K, V, A> {
  /** The entry's key. */
  readonly key: K;
  /** The entry's value. */
  readonly value: V;
  /** Keys below. */
  readonly left: AvlNode<K, V, A> | undefined;
  /** Keys above. */
  readonly right: AvlNode<K, V, A> | undefined;
  /** Height of the subtree (a leaf is 1). */
  readonly height: number;
  /** The subtree's augmentation. */
  readonly aug: A;
}

/** How a tree orders its keys and summarises its subtrees. */
export interface AvlSpec<K, V, A> {
  /**
   * Orders keys.
   *
   * @param a - one key.
   * @param b - the other.
   * @returns negative, zero or positive.
   */
  compare(a: K, b: K): number;
  /**
   * The augmentation of a subtree from its root entry and its children.
   *
   * @param key - the root's key.
   * @param value - the root's value.
   * @param left - the left child.
   * @param right - the right child.
   * @returns the subtree's summary.
   */
  augment(
    key: K,
    value: V,
    left: AvlNode<K, V, A> | undefined,
    right: AvlNode<K, V, A> | undefined,
  ): A;
}

function height<K, V, A>(n: AvlNode<K, V, A> | undefined): number {
  return n === undefined ? 0 : n.height;
}

/**
 * A persistent ordered map with augmented nodes (see the file comment).
 */
export class Avl<K, V, A> {
  private constructor(
    private readonly spec: AvlSpec<K, V, A>,
    /** The root node, for queries that walk the tree with its augmentation. */
    readonly root: AvlNode<K, V, A> | undefined,
    /** Number of entries. */
    readonly size: number,
  ) {}

  /**
   * An empty tree.
   *
   * @param spec - key order and augmentation.
   * @returns the tree.
   */
  static empty<K, V, A>(spec: AvlSpec<K, V, A>): Avl<K, V, A> {
    return new Avl(spec, undefined, 0);
  }

  /**
   * The value under a key.
   *
   * @param key - the key.
   * @returns the value, or undefined.
   */
  get(key: K): V | undefined {
    let cur = this.root;
    while (cur !== undefined) {
      const c = this.spec.compare(key, cur.key);
      if (c === 0) return cur.value;
      cur = c < 0 ? cur.left : cur.right;
    }
    return undefined;
  }

  /**
   * The entry with the greatest key at or below `key`.
   *
   * @param key - the bound.
   * @returns the node, or undefined.
   */
  floor(key: K): AvlNode<K, V, A> | undefined {
    let best: AvlNode<K, V, A> | undefined;
    let cur = this.root;
    while (cur !== undefined) {
      if (this.spec.compare(cur.key, key) <= 0) {
        best = cur;
        cur = cur.right;
      } else cur = cur.left;
    }
    return best;
  }

  /**
   * The entry with the least key at or above `key`.
   *
   * @param key - the bound.
   * @returns the node, or undefined.
   */
  ceiling(key: K): AvlNode<K, V, A> | undefined {
    let best: AvlNode<K, V, A> | undefined;
    let cur = this.root;
    while (cur !== undefined) {
      if (this.spec.compare(cur.key, key) >= 0) {
        best = cur;
        cur = cur.left;
      } else cur = cur.right;
    }
    return best;
  }

  /**
   * The tree with `key` set to `value` (added or replaced).
   *
   * @param key - the key.
   * @param value - the value.
   * @returns the new tree.
   */
  set(key: K, value: V): Avl<K, V, A> {
    const had = this.get(key) !== undefined;
    return new Avl(
      this.spec,
      this.insertAt(this.root, key, value),
      had ? this.size : this.size + 1,
    );
  }

  /**
   * The tree without `key`.
   *
   * @param key - the key.
   * @returns the new tree (this one when the key is absent).
   */
  delete(key: K): Avl<K, V, A> {
    if (this.get(key) === undefined) return this;
    return new Avl(this.spec, this.removeAt(this.root, key), this.size - 1);
  }

  /**
   * Every entry in key order.
   *
   * @yields each node.
   */
  *nodes(): Generator<AvlNode<K, V, A>> {
    const stack: AvlNode<K, V, A>[] = [];
    let cur = this.root;
    while (cur !== undefined || stack.length > 0) {
      while (cur !== undefined) {
        stack.push(cur);
        cur = cur.left;
      }
      const n = stack.pop();
      if (n === undefined) break;
      yield n;
      cur = n.right;
    }
  }

  /**
   * The entries with keys at or above `key`, in key order: a walk that
   * stops early costs O(log n) plus what it visits.
   *
   * @param key - the lowest key wanted.
   * @yields each node from there on.
   */
  *nodesFrom(key: K): Generator<AvlNode<K, V, A>> {
    const stack: AvlNode<K, V, A>[] = [];
    let cur = this.root;
    while (cur !== undefined) {
      if (this.spec.compare(cur.key, key) >= 0) {
        stack.push(cur);
        cur = cur.left;
      } else cur = cur.right;
    }
    while (stack.length > 0) {
      const n = stack.pop();
      if (n === undefined) break;
      yield n;
      cur = n.right;
      while (cur !== undefined) {
        stack.push(cur);
        cur = cur.left;
      }
    }
  }

  private node(
    key: K,
    value: V,
    left: AvlNode<K, V, A> | undefined,
    right: AvlNode<K, V, A> | undefined,
  ): AvlNode<K, V, A> {
    return {
      key,
      value,
      left,
      right,
      height: Math.max(height(left), height(right)) + 1,
      aug: this.spec.augment(key, value, left, right),
    };
  }

  private with(
    n: AvlNode<K, V, A>,
    left: AvlNode<K, V, A> | undefined,
    right: AvlNode<K, V, A> | undefined,
  ): AvlNode<K, V, A> {
    return this.node(n.key, n.value, left, right);
  }

  private balance(
    n: AvlNode<K, V, A>,
    left: AvlNode<K, V, A> | undefined,
    right: AvlNode<K, V, A> | undefined,
  ): AvlNode<K, V, A> {
    const hl = height(left);
    const hr = height(right);
    if (hl > hr + 1 && left !== undefined) {
      const lr = left.right;
      if (height(left.left) >= height(lr) || lr === undefined) {
        return this.with(left, left.left, this.with(n, lr, right));
      }
      return this.with(lr, this.with(left, left.left, lr.left), this.with(n, lr.right, right));
    }
    if (hr > hl + 1 && right !== undefined) {
      const rl = right.left;
      if (height(right.right) >= height(rl) || rl === undefined) {
        return this.with(right, this.with(n, left, rl), right.right);
      }
      return this.with(rl, this.with(n, left, rl.left), this.with(right, rl.right, right.right));
    }
    return this.with(n, left, right);
  }

  private insertAt(n: AvlNode<K, V, A> | undefined, key: K, value: V): AvlNode<K, V, A> {
    if (n === undefined) return this.node(key, value, undefined, undefined);
    const c = this.spec.compare(key, n.key);
    if (c < 0) return this.balance(n, this.insertAt(n.left, key, value), n.right);
    if (c > 0) return this.balance(n, n.left, this.insertAt(n.right, key, value));
    return this.node(key, value, n.left, n.right);
  }

  private removeMin(n: AvlNode<K, V, A>): [AvlNode<K, V, A>, AvlNode<K, V, A> | undefined] {
    if (n.left === undefined) return [n, n.right];
    const [min, rest] = this.removeMin(n.left);
    return [min, this.balance(n, rest, n.right)];
  }

  private removeAt(n: AvlNode<K, V, A> | undefined, key: K): AvlNode<K, V, A> | undefined {
    if (n === undefined) return undefined;
    const c = this.spec.compare(key, n.key);
    if (c < 0) return this.balance(n, this.removeAt(n.left, key), n.right);
    if (c > 0) return this.balance(n, n.left, this.removeAt(n.right, key));
    if (n.left === undefined) return n.right;
    if (n.right === undefined) return n.left;
    const [min, rest] = this.removeMin(n.right);
    return this.balance(min, n.left, rest);
  }
}

/** An entry of a {@link GroupIndex}: its group's name, then its table id. */
export interface GroupKey {
  /** The group (e.g. an exporter's name). */
  readonly group: string;
  /** The entry's table id. */
  readonly id: number;
}

/** Table ids grouped by a name, each group in id order (see {@link groupIndex}). */
export type GroupIndex = Avl<GroupKey, true, undefined>;

const groupSpec: AvlSpec<GroupKey, true, undefined> = {
  compare: (a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.id - b.id),
  augment: () => undefined,
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
    empty: Avl.empty(groupSpec),
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
  for (const n of index.nodesFrom({ group, id: -1 })) {
    if (n.key.group !== group) return;
    yield n.key.id;
  }
}
