import type { Codec } from "./codec.js";
import { encodeWith, equalWith, hashWith } from "./codec.js";
import { SECOND_LANE_SEED, fmix32, mixWord } from "./hash.js";

const BITS = 5;
/** Ids are non-negative integers below 2^30 (six trie levels). */
const MAX_ID = 2 ** 30 - 1;

function validId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= MAX_ID;
}
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;

/** WIDTH ** depth for every depth a table reaches, looked up: `**` with a variable exponent calls `Math.pow`. */
const SPANS: readonly number[] = Array.from({ length: 8 }, (_, d) => 2 ** (d * BITS));

/** How many ids a trie of `depth` levels holds: WIDTH ** depth, without `Math.pow` (depth <= 6). */
function span(depth: number): number {
  return SPANS[depth] ?? 2 ** (depth * BITS);
}

/**
 * The entry a {@link PTable.put} replaced or cleared, so that `set` learns
 * the old entry from its one walk of the trie instead of looking the id up first.
 */
let replaced: Entry<unknown> | undefined;

interface Entry<T> {
  readonly id: number;
  readonly value: T;
  readonly hash: number;
  /** A second, independent hash of the value (the other half of a 64-bit fingerprint). */
  readonly hash2: number;
}

type Slot<T> = Node<T> | Entry<T> | undefined;
/**
 * A trie node, as one array: `[count, full, slot 0, slot 1, ...]`, up to 32
 * slots (entries at level 0, nodes above). One object per level rather
 * than an object holding a slot array: a lookup or a path copy in a world
 * of 10,000 entries (three levels) reaches three objects, not six (issue
 * 10: at that size what a step costs is mostly the memory it reaches).
 *
 * - `count`: entries in the subtree (a full subtree has no free id, so the
 *   lowest-free search skips it);
 * - `full`: bit i set when slot i is full: it holds an entry (level 0) or a
 *   subtree with no free id, so the lowest-free search finds the next slot
 *   worth entering with one bit operation instead of a walk over 32 slots.
 */
type Node<T> = readonly (number | Slot<T>)[];

/** Where a node's slots start (after `count` and `full`). */
const HEAD = 2;

function countOf<T>(n: Node<T>): number {
  return n[0] as number;
}

function fullOf<T>(n: Node<T>): number {
  return n[1] as number;
}

function slotAt<T>(n: Node<T>, i: number): Slot<T> {
  return n[i + HEAD] as Slot<T>;
}

/** One past the highest slot a node has room for so far (slots past it are empty). */
function slotsOf<T>(n: Node<T>): number {
  return n.length - HEAD;
}

function isNode<T>(s: Slot<T>): s is Node<T> {
  return Array.isArray(s);
}

function isEntry<T>(s: Slot<T>): s is Entry<T> {
  return s !== undefined && !Array.isArray(s);
}

const EMPTY_NODE: Node<never> = [0, 0];

/**
 * A secondary index a table keeps as its entries change (see
 * {@link PTable.indexed}): the index follows from the values, so it is
 * neither hashed nor compared. Its operations must be persistent (return
 * a new index, never change the one given).
 * @category Tables and indexes
 */
export interface TableIndex<T, I> {
  /** The index of an empty table. */
  readonly empty: I;
  /**
   * The index with one entry added.
   *
   * @param index - the index before.
   * @param id - the entry's id.
   * @param value - its value.
   */
  add(index: I, id: number, value: T): I;
  /**
   * The index with one entry removed.
   *
   * @param index - the index before.
   * @param id - the entry's id.
   * @param value - its value as it was indexed.
   */
  remove(index: I, id: number, value: T): I;
  /**
   * The index with one entry's value replaced. Optional: without it the
   * table removes the old value and adds the new one. An index whose key
   * did not change returns `index` itself, so most updates cost nothing.
   *
   * @param index - the index before.
   * @param id - the entry's id.
   * @param old - its value as it was indexed.
   * @param value - its new value.
   */
  update?(index: I, id: number, old: T, value: T): I;
}

/**
 * A set of table ids, in increasing order (a table whose values say nothing).
 *
 * @category Tables and indexes
 */
export type IdSet = PTable<true>;

const idSetCodec: Codec<true> = { seed: 0x3a7c, encode: () => undefined };

function entryContribution(id: number, hash: number): number {
  return fmix32(hash ^ Math.imul(id + 1, 0x9e3779b1));
}

/** {@link entryContribution} for the second lane, with its own multiplier. */
function entryContribution2(id: number, hash2: number): number {
  return fmix32(hash2 ^ Math.imul(id + 1, 0x85ebca77));
}

/** The value's encoding hashed twice (two seeds): the halves of its 64-bit fingerprint. */
function entryOf<T>(codec: Codec<T>, id: number, value: T): Entry<T> {
  const words = encodeWith(codec, value);
  // Both lanes in one pass over the words (every table write hashes an entry).
  let h = codec.seed | 0;
  let h2 = (codec.seed ^ SECOND_LANE_SEED) | 0;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as number;
    h = mixWord(h, w);
    h2 = mixWord(h2, w);
  }
  // Signed (`| 0`): a small integer V8 stores inline, where an unsigned hash
  // above 2^31 would be a heap number of its own in every entry and table.
  return {
    id,
    value,
    hash: fmix32(h ^ words.length) | 0,
    hash2: fmix32(h2 ^ words.length) | 0,
  };
}

/**
 * What one value adds to a table's values-only hash lanes
 * ({@link PTable.valuesHash}, {@link PTable.valuesHash2}), for a structure
 * that keys its values otherwise (an IOMMU domain's mappings, by IOVA) and
 * hashes them as a set, as a table compared with {@link PTable.sameValues}
 * would.
 *
 * @param codec - how the value encodes.
 * @param value - the value.
 * @returns its two lanes' contributions (sum them, subtract them on removal).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intCodec } from "@dmabuf-ref/core";
 * import { PTable, valueLanes } from "@dmabuf-ref/core/encoding";
 *
 * // A table's values-only lanes are the sums of its values' lanes, whatever their ids.
 * const t = PTable.empty(intCodec).set(4, 10).set(9, 20);
 * const a = valueLanes(intCodec, 10);
 * const b = valueLanes(intCodec, 20);
 * assert.equal(t.valuesHash, (a.lane1 + b.lane1) | 0);
 * assert.equal(t.valuesHash2, (a.lane2 + b.lane2) | 0);
 * ```
 * @category Tables and indexes
 */
export function valueLanes<T>(codec: Codec<T>, value: T): ValueLanes {
  const e = entryOf(codec, 0, value);
  return { lane1: fmix32(e.hash), lane2: fmix32(e.hash2) };
}

/**
 * One value's share of the values-only hash lanes ({@link valueLanes}).
 *
 * @category Tables and indexes
 */
export interface ValueLanes {
  /** Its share of {@link PTable.valuesHash}. */
  readonly lane1: number;
  /** Its share of {@link PTable.valuesHash2}. */
  readonly lane2: number;
}

const entryId = <T>(e: Entry<T>): number => e.id;
const entryValue = <T>(e: Entry<T>): T => e.value;
const entryPair = <T>(e: Entry<T>): [number, T] => [e.id, e.value];

/**
 * The entries of a trie in id order, each as `pick` makes it. A hand-made
 * iterator rather than nested generators: a table is walked on the
 * explorer's hot path (the tasks in flight, the marks of an index), where
 * a generator per trie level cost an iterator result per level per entry.
 * It hands back one result object, updated on every call: the iterator
 * protocol's consumers (for-of, spread, destructuring) read it at once.
 */
class TrieWalk<T, R> implements IterableIterator<R> {
  /** The nodes from the root down to the one being read. */
  private readonly nodes: Node<T>[];
  /** The next slot to read in each of those nodes. */
  private readonly next_: number[];
  private readonly result: { done: boolean; value: R | undefined } = {
    done: false,
    value: undefined,
  };

  constructor(
    root: Node<T>,
    private readonly pick: (e: Entry<T>) => R,
  ) {
    this.nodes = [root];
    this.next_ = [0];
  }

  [Symbol.iterator](): IterableIterator<R> {
    return this;
  }

  next(): IteratorResult<R> {
    const { nodes, next_: at } = this;
    while (nodes.length > 0) {
      const top = nodes.length - 1;
      const node = nodes[top] as Node<T>;
      const i = at[top] as number;
      if (i >= slotsOf(node)) {
        nodes.pop();
        at.pop();
        continue;
      }
      at[top] = i + 1;
      const slot = slotAt(node, i);
      if (slot === undefined) continue;
      if (isNode(slot)) {
        nodes.push(slot);
        at.push(0);
        continue;
      }
      this.result.value = this.pick(slot);
      return this.result as IteratorYieldResult<R>;
    }
    this.result.done = true;
    this.result.value = undefined;
    return this.result as IteratorReturnResult<undefined>;
  }
}

/**
 * A persistent table from small integer ids to immutable slice values: a
 * 32-way trie, so an update copies O(log32 n) nodes and shares the rest
 * with the previous world (DESIGN §2a: structural sharing). Each entry
 * caches its hash; the table's hash is an order-independent sum of entry
 * hashes updated in O(1), so hashing a world costs the same with 10 or
 * 1000 buffers. Model machinery, not a kernel object.
 * @category Tables and indexes
 */
export class PTable<T, I = unknown> {
  private constructor(
    private readonly codec: Codec<T>,
    private readonly root: Node<T>,
    private readonly depth: number,
    /** Number of entries. */
    readonly size: number,
    /** Order-independent hash of all entries. */
    readonly hash: number,
    /** The lowest id >= 1 not in use (kept as entries come and go). */
    private readonly firstFree: number,
    /** Order- and id-independent hash of the values alone (see {@link PTable.sameValues}). */
    readonly valuesHash: number,
    /** {@link PTable.hash}'s second lane: with it, a 64-bit fingerprint of the entries. */
    readonly hash2: number,
    /** {@link PTable.valuesHash}'s second lane. */
    readonly valuesHash2: number,
    private readonly indexer: TableIndex<T, unknown> | undefined,
    /** The table's secondary index ({@link PTable.indexed}); undefined without one. */
    readonly index: I,
  ) {}

  /**
   * An empty table for values of one codec.
   *
   * @param codec - how the values encode.
   * @returns the empty table.
   */
  static empty<T>(codec: Codec<T>): PTable<T, undefined> {
    return new PTable<T, undefined>(codec, EMPTY_NODE, 1, 0, 0, 1, 0, 0, 0, undefined, undefined);
  }

  /**
   * An empty table that keeps a secondary index of its entries: every
   * change updates the index in the cost the index's own operations take
   * (O(log n) for the trees and id sets core uses), so a lookup the index
   * answers never scans the table (DESIGN §2a, "indexes, not scans").
   *
   * @param codec - how the values encode.
   * @param indexer - the index kept.
   * @returns the empty table.
   */
  static indexed<T, I>(codec: Codec<T>, indexer: TableIndex<T, I>): PTable<T, I> {
    // The index's type is fixed here; inside the table it is carried opaquely.
    const opaque = indexer as TableIndex<T, unknown>;
    return new PTable<T, I>(codec, EMPTY_NODE, 1, 0, 0, 1, 0, 0, 0, opaque, indexer.empty);
  }

  private indexWith(id: number, old: T | undefined, value: T | undefined): I {
    const indexer = this.indexer;
    if (indexer === undefined) return this.index;
    let index: unknown = this.index;
    if (old !== undefined && value !== undefined && indexer.update !== undefined)
      return indexer.update(index, id, old, value) as I;
    if (old !== undefined) index = indexer.remove(index, id, old);
    if (value !== undefined) index = indexer.add(index, id, value);
    return index as I;
  }

  /**
   * The value stored under an id.
   *
   * @param id - a non-negative integer id.
   * @returns the value, or undefined.
   */
  get(id: number): T | undefined {
    return this.entry(id)?.value;
  }

  /**
   * Whether an id is present.
   *
   * @param id - the id.
   */
  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /**
   * A table with `id` set to `value` (added or replaced).
   *
   * @param id - an integer id, 0 to 2^30 - 1.
   * @param value - the new value.
   * @returns the new table; this one is unchanged.
   */
  set(id: number, value: T): PTable<T, I> {
    if (!validId(id)) throw new RangeError(`bad table id ${id}: ids are integers 0..2^30-1`);
    let root = this.root;
    let depth = this.depth;
    while (id >= span(depth)) {
      root =
        this.size === 0 ? EMPTY_NODE : [countOf(root), countOf(root) === span(depth) ? 1 : 0, root];
      depth++;
    }
    const entry = entryOf(this.codec, id, value);
    replaced = undefined;
    const rootOut = PTable.put(root, depth - 1, id, entry) ?? EMPTY_NODE;
    const old = replaced as Entry<T> | undefined;
    const delta =
      entryContribution(id, entry.hash) - (old === undefined ? 0 : entryContribution(id, old.hash));
    const valuesDelta = fmix32(entry.hash) - (old === undefined ? 0 : fmix32(old.hash));
    const delta2 =
      entryContribution2(id, entry.hash2) -
      (old === undefined ? 0 : entryContribution2(id, old.hash2));
    const valuesDelta2 = fmix32(entry.hash2) - (old === undefined ? 0 : fmix32(old.hash2));
    const table = new PTable<T, I>(
      this.codec,
      rootOut,
      depth,
      this.size + (old === undefined ? 1 : 0),
      (this.hash + delta) | 0,
      this.firstFree,
      (this.valuesHash + valuesDelta) | 0,
      (this.hash2 + delta2) | 0,
      (this.valuesHash2 + valuesDelta2) | 0,
      this.indexer,
      this.indexWith(id, old?.value, value),
    );
    return id === this.firstFree ? table.withFirstFreeFrom(id + 1) : table;
  }

  /**
   * A table without `id`.
   *
   * @param id - the id to remove.
   * @returns the new table (this one when the id is absent).
   */
  delete(id: number): PTable<T, I> {
    const old = this.entry(id);
    if (old === undefined) return this;
    return new PTable<T, I>(
      this.codec,
      PTable.put(this.root, this.depth - 1, id, undefined) ?? EMPTY_NODE,
      this.depth,
      this.size - 1,
      (this.hash - entryContribution(id, old.hash)) | 0,
      id >= 1 && id < this.firstFree ? id : this.firstFree,
      (this.valuesHash - fmix32(old.hash)) | 0,
      (this.hash2 - entryContribution2(id, old.hash2)) | 0,
      (this.valuesHash2 - fmix32(old.hash2)) | 0,
      this.indexer,
      this.indexWith(id, old.value, undefined),
    );
  }

  /**
   * Applies a change to one entry.
   *
   * @param id - the entry's id; it must exist.
   * @param change - returns the new value from the old.
   * @returns the new table.
   */
  update(id: number, change: (old: T) => T): PTable<T, I> {
    const old = this.get(id);
    if (old === undefined) throw new Error(`no table entry ${id}`);
    const value = change(old);
    return value === old ? this : this.set(id, value);
  }

  /** Every `[id, value]` pair, in increasing id order. */
  entries(): IterableIterator<[number, T]> {
    return new TrieWalk(this.root, entryPair);
  }

  /** Every id, in increasing order. */
  keys(): IterableIterator<number> {
    return new TrieWalk(this.root, entryId);
  }

  /**
   * The lowest id from `first` up that is not in use: how the kernel hands
   * out fds (`alloc_fd`, lowest free) and xarray ids (`xa_alloc`), so that a
   * table whose entries come and go repeats its ids instead of counting up
   * for ever (DESIGN §2a, finite worlds).
   *
   * @param first - the lowest id allowed (default 1: 0 is never handed out).
   * @returns the id; O(1) for the default (the table keeps its lowest free
   *   id as entries come and go), a search from `first` otherwise.
   */
  lowestFreeId(first = 1): number {
    if (first <= 1) return this.firstFree;
    return this.freeFrom(first);
  }

  /** The lowest id from `from` up that is not in use: O(log n), full subtrees are skipped. */
  private freeFrom(from: number): number {
    return (
      PTable.lowestFree(this.root, this.depth - 1, 0, from) ?? Math.max(from, span(this.depth))
    );
  }

  private static lowestFree<T>(
    node: Node<T> | undefined,
    level: number,
    base: number,
    from: number,
  ): number | undefined {
    const childSpan = span(level);
    if (base + childSpan * WIDTH <= from) return undefined;
    if (node === undefined) return Math.max(base, from);
    if (countOf(node) === childSpan * WIDTH) return undefined;
    const first = from > base ? Math.floor((from - base) / childSpan) : 0;
    // The slots from `first` on that are not full, lowest first.
    let open = ~fullOf(node) & (-1 << first);
    while (open !== 0) {
      const i = 31 - Math.clz32(open & -open);
      const childBase = base + i * childSpan;
      if (level === 0) return Math.max(childBase, from);
      const slot = slotAt(node, i);
      const found = PTable.lowestFree(isNode(slot) ? slot : undefined, level - 1, childBase, from);
      if (found !== undefined) return found;
      open &= open - 1;
    }
    return undefined;
  }

  /** This table with its lowest free id searched from `from` up (every id below is in use). */
  private withFirstFreeFrom(from: number): PTable<T, I> {
    const id = this.freeFrom(from);
    return new PTable<T, I>(
      this.codec,
      this.root,
      this.depth,
      this.size,
      this.hash,
      id,
      this.valuesHash,
      this.hash2,
      this.valuesHash2,
      this.indexer,
      this.index,
    );
  }

  /** Every value, in increasing id order. */
  values(): IterableIterator<T> {
    return new TrieWalk(this.root, entryValue);
  }

  /**
   * Equality of the values as a multiset, ids ignored: for a table whose
   * ids are only slots nothing observes (an IOMMU domain's mapped ranges),
   * so that two worlds that mapped the same ranges in another order are
   * equal. O(n) after the hash check.
   *
   * @param other - another table of the same codec.
   * @returns true when both hold equally-encoding values, as many times each.
   */
  sameValues(other: PTable<T>): boolean {
    if (this === other) return true;
    if (this.size !== other.size || this.valuesHash !== other.valuesHash) return false;
    // Same values under the same ids (the usual case: twins sharing structure) is cheap.
    if (this.hash === other.hash && this.equals(other)) return true;
    const pending = new Map<number, T[]>();
    for (const v of this.values()) {
      const h = hashWith(this.codec, v);
      pending.set(h, [...(pending.get(h) ?? []), v]);
    }
    for (const v of other.values()) {
      const h = hashWith(this.codec, v);
      const bucket = pending.get(h) ?? [];
      const i = bucket.findIndex((x) => equalWith(this.codec, x, v));
      if (i < 0) return false;
      bucket.splice(i, 1);
    }
    return true;
  }

  /**
   * Canonical equality: same ids with equally-encoding values. Shared
   * subtrees compare by identity, so comparing two successive worlds costs
   * only what changed between them.
   *
   * @param other - another table of the same codec.
   * @returns true when equal.
   */
  equals(other: PTable<T>): boolean {
    if (this === other) return true;
    if (this.size !== other.size || this.hash !== other.hash) return false;
    if (this.depth === other.depth) return PTable.nodesEqual(this.codec, this.root, other.root);
    const a = [...this.entries()];
    const b = [...other.entries()];
    return a.every(([id, v], i) => {
      const o = b[i];
      return o !== undefined && o[0] === id && equalWith(this.codec, v, o[1]);
    });
  }

  private entry(id: number): Entry<T> | undefined {
    if (!validId(id) || id >= span(this.depth)) return undefined;
    let node: Node<T> = this.root;
    for (let level = this.depth - 1; level > 0; level--) {
      const next = slotAt(node, (id >>> (level * BITS)) & MASK);
      if (!isNode(next)) return undefined;
      node = next;
    }
    const slot = slotAt(node, id & MASK);
    return isEntry(slot) ? slot : undefined;
  }

  /** The node with `id` set to `entry` (or cleared); undefined when nothing is left below. */
  private static put<T>(
    node: Node<T> | undefined,
    level: number,
    id: number,
    entry: Entry<T> | undefined,
  ): Node<T> | undefined {
    const index = (id >>> (level * BITS)) & MASK;
    const out: (number | Slot<T>)[] = node === undefined ? [0, 0] : node.slice();
    let count = node === undefined ? 0 : countOf(node);
    let isFull: boolean;
    if (level === 0) {
      const was = out[index + HEAD] as Slot<T>;
      if (was !== undefined) {
        count--;
        if (isEntry(was)) replaced = was;
      }
      if (entry !== undefined) count++;
      out[index + HEAD] = entry;
      isFull = entry !== undefined;
    } else {
      const old = out[index + HEAD] as Slot<T>;
      const child = isNode(old) ? old : undefined;
      const next = PTable.put(child, level - 1, id, entry);
      count +=
        (next === undefined ? 0 : countOf(next)) - (child === undefined ? 0 : countOf(child));
      out[index + HEAD] = next;
      isFull = next !== undefined && countOf(next) === span(level);
    }
    if (count === 0) return undefined;
    const bit = 1 << index;
    const was = node === undefined ? 0 : fullOf(node);
    out[0] = count;
    out[1] = isFull ? was | bit : was & ~bit;
    return out;
  }

  private static nodesEqual<T>(codec: Codec<T>, a: Node<T>, b: Node<T>): boolean {
    if (a === b) return true;
    if (countOf(a) !== countOf(b)) return false;
    const n = Math.max(slotsOf(a), slotsOf(b));
    for (let i = 0; i < n; i++) {
      const x = slotAt(a, i);
      const y = slotAt(b, i);
      if (x === y) continue;
      // Emptied subtrees are dropped, so a hole on one side only is a difference.
      if (x === undefined || y === undefined) return false;
      if (isNode(x) && isNode(y)) {
        if (!PTable.nodesEqual(codec, x, y)) return false;
      } else if (isEntry(x) && isEntry(y)) {
        if (x.hash !== y.hash || !equalWith(codec, x.value, y.value)) return false;
      } else {
        return false;
      }
    }
    return true;
  }
}

/**
 * An empty {@link IdSet}.
 *
 * @category Tables and indexes
 */
export const emptyIdSet: IdSet = PTable.empty(idSetCodec);

/**
 * An index of the ids whose values pass a test: the few entries that need
 * attention (attachments that owe an unmap, buffers whose resv is held),
 * found without scanning the rest.
 *
 * @param test - which values to keep.
 * @returns the index, for {@link PTable.indexed}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intCodec } from "@dmabuf-ref/core";
 * import { PTable, markIndex } from "@dmabuf-ref/core/encoding";
 *
 * // The ids whose value is odd, kept as the table changes.
 * let t = PTable.indexed(intCodec, markIndex((v: number) => v % 2 === 1));
 * t = t.set(1, 3).set(2, 4).set(3, 5);
 * assert.deepEqual([...t.index.keys()], [1, 3]);
 * assert.deepEqual([...t.set(3, 6).index.keys()], [1]);
 * ```
 * @category Tables and indexes
 */
export function markIndex<T>(test: (value: T) => boolean): TableIndex<T, IdSet> {
  return {
    empty: emptyIdSet,
    add: (ids, id, value) => (test(value) ? ids.set(id, true) : ids),
    remove: (ids, id) => ids.delete(id),
    update(ids, id, old, value) {
      const on = test(value);
      if (on === test(old)) return ids;
      return on ? ids.set(id, true) : ids.delete(id);
    },
  };
}

/**
 * Several indexes of one table kept together, as one record.
 *
 * @param parts - an indexer per field of the record.
 * @returns the combined indexer, for {@link PTable.indexed}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intCodec } from "@dmabuf-ref/core";
 * import { PTable, combinedIndex, markIndex } from "@dmabuf-ref/core/encoding";
 *
 * // Two marks kept together as one record.
 * const index = combinedIndex({
 *   odd: markIndex((v: number) => v % 2 === 1),
 *   big: markIndex((v: number) => v > 10),
 * });
 * const t = PTable.indexed(intCodec, index).set(1, 3).set(2, 12).set(3, 13);
 * assert.deepEqual([...t.index.odd.keys()], [1, 3]);
 * assert.deepEqual([...t.index.big.keys()], [2, 3]);
 * ```
 * @category Tables and indexes
 */
export function combinedIndex<T, R extends object>(parts: {
  readonly [K in keyof R]: TableIndex<T, R[K]>;
}): TableIndex<T, R> {
  const keys = Object.keys(parts) as (keyof R)[];
  const each = (f: (k: keyof R) => unknown): R =>
    Object.fromEntries(keys.map((k) => [k, f(k)])) as R;
  const updateOne = <K extends keyof R>(k: K, index: R, id: number, old: T, value: T): R[K] => {
    const part = parts[k];
    return part.update === undefined
      ? part.add(part.remove(index[k], id, old), id, value)
      : part.update(index[k], id, old, value);
  };
  return {
    empty: each((k) => parts[k].empty),
    add: (index, id, value) => each((k) => parts[k].add(index[k], id, value)),
    remove: (index, id, value) => each((k) => parts[k].remove(index[k], id, value)),
    update(index, id, old, value) {
      // Unchanged parts keep the record itself, so an update that moves no key allocates nothing.
      let changed: Partial<R> | undefined;
      for (const k of keys) {
        const next = updateOne(k, index, id, old, value);
        if (next === index[k]) continue;
        changed ??= {};
        changed[k] = next;
      }
      return changed === undefined ? index : { ...index, ...changed };
    },
  };
}
