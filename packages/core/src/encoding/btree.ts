/**
 * A persistent B+tree: ordered keys in wide nodes (up to {@link BTREE_WIDTH}
 * entries or children each), O(log n) insert, remove and search, and an
 * update that copies one root-to-leaf path and shares the rest with the
 * previous version (DESIGN §2a, structural sharing). With 10,000 entries
 * it is 3 levels deep where a binary tree is 14: a lookup in a world that
 * has grown touches a few contiguous arrays instead of a long chain of
 * scattered nodes, which is what keeps a step's cost flat as the world
 * grows (issue 10). Each node carries a summary computed from its entries
 * or its children's summaries, so a caller can answer range questions (the
 * widest hole, the furthest end) without visiting every entry.
 *
 * Model machinery behind the indexes `step` keeps (IOVA ranges, regions by
 * address and by name), not a kernel object; the kernel keeps the same
 * indexes in rbtrees, interval trees and maple trees. Trees are indexes,
 * not part of a world's canonical encoding: two trees with the same entries
 * may differ in shape, so nothing hashes or compares their nodes.
 */

/**
 * Most entries in a leaf, and most children of an inner node, unless the
 * tree's spec says otherwise ({@link BTreeSpec.width}).
 *
 * @category Tables and indexes
 */
export const BTREE_WIDTH = 32;

/**
 * One entry of a {@link BTree}, as its walks and searches return it.
 *
 * @category Tables and indexes
 */
export interface BTreeEntry<K, V> {
  /** The entry's key. */
  readonly key: K;
  /** Its value. */
  readonly value: V;
}

/**
 * A leaf: entries in key order. Read-only, shared between versions.
 *
 * @category Tables and indexes
 */
export interface BTreeLeaf<K, V, A> {
  /** The entries' keys, increasing. */
  readonly keys: readonly K[];
  /** The entries' values, in the same order. */
  readonly values: readonly V[];
  /** Always undefined: tells a leaf from an inner node. */
  readonly children: undefined;
  /** The summary of the leaf's entries. */
  readonly aug: A;
}

/**
 * An inner node: children in key order. Read-only, shared between versions.
 *
 * @category Tables and indexes
 */
export interface BTreeInner<K, V, A> {
  /** The least key of each child. */
  readonly keys: readonly K[];
  /** Always undefined: tells an inner node from a leaf. */
  readonly values: undefined;
  /** The children, each non-empty. */
  readonly children: readonly BTreeNode<K, V, A>[];
  /** The summary of the children's summaries. */
  readonly aug: A;
}

/**
 * One node of a {@link BTree}.
 *
 * @category Tables and indexes
 */
export type BTreeNode<K, V, A> = BTreeLeaf<K, V, A> | BTreeInner<K, V, A>;

/**
 * What happened to one entry of a leaf, for {@link BTreeSpec.leafChanged}.
 *
 * @category Tables and indexes
 */
export type LeafChange = "added" | "removed" | "value";

/**
 * How a tree orders its keys and summarises its nodes.
 *
 * @category Tables and indexes
 */
export interface BTreeSpec<K, V, A> {
  /**
   * Optional: most entries in a leaf and children of an inner node, at
   * least 4 ({@link BTREE_WIDTH} when absent). A tree read far more often than
   * written (the regions, which change when memory is carved or freed, not
   * when it is mapped) may keep fewer, wider levels: every lookup searches
   * a level less, and the rare change copies wider nodes. A spec that keeps
   * a bit per position (the IOVA tree's marks) stays at 32.
   */
  readonly width?: number;
  /**
   * Orders keys: negative, zero or positive as `a` is below, equal to or
   * above `b`. A function property, so the tree may hold it unbound.
   */
  readonly compare: (a: K, b: K) => number;
  /**
   * Optional: the position of `key` in the increasing `keys`, its index
   * when present, else `-(insertion point) - 1`. A key type whose order a
   * loop tests inline (`bigint` addresses) gives one call per node visited
   * instead of one `compare` call per probe of the binary search; it must
   * agree with `compare`.
   */
  readonly search?: (keys: readonly K[], key: K) => number;
  /**
   * The summary of a leaf.
   *
   * @param keys - its keys, increasing (at least one).
   * @param values - its values, in the same order.
   * @returns the summary.
   */
  leaf(keys: readonly K[], values: readonly V[]): A;
  /**
   * The summary of an inner node from its children's summaries. It must
   * read nothing but those summaries, in order: the tree reuses a node's
   * summary when a change left its child's summary the same object.
   *
   * @param children - its children, in key order (at least one).
   * @returns the summary.
   */
  inner(children: readonly BTreeNode<K, V, A>[]): A;
  /**
   * Optional: the summary of a leaf after one entry was added, removed or
   * given a new value, worked out from what changed instead of from all
   * its entries: a full scan reads every key and value of the leaf (up to
   * {@link BTREE_WIDTH} of each), in a large tree written long before.
   *
   * @param before - the leaf before the change (its summary, and the entry removed or replaced).
   * @param keys - its keys after the change (at least one).
   * @param values - its values after the change.
   * @param at - the position changed: where the entry now is (added, new
   *   value) or where the removed one was.
   * @param change - what happened there.
   * @returns the summary, or undefined to have {@link BTreeSpec.leaf} scan the entries.
   */
  leafChanged?(
    before: BTreeLeaf<K, V, A>,
    keys: readonly K[],
    values: readonly V[],
    at: number,
    change: LeafChange,
  ): A | undefined;
  /**
   * Optional: the summary of an inner node after an insert or remove
   * replaced one of its children, worked out from what changed instead of
   * from all the children (up to {@link BTREE_WIDTH}). Returning `old`
   * itself when nothing changed lets the levels above skip their summaries.
   *
   * @param old - the node's summary before the change.
   * @param children - its children after the change.
   * @param at - the index of the child that changed (its neighbours did not).
   * @param before - that child's summary before the change.
   * @returns the summary, or undefined to have {@link BTreeSpec.inner} scan the children.
   */
  innerReplaced?(
    old: A,
    children: readonly BTreeNode<K, V, A>[],
    at: number,
    before: A,
  ): A | undefined;
}

/**
 * The position of `key` in `keys`: its index when present, else
 * `-(insertion point) - 1` (binary search).
 */
function search<K>(compare: (a: K, b: K) => number, keys: readonly K[], key: K): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compare(keys[mid] as K, key);
    if (c < 0) lo = mid + 1;
    else if (c > 0) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

/**
 * {@link BTreeSpec.search} for keys JavaScript orders with `<` (numbers,
 * `bigint` addresses): the binary search with the comparisons inline.
 *
 * @param keys - increasing keys.
 * @param key - the key sought.
 * @returns its index when present, else `-(insertion point) - 1`.
 */
export function searchOrdered<K extends number | bigint>(keys: readonly K[], key: K): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid] as K;
    if (k < key) lo = mid + 1;
    else if (k > key) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

/** {@link search} by the spec's own search when it has one. */
function position<K>(spec: BTreeSpec<K, unknown, unknown>, keys: readonly K[], key: K): number {
  const own = spec.search;
  return own === undefined ? search(spec.compare, keys, key) : own(keys, key);
}

/** The child of an inner node whose range holds `key`: the last one whose least key is at or below it (the first when none is). */
function childFor<K>(spec: BTreeSpec<K, unknown, unknown>, keys: readonly K[], key: K): number {
  const i = position(spec, keys, key);
  if (i >= 0) return i;
  const after = -i - 1;
  return after === 0 ? 0 : after - 1;
}

// A copy then a shift in place: a node's array copied whole by `slice` and
// moved along by one costs about two thirds of building it element by
// element (`push` grows the array as it goes), and every insert or remove
// copies a leaf's keys and values.
function insertAt<T>(xs: readonly T[], i: number, x: T): T[] {
  const out = xs.slice();
  out.push(x);
  for (let j = xs.length; j > i; j--) out[j] = out[j - 1] as T;
  out[i] = x;
  return out;
}

function removeAt<T>(xs: readonly T[], i: number): T[] {
  const out = xs.slice();
  const last = out.length - 1;
  for (let j = i; j < last; j++) out[j] = out[j + 1] as T;
  out.pop();
  return out;
}

function replaceAt<T>(xs: readonly T[], i: number, x: T): T[] {
  const out = xs.slice();
  out[i] = x;
  return out;
}

/** An inner node's child by index (the caller keeps the index in range). */
function childAt<K, V, A>(n: BTreeInner<K, V, A>, i: number): BTreeNode<K, V, A> {
  return n.children[i] as BTreeNode<K, V, A>;
}

/** Set by an insert: whether it added an entry (rather than replacing one). */
let added = false;

/** Set by a remove: the value of the entry it removed. */
let removedValue: unknown;

/**
 * A persistent ordered map with summarised nodes (see the file comment).
 * @category Tables and indexes
 */
export class BTree<K, V, A> {
  /** Most entries or children per node (the spec's width). */
  private readonly width: number;
  /** A node below this many entries or children merges with a neighbour when both fit in one. */
  private readonly minFill: number;

  private constructor(
    private readonly spec: BTreeSpec<K, V, A>,
    /** The root node, for queries that walk the tree with its summaries. */
    readonly root: BTreeNode<K, V, A> | undefined,
    /** Number of entries. */
    readonly size: number,
  ) {
    this.width = spec.width ?? BTREE_WIDTH;
    this.minFill = this.width >>> 2;
  }

  /**
   * An empty tree.
   *
   * @param spec - key order and summaries.
   * @returns the tree.
   */
  static empty<K, V, A>(spec: BTreeSpec<K, V, A>): BTree<K, V, A> {
    return new BTree(spec, undefined, 0);
  }

  /**
   * The value under a key.
   *
   * @param key - the key.
   * @returns the value, or undefined.
   */
  get(key: K): V | undefined {
    const spec = this.spec;
    let n = this.root;
    if (n === undefined) return undefined;
    while (n.children !== undefined) n = childAt(n, childFor(spec, n.keys, key));
    const i = position(spec, n.keys, key);
    return i >= 0 ? n.values[i] : undefined;
  }

  /**
   * Calls `visit` for each entry with a key at or above `key`, in key order,
   * until it returns false: a walk that stops early costs O(log n) plus what
   * it visits, and allocates nothing.
   *
   * @param key - the lowest key wanted.
   * @param visit - receives each key and value; returns false to stop the walk.
   */
  forEachFrom(key: K, visit: (key: K, value: V) => boolean): void {
    if (this.root !== undefined) this.walkFrom(this.root, key, visit, true);
  }

  /**
   * The walk under {@link BTree.forEachFrom}: `search` while on the path
   * to `key`; the subtrees after it are visited from their first entry.
   */
  private walkFrom(
    n: BTreeNode<K, V, A>,
    key: K,
    visit: (key: K, value: V) => boolean,
    search: boolean,
  ): boolean {
    const spec = this.spec;
    if (n.children === undefined) {
      let j = 0;
      if (search) {
        const i = position(spec, n.keys, key);
        j = i >= 0 ? i : -i - 1;
      }
      for (; j < n.keys.length; j++) {
        if (!visit(n.keys[j] as K, n.values[j] as V)) return false;
      }
      return true;
    }
    const first = search ? childFor(spec, n.keys, key) : 0;
    for (let j = first; j < n.children.length; j++) {
      if (!this.walkFrom(n.children[j] as BTreeNode<K, V, A>, key, visit, search && j === first))
        return false;
    }
    return true;
  }

  /**
   * The entry with the greatest key at or below `key`.
   *
   * @param key - the bound.
   * @returns its key and value, or undefined.
   */
  floor(key: K): BTreeEntry<K, V> | undefined {
    const spec = this.spec;
    let n = this.root;
    if (n === undefined || spec.compare(n.keys[0] as K, key) > 0) return undefined;
    // Every child chosen has its least key at or below `key`, so the leaf holds the answer.
    while (n.children !== undefined) n = childAt(n, childFor(spec, n.keys, key));
    const i = position(spec, n.keys, key);
    const at = i >= 0 ? i : -i - 2;
    return { key: n.keys[at] as K, value: n.values[at] as V };
  }

  /**
   * The entries on either side of `key`, found in one descent: the one
   * with the greatest key at or below it ({@link BTree.floor}) and the one
   * with the least key above it. The second is the next entry of the
   * floor's leaf, or else the first entry of the nearest subtree to the
   * right of the descent's path (an overlap check needs both, and two
   * searches from the root cost twice the levels).
   *
   * @param key - the key.
   * @returns the two entries, each undefined when there is none.
   */
  neighbours(key: K): {
    /** The entry with the greatest key at or below `key`. */
    readonly below: BTreeEntry<K, V> | undefined;
    /** The entry with the least key above `key`. */
    readonly above: BTreeEntry<K, V> | undefined;
  } {
    const spec = this.spec;
    let n = this.root;
    if (n === undefined) return { below: undefined, above: undefined };
    // The nearest subtree right of the path: the child after the one chosen, at the lowest level that has one.
    let right: BTreeNode<K, V, A> | undefined;
    while (n.children !== undefined) {
      const c: number = childFor(spec, n.keys, key);
      if (c + 1 < n.children.length) right = childAt(n, c + 1);
      n = childAt(n, c);
    }
    const i = position(spec, n.keys, key);
    const at = i >= 0 ? i : -i - 2;
    const below = at >= 0 ? { key: n.keys[at] as K, value: n.values[at] as V } : undefined;
    if (at + 1 < n.keys.length) {
      return { below, above: { key: n.keys[at + 1] as K, value: n.values[at + 1] as V } };
    }
    if (right === undefined) return { below, above: undefined };
    while (right.children !== undefined) right = childAt(right, 0);
    return { below, above: { key: right.keys[0] as K, value: right.values[0] as V } };
  }

  /**
   * The entry with the least key at or above `key`.
   *
   * @param key - the bound.
   * @returns its key and value, or undefined.
   */
  ceiling(key: K): BTreeEntry<K, V> | undefined {
    let found: BTreeEntry<K, V> | undefined;
    this.forEachFrom(key, (k, v) => {
      found = { key: k, value: v };
      return false;
    });
    return found;
  }

  /**
   * The tree with `key` set to `value` (added or replaced).
   *
   * @param key - the key.
   * @param value - the value.
   * @returns the new tree.
   */
  set(key: K, value: V): BTree<K, V, A> {
    if (this.root === undefined) {
      return new BTree(this.spec, this.leaf([key], [value]), 1);
    }
    added = false;
    const r = this.insert(this.root, key, value);
    // `insert` sets it (the compiler cannot see that through the call).
    const grew = added as boolean;
    const root = Array.isArray(r) ? this.inner([r[0].keys[0] as K, r[1].keys[0] as K], r) : r;
    return new BTree(this.spec, root, grew ? this.size + 1 : this.size);
  }

  /**
   * The tree without `key`.
   *
   * @param key - the key.
   * @returns the new tree (this one when the key is absent).
   */
  delete(key: K): BTree<K, V, A> {
    const tree = this.without(key);
    removedValue = undefined;
    return tree ?? this;
  }

  /**
   * The tree without `key`, and the value it held: one descent where a
   * lookup and then a delete would make two (an IOMMU unmap needs the
   * mapping it removes, to take its share out of the domain's hash).
   *
   * @param key - the key.
   * @returns the new tree and the removed value, or undefined when the key is absent.
   */
  take(key: K):
    | {
        /** The tree without the key. */
        readonly tree: BTree<K, V, A>;
        /** The value the key held. */
        readonly value: V;
      }
    | undefined {
    const tree = this.without(key);
    if (tree === undefined) return undefined;
    const value = removedValue as V;
    // The tree keeps no hold on what it no longer holds.
    removedValue = undefined;
    return { tree, value };
  }

  /** The tree without `key`, or undefined when the key is absent (`remove` sets `removedValue`). */
  private without(key: K): BTree<K, V, A> | undefined {
    if (this.root === undefined) return undefined;
    let root = this.remove(this.root, key);
    if (root === this.root) return undefined;
    // A root left with one child hands the tree to it, so depth shrinks as the tree does.
    while (root?.children !== undefined && root.children.length === 1) root = root.children[0];
    return new BTree(this.spec, root, this.size - 1);
  }

  /**
   * Whether two trees of the same spec hold the same entries (keys equal by
   * `compare`, values by `same`). Subtrees the two share compare by
   * identity, so two versions of one tree cost what differs between them;
   * trees built another way (another shape) compare entry by entry.
   *
   * @param other - the other tree.
   * @param same - value equality.
   * @returns true when the entries are equal.
   */
  sameEntries(other: BTree<K, V, A>, same: (a: V, b: V) => boolean): boolean {
    if (this.root === other.root) return true;
    if (this.size !== other.size || this.root === undefined || other.root === undefined)
      return false;
    const aligned = BTree.nodesMatch(this.spec.compare, this.root, other.root, same);
    if (aligned !== undefined) return aligned;
    // The shapes part somewhere: compare the two entry sequences.
    const theirs = other.entries();
    for (const e of this.entries()) {
      const o = theirs.next();
      if (o.done === true || this.spec.compare(e.key, o.value.key) !== 0) return false;
      if (!same(e.value, o.value.value)) return false;
    }
    return true;
  }

  /**
   * Two subtrees compared node by node in key order: true or false as
   * their entries are equal, undefined at the first place their shapes part
   * (a content difference found before that place is exact: the entries
   * before it sit at the same positions in both trees).
   */
  private static nodesMatch<K, V, A>(
    compare: (a: K, b: K) => number,
    a: BTreeNode<K, V, A>,
    b: BTreeNode<K, V, A>,
    same: (a: V, b: V) => boolean,
  ): boolean | undefined {
    if (a === b) return true;
    if (a.keys.length !== b.keys.length) return undefined;
    if (a.children === undefined || b.children === undefined) {
      if (a.children !== undefined || b.children !== undefined) return undefined;
      for (let i = 0; i < a.keys.length; i++) {
        if (compare(a.keys[i] as K, b.keys[i] as K) !== 0) return false;
        if (!same(a.values[i] as V, b.values[i] as V)) return false;
      }
      return true;
    }
    for (let i = 0; i < a.children.length; i++) {
      const r = BTree.nodesMatch(
        compare,
        a.children[i] as BTreeNode<K, V, A>,
        b.children[i] as BTreeNode<K, V, A>,
        same,
      );
      if (r !== true) return r;
    }
    return true;
  }

  /**
   * Every entry in key order.
   *
   * @yields each entry's key and value.
   */
  *entries(): Generator<BTreeEntry<K, V>> {
    if (this.root !== undefined) yield* BTree.walk(this.root);
  }

  /**
   * The entries with keys at or above `key`, in key order, lazily: a walk
   * that stops early costs O(log n) plus what it visits.
   *
   * @param key - the lowest key wanted.
   * @yields each entry's key and value from there on.
   */
  *entriesFrom(key: K): Generator<BTreeEntry<K, V>> {
    const spec = this.spec;
    // The path to the first entry: each inner node with the child to resume from.
    const path: { node: BTreeInner<K, V, A>; next: number }[] = [];
    let n = this.root;
    if (n === undefined) return;
    while (n.children !== undefined) {
      const c: number = childFor(spec, n.keys, key);
      path.push({ node: n, next: c + 1 });
      n = childAt(n, c);
    }
    const i = position(spec, n.keys, key);
    let leaf: BTreeLeaf<K, V, A> | undefined = n;
    let at = i >= 0 ? i : -i - 1;
    while (leaf !== undefined) {
      for (; at < leaf.keys.length; at++)
        yield { key: leaf.keys[at] as K, value: leaf.values[at] as V };
      leaf = undefined;
      at = 0;
      // Up to the nearest ancestor with a child left, then down its leftmost path.
      while (path.length > 0 && leaf === undefined) {
        const top = path[path.length - 1] as { node: BTreeInner<K, V, A>; next: number };
        if (top.next >= top.node.children.length) {
          path.pop();
          continue;
        }
        let d = top.node.children[top.next++] as BTreeNode<K, V, A>;
        while (d.children !== undefined) {
          path.push({ node: d, next: 1 });
          d = d.children[0] as BTreeNode<K, V, A>;
        }
        leaf = d;
      }
    }
  }

  private static *walk<K, V, A>(n: BTreeNode<K, V, A>): Generator<BTreeEntry<K, V>> {
    if (n.children === undefined) {
      for (let i = 0; i < n.keys.length; i++)
        yield { key: n.keys[i] as K, value: n.values[i] as V };
      return;
    }
    for (const c of n.children) yield* BTree.walk(c);
  }

  private leaf(keys: readonly K[], values: readonly V[]): BTreeLeaf<K, V, A> {
    return { keys, values, children: undefined, aug: this.spec.leaf(keys, values) };
  }

  /** Leaf `n` after one change at `at`: its summary from the spec's `leafChanged` when it gives one. */
  private leafAfter(
    n: BTreeLeaf<K, V, A>,
    keys: readonly K[],
    values: readonly V[],
    at: number,
    change: LeafChange,
  ): BTreeLeaf<K, V, A> {
    const aug = this.spec.leafChanged?.(n, keys, values, at, change);
    return aug === undefined ? this.leaf(keys, values) : { keys, values, children: undefined, aug };
  }

  private inner(keys: readonly K[], children: readonly BTreeNode<K, V, A>[]): BTreeInner<K, V, A> {
    return { keys, values: undefined, children, aug: this.spec.inner(children) };
  }

  /**
   * Inner node `n` with child `at` replaced: its summary is `n`'s when that
   * child's summary is the same object, else the spec's incremental one
   * when it has one, else the full scan.
   */
  private replaced(
    n: BTreeInner<K, V, A>,
    keys: readonly K[],
    children: readonly BTreeNode<K, V, A>[],
    at: number,
    before: A,
  ): BTreeInner<K, V, A> {
    const spec = this.spec;
    let aug: A | undefined;
    if ((children[at] as BTreeNode<K, V, A>).aug === before) aug = n.aug;
    else if (spec.innerReplaced !== undefined)
      aug = spec.innerReplaced(n.aug, children, at, before);
    return {
      keys,
      values: undefined,
      children,
      aug: aug === undefined ? spec.inner(children) : aug,
    };
  }

  /**
   * A node that may have overflowed, split in two when it did: in halves,
   * unless the entry or child that overflowed it was added at either end.
   * Then the split keeps three quarters of the width on the side away from
   * that end and moves the rest, the new one with them, to the other: keys
   * that arrive in order (regions carved by first fit, IOVAs handed out
   * lowest first, ids) would otherwise leave every node behind them half
   * full, and a tree of 10,000 such ranges four levels deep instead of
   * three (each lookup a level more to search, each insert a level more to
   * copy). The quarter left free takes a few keys added later between
   * those of a node (a hole filled again) without a split: a probe of the
   * hot walk timed the IOVA insert at 1.5k ns with it, 1.6k with halves
   * and 1.8–1.9k with full nodes. Keys that arrive anywhere else still
   * split in halves.
   *
   * @param at - where the entry or child that may have overflowed the node was added.
   */
  private made(
    keys: K[],
    values: V[] | undefined,
    children: BTreeNode<K, V, A>[] | undefined,
    at: number,
  ): BTreeNode<K, V, A> | [BTreeNode<K, V, A>, BTreeNode<K, V, A>] {
    if (keys.length <= this.width) {
      return children === undefined ? this.leaf(keys, values ?? []) : this.inner(keys, children);
    }
    const kept = (this.width * 3) >>> 2;
    const half = at === keys.length - 1 ? kept : at === 0 ? keys.length - kept : keys.length >>> 1;
    if (children === undefined) {
      const vs = values ?? [];
      return [
        this.leaf(keys.slice(0, half), vs.slice(0, half)),
        this.leaf(keys.slice(half), vs.slice(half)),
      ];
    }
    return [
      this.inner(keys.slice(0, half), children.slice(0, half)),
      this.inner(keys.slice(half), children.slice(half)),
    ];
  }

  private insert(
    n: BTreeNode<K, V, A>,
    key: K,
    value: V,
  ): BTreeNode<K, V, A> | [BTreeNode<K, V, A>, BTreeNode<K, V, A>] {
    const spec = this.spec;
    if (n.children === undefined) {
      const i = position(spec, n.keys, key);
      if (i >= 0) {
        const keys = n.keys[i] === key ? n.keys : replaceAt(n.keys, i, key);
        return this.leafAfter(n, keys, replaceAt(n.values, i, value), i, "value");
      }
      added = true;
      const at = -i - 1;
      const keys = insertAt(n.keys, at, key);
      const values = insertAt(n.values, at, value);
      if (keys.length <= this.width) return this.leafAfter(n, keys, values, at, "added");
      return this.made(keys, values, undefined, at);
    }
    const c = childFor(spec, n.keys, key);
    const child = n.children[c] as BTreeNode<K, V, A>;
    const r = this.insert(child, key, value);
    if (!Array.isArray(r)) {
      // Most inserts leave the child's least key as it was: share the keys array.
      const least = r.keys[0] as K;
      const keys = n.keys[c] === least ? n.keys : replaceAt(n.keys, c, least);
      return this.replaced(n, keys, replaceAt(n.children, c, r), c, child.aug);
    }
    const [lo, hi] = r;
    const keys = replaceAt(n.keys, c, lo.keys[0] as K);
    const children = replaceAt(n.children, c, lo);
    // The split child's two halves sit at c and c + 1: an end only when
    // its lone new entry went to that end (the other half is the full one).
    const edge = hi.keys.length === 1 ? c + 1 : lo.keys.length === 1 ? c : -1;
    return this.made(
      insertAt(keys, c + 1, hi.keys[0] as K),
      undefined,
      insertAt(children, c + 1, hi),
      edge === 0 || edge === n.keys.length ? edge : -1,
    );
  }

  /** The node without `key`: itself when absent, undefined when emptied. */
  private remove(n: BTreeNode<K, V, A>, key: K): BTreeNode<K, V, A> | undefined {
    const spec = this.spec;
    if (n.children === undefined) {
      const i = position(spec, n.keys, key);
      if (i < 0) return n;
      removedValue = n.values[i];
      if (n.keys.length === 1) return undefined;
      return this.leafAfter(n, removeAt(n.keys, i), removeAt(n.values, i), i, "removed");
    }
    const c = childFor(spec, n.keys, key);
    const child = n.children[c] as BTreeNode<K, V, A>;
    const r = this.remove(child, key);
    if (r === child) return n;
    if (r === undefined) {
      if (n.children.length === 1) return undefined;
      return this.inner(removeAt(n.keys, c), removeAt(n.children, c));
    }
    const children = replaceAt(n.children, c, r);
    const least = r.keys[0] as K;
    // A thin child merges with a neighbour when both fit in one node, so
    // deletes do not leave long chains of nearly empty nodes.
    if (r.keys.length < this.minFill && children.length > 1) {
      const left = c > 0 ? c - 1 : c;
      const a = children[left] as BTreeNode<K, V, A>;
      const b = children[left + 1] as BTreeNode<K, V, A>;
      if (a.keys.length + b.keys.length <= this.width) {
        const merged =
          a.children === undefined || b.children === undefined
            ? this.leaf(a.keys.concat(b.keys), (a.values ?? []).concat(b.values ?? []))
            : this.inner(a.keys.concat(b.keys), a.children.concat(b.children));
        const keys = replaceAt(n.keys, c, least);
        keys.splice(left, 2, merged.keys[0] as K);
        children.splice(left, 2, merged);
        return this.inner(keys, children);
      }
    }
    // Most removals leave the child's least key as it was: share the keys array.
    const keys = n.keys[c] === least ? n.keys : replaceAt(n.keys, c, least);
    return this.replaced(n, keys, children, c, child.aug);
  }
}
