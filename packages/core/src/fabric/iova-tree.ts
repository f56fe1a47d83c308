/**
 * A persistent balanced tree of non-overlapping address ranges, ordered by
 * start: the model's counterpart of the rbtree an `iova_domain` keeps
 * (drivers/iommu/iova.c) and of the interval trees iommufd keeps per IOAS.
 * It answers the questions the IOMMU paths ask (which range covers an
 * address, does a range overlap, where is the lowest hole that fits) in
 * O(log n) (a persistent B+tree, `encoding/btree.ts`), so a map, an unmap or a translated DMA costs the same with 10
 * or 10,000 ranges mapped (DESIGN §2a).
 *
 * It is an index, not part of the canonical encoding: two trees holding
 * the same ranges may differ in shape, and nothing hashes them.
 */

import type { BTreeNode, BTreeSpec, LeafChange } from "../encoding/btree.js";
import { BTree, searchOrdered } from "../encoding/btree.js";
import type { TableIndex } from "../encoding/ptable.js";

/** A range's end and what it maps to (the tree's key is its start). */
interface Span<V> {
  readonly end: bigint;
  /** The end rounded up to the granule, as holes are measured (kept so no summary divides). */
  readonly top: bigint;
  readonly value: V;
}

/** What each subtree knows about its ranges and the holes between them. */
interface Extent {
  /** Lowest start in the subtree. */
  readonly minStart: bigint;
  /** Highest end in the subtree, rounded up to the granule. */
  readonly maxEnd: bigint;
  /** Widest hole between two consecutive ranges inside the subtree (0 if none). */
  readonly maxGap: bigint;
  /**
   * How many holes of the subtree are that wide (0 when there is none).
   * Allocations of one size leave many holes of one width: filling one of
   * them leaves the others, and the summary above stays right without
   * reading every child again (a map into 10,000 one-page ranges otherwise
   * scanned about 24 children's summaries, written long before).
   */
  readonly widest: number;
  /**
   * Bit i set when position i (a leaf's entry, an inner node's child) may
   * hold a hole: a hole right before it, or (a child) one inside. A first
   * fit goes from one set bit to the next and never reads the ranges or
   * summaries of the packed positions between them: at 10,000 ranges those
   * are most of what it would pass, each written long before and no longer
   * in the caches. The hole before position 0 is the parent's to see.
   */
  readonly holes: number;
}

type Node<V> = BTreeNode<bigint, Span<V>, Extent>;

function roundUp(x: bigint, granule: bigint): bigint {
  return ((x + granule - 1n) / granule) * granule;
}

// The ranges never overlap, so within a node the last range ends highest
// and the holes are the gaps between neighbours.
function spec<V>(): BTreeSpec<bigint, Span<V>, Extent> {
  return {
    compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    // Inline comparisons: a map or a translated DMA searches three levels of up to 32 keys at 10,000 ranges.
    search: searchOrdered,
    leaf(starts, spans) {
      let maxGap = 0n;
      let widest = 0;
      let holes = 0;
      let prevTop = (spans[0] as Span<V>).top;
      for (let i = 1; i < starts.length; i++) {
        const start = starts[i] as bigint;
        // Comparing first spares the subtraction (a BigInt allocation) where
        // ranges touch, as first-fit allocation packs them.
        if (start > prevTop) {
          holes |= 1 << i;
          const g = start - prevTop;
          if (g > maxGap) {
            maxGap = g;
            widest = 1;
          } else if (g === maxGap) widest++;
        }
        prevTop = (spans[i] as Span<V>).top;
      }
      return { minStart: starts[0] as bigint, maxEnd: prevTop, maxGap, widest, holes };
    },
    // A map or an unmap adds or removes one range of a leaf: the marks of
    // the other positions move with them, the one or two next to the change
    // are compared again, and the holes are measured at the marked
    // positions only, without reading the ranges of the packed runs.
    leafChanged(before, starts, spans, at, change) {
      const holes = leafHoles(before.aug.holes, starts, spans, at, change);
      let maxGap = 0n;
      let widest = 0;
      for (let rest = holes; rest !== 0; rest &= rest - 1) {
        const i = lowestBit(rest);
        const g = (starts[i] as bigint) - (spans[i - 1] as Span<V>).top;
        if (g > maxGap) {
          maxGap = g;
          widest = 1;
        } else if (g === maxGap) widest++;
      }
      const maxEnd = (spans[spans.length - 1] as Span<V>).top;
      return { minStart: starts[0] as bigint, maxEnd, maxGap, widest, holes };
    },
    // The marks from every child, then the widest holes measured at the
    // marked ones: the same measure the refill of a hole uses.
    inner(children) {
      const first = (children[0] as Node<V>).aug;
      let holes = first.maxGap > 0n ? 1 : 0;
      let prevEnd = first.maxEnd;
      for (let i = 1; i < children.length; i++) {
        const a = (children[i] as Node<V>).aug;
        if (a.minStart > prevEnd || a.maxGap > 0n) holes |= 1 << i;
        prevEnd = a.maxEnd;
      }
      return widestMarked(children, holes, first.minStart, prevEnd);
    },
    // A map or an unmap changes one child per level: the holes as wide as
    // the widest are counted again around that child (inside it, and
    // between it and its neighbours). When the last of them went (a hole
    // filled again), the next widest is found among the children the marks
    // name, not by reading all of them: a packed tree has few marks.
    innerReplaced(old, children, at, before) {
      const last = children.length - 1;
      const after = (children[at] as Node<V>).aug;
      const prev = at > 0 ? (children[at - 1] as Node<V>).aug : undefined;
      const next = at < last ? (children[at + 1] as Node<V>).aug : undefined;
      const minStart = at === 0 ? after.minStart : old.minStart;
      const maxEnd = at === last ? after.maxEnd : old.maxEnd;
      // The changed child's bit, and its right neighbour's (the hole before it moved).
      let holes = old.holes & ~(1 << at);
      if (after.maxGap > 0n || (prev !== undefined && after.minStart > prev.maxEnd))
        holes |= 1 << at;
      if (next !== undefined) {
        holes &= ~(1 << (at + 1));
        if (next.maxGap > 0n || next.minStart > after.maxEnd) holes |= 1 << (at + 1);
      }
      const now = widestAround(prev, after, next);
      let maxGap = old.maxGap;
      let widest: number;
      if (now > maxGap) {
        maxGap = now;
        widest = widestCount(prev, after, next, now);
      } else {
        widest =
          maxGap === 0n
            ? 0
            : old.widest -
              widestCount(prev, before, next, maxGap) +
              widestCount(prev, after, next, maxGap);
        if (maxGap > 0n && widest === 0) return widestMarked(children, holes, minStart, maxEnd);
      }
      if (
        minStart === old.minStart &&
        maxEnd === old.maxEnd &&
        maxGap === old.maxGap &&
        widest === old.widest &&
        holes === old.holes
      )
        return old;
      return { minStart, maxEnd, maxGap, widest, holes };
    },
  };
}

/**
 * An inner node's summary when its marks (`holes`, exact for every child)
 * are known: the widest holes are measured at the marked children only,
 * each one's own widest and the hole before it. The spec's `inner` marks
 * every child and calls it; `innerReplaced` calls it with the marks it kept
 * when a refilled hole was the last of the widest.
 */
function widestMarked<V>(
  children: readonly Node<V>[],
  holes: number,
  minStart: bigint,
  maxEnd: bigint,
): Extent {
  let maxGap = 0n;
  let widest = 0;
  for (let rest = holes; rest !== 0; rest &= rest - 1) {
    const i = lowestBit(rest);
    const a = (children[i] as Node<V>).aug;
    if (i > 0) {
      const prevEnd = (children[i - 1] as Node<V>).aug.maxEnd;
      if (a.minStart > prevEnd) {
        const g = a.minStart - prevEnd;
        if (g > maxGap) {
          maxGap = g;
          widest = 1;
        } else if (g === maxGap) widest++;
      }
    }
    if (a.maxGap > 0n) {
      if (a.maxGap > maxGap) {
        maxGap = a.maxGap;
        widest = a.widest;
      } else if (a.maxGap === maxGap) widest += a.widest;
    }
  }
  return { minStart, maxEnd, maxGap, widest, holes };
}

/** The bits of positions 0 to `n - 1`; all 32 for n of 32 or more. */
function lowBits(n: number): number {
  return n <= 0 ? 0 : n >= 32 ? -1 : (1 << n) - 1;
}

/**
 * A leaf's marks (Extent.holes) after one change at `at`: the positions
 * before it keep theirs, those after it move by one where a range was
 * added or removed, and the positions whose hole before them changed (the
 * one at `at`, the next one) are compared again.
 */
function leafHoles<V>(
  old: number,
  starts: readonly bigint[],
  spans: readonly Span<V>[],
  at: number,
  change: LeafChange,
): number {
  const before = old & lowBits(at);
  switch (change) {
    case "added": {
      // Old positions at and after move up by one; at and at + 1 are compared again.
      const after = at >= 31 ? 0 : ((old >>> at) << (at + 1)) & ~lowBits(at + 2);
      return before | after | holeMark(starts, spans, at) | holeMark(starts, spans, at + 1);
    }
    case "removed": {
      // Old positions after `at` move down by one; `at` is compared again.
      const after = at >= 31 ? 0 : ((old >>> (at + 1)) << at) & ~lowBits(at + 1);
      return before | after | holeMark(starts, spans, at);
    }
    case "value": {
      // Same starts: only the hole after the changed range moved.
      const after = old & ~lowBits(at + 2);
      return before | (old & (1 << at)) | after | holeMark(starts, spans, at + 1);
    }
    default: {
      const unknown: never = change;
      throw new Error(`leafHoles: unknown change ${String(unknown)}`);
    }
  }
}

/** Position i's mark in a leaf: a hole between the range before it and its own. */
function holeMark<V>(starts: readonly bigint[], spans: readonly Span<V>[], i: number): number {
  return i > 0 && i < starts.length && (starts[i] as bigint) > (spans[i - 1] as Span<V>).top
    ? 1 << i
    : 0;
}

/**
 * The widest hole that involves one child of an inner node: inside it, or
 * between it and the neighbour on either side.
 */
function widestAround(prev: Extent | undefined, mid: Extent, next: Extent | undefined): bigint {
  let widest = mid.maxGap;
  if (prev !== undefined && mid.minStart > prev.maxEnd) {
    const g = mid.minStart - prev.maxEnd;
    if (g > widest) widest = g;
  }
  if (next !== undefined && next.minStart > mid.maxEnd) {
    const g = next.minStart - mid.maxEnd;
    if (g > widest) widest = g;
  }
  return widest;
}

/**
 * How many holes `width` wide involve one child of an inner node: inside
 * it, and between it and the neighbour on either side.
 */
function widestCount(
  prev: Extent | undefined,
  mid: Extent,
  next: Extent | undefined,
  width: bigint,
): number {
  let count = mid.maxGap === width ? mid.widest : 0;
  if (prev !== undefined && mid.minStart > prev.maxEnd && mid.minStart - prev.maxEnd === width)
    count++;
  if (next !== undefined && next.minStart > mid.maxEnd && next.minStart - mid.maxEnd === width)
    count++;
  return count;
}

/** Set by {@link firstFitIn} when it found a fit (its result is then the address). */
let fitFound = false;

/**
 * First fit at or above `lo` inside a subtree: the address when
 * `fitFound` is set, else the candidate after the subtree's last range.
 */
// Only the positions the summary marks as maybe holding a hole are looked
// at (Extent.holes), lowest first; past a packed run the candidate is the
// end of the run's last range. A start at or below the candidate is ruled
// out by a comparison, before the sum `cand + size` (a BigInt allocation).
function firstFitIn<V>(n: Node<V>, lo: bigint, size: bigint): bigint {
  const aug = n.aug;
  if (aug.maxEnd <= lo) return lo;
  if (aug.minStart > lo && aug.minStart >= lo + size) {
    fitFound = true;
    return lo;
  }
  // No hole inside the subtree fits, and the one before it does not: the
  // candidate moves past the subtree's last range.
  if (aug.maxGap < size) return lo > aug.maxEnd ? lo : aug.maxEnd;
  let cand = lo;
  let holes = aug.holes;
  if (n.children === undefined) {
    while (holes !== 0) {
      // Bit 0 is never set in a leaf: the hole before its first range is checked above.
      const i = lowestBit(holes);
      holes &= holes - 1;
      const prevTop = (n.values[i - 1] as Span<V>).top;
      if (prevTop > cand) cand = prevTop;
      const start = n.keys[i] as bigint;
      if (start > cand && start >= cand + size) {
        fitFound = true;
        return cand;
      }
    }
  } else {
    while (holes !== 0) {
      const i = lowestBit(holes);
      holes &= holes - 1;
      if (i > 0) {
        const prevEnd = (n.children[i - 1] as Node<V>).aug.maxEnd;
        if (prevEnd > cand) cand = prevEnd;
      }
      cand = firstFitIn(n.children[i] as Node<V>, cand, size);
      if (fitFound) return cand;
    }
  }
  return cand > aug.maxEnd ? cand : aug.maxEnd;
}

/** The index of the lowest set bit of a non-zero 32-bit mask. */
function lowestBit(mask: number): number {
  return 31 - Math.clz32(mask & -mask);
}

/**
 * One range as the tree hands it out.
 *
 * @category Tables and indexes
 */
export interface IovaRangeEntry<V> {
  /** First address. */
  readonly start: bigint;
  /** One past the last address. */
  readonly end: bigint;
  /** What the range maps to (for a domain: the mapping's slot). */
  readonly value: V;
}

function entryOf<V>(n: { readonly key: bigint; readonly value: Span<V> }): IovaRangeEntry<V> {
  return { start: n.key, end: n.value.end, value: n.value.value };
}

/**
 * Non-overlapping ranges ordered by start, with the holes between them
 * searchable (see the file comment). Model machinery for `iova_domain`.
 * @category Tables and indexes
 */
export class IovaTree<V> {
  private constructor(
    /** Allocation granule: a range's end rounds up to it when holes are measured. */
    readonly granule: bigint,
    private readonly tree: BTree<bigint, Span<V>, Extent>,
  ) {}

  /**
   * An empty tree.
   *
   * @param granule - the allocation granule (one IOVA page for the DMA-API allocator).
   * @returns the empty tree.
   */
  static empty<V>(granule: bigint): IovaTree<V> {
    return new IovaTree<V>(granule, BTree.empty(spec<V>()));
  }

  /** Number of ranges. */
  get size(): number {
    return this.tree.size;
  }

  /**
   * The range that starts exactly at `start`.
   *
   * @param start - the first address.
   * @returns the range, or undefined.
   */
  at(start: bigint): IovaRangeEntry<V> | undefined {
    const span = this.tree.get(start);
    return span === undefined ? undefined : { start, end: span.end, value: span.value };
  }

  /**
   * The range that holds every byte of `[addr, addr + len)`.
   *
   * @param addr - the first address.
   * @param len - bytes (at least 1).
   * @returns the range, or undefined when no single range covers them all.
   */
  covering(addr: bigint, len: bigint): IovaRangeEntry<V> | undefined {
    const n = this.tree.floor(addr);
    return n !== undefined && addr + len <= n.value.end ? entryOf(n) : undefined;
  }

  /**
   * A range that shares a byte with `[start, start + len)`.
   *
   * @param start - the first address.
   * @param len - bytes (at least 1).
   * @returns one such range, or undefined.
   */
  overlapping(start: bigint, len: bigint): IovaRangeEntry<V> | undefined {
    // The range at or below `start`, and the next one: one descent.
    const { below, above } = this.tree.neighbours(start);
    if (below !== undefined && below.value.end > start) return entryOf(below);
    return above !== undefined && above.key < start + len ? entryOf(above) : undefined;
  }

  /**
   * Every range that shares a byte with `[start, start + len)`, in address
   * order: O(log n) plus the ranges found.
   *
   * @param start - the first address.
   * @param len - bytes (at least 1).
   * @yields each range.
   */
  *overlappingAll(start: bigint, len: bigint): Generator<IovaRangeEntry<V>> {
    const below = this.tree.floor(start);
    if (below !== undefined && below.key < start && below.value.end > start) yield entryOf(below);
    for (const n of this.tree.entriesFrom(start)) {
      if (n.key >= start + len) break;
      yield entryOf(n);
    }
  }

  /**
   * Adds a range (replacing one that starts at the same address).
   *
   * @param start - the first address.
   * @param len - bytes (at least 1).
   * @param value - what it maps to.
   * @returns the new tree.
   */
  insert(start: bigint, len: bigint, value: V): IovaTree<V> {
    const end = start + len;
    return new IovaTree(
      this.granule,
      this.tree.set(start, { end, top: roundUp(end, this.granule), value }),
    );
  }

  /**
   * Removes the range that starts at `start`, if any.
   *
   * @param start - its first address.
   * @returns the new tree (this one when nothing starts there).
   */
  remove(start: bigint): IovaTree<V> {
    const tree = this.tree.delete(start);
    return tree === this.tree ? this : new IovaTree(this.granule, tree);
  }

  /**
   * Removes the range that starts at `start`, and says what it was: one
   * descent, where {@link IovaTree.at} and then {@link IovaTree.remove} make two.
   *
   * @param start - its first address.
   * @returns the new tree and the removed range, or undefined when nothing starts there.
   */
  take(start: bigint):
    | {
        /** The tree without the range. */
        readonly tree: IovaTree<V>;
        /** The range removed. */
        readonly removed: IovaRangeEntry<V>;
      }
    | undefined {
    const r = this.tree.take(start);
    if (r === undefined) return undefined;
    return {
      tree: new IovaTree(this.granule, r.tree),
      removed: { start, end: r.value.end, value: r.value.value },
    };
  }

  /**
   * The lowest address at or above `base` where `size` bytes fit between
   * the ranges, each range's end rounded up to the granule: the first fit
   * of the DMA-API allocator. O(log n) when `base` is below every range.
   *
   * @param base - the lowest address to hand out (granule aligned).
   * @param size - bytes needed (a multiple of the granule).
   * @returns the address.
   */
  firstFit(base: bigint, size: bigint): bigint {
    const root = this.tree.root;
    if (root === undefined) return base;
    fitFound = false;
    return firstFitIn(root, base, size);
  }

  /**
   * Whether two trees hold the same ranges with equal values: versions of
   * one tree compare in what differs between them (shared subtrees by
   * identity), others range by range.
   *
   * @param other - the other tree.
   * @param same - value equality.
   * @returns true when equal.
   */
  sameRanges(other: IovaTree<V>, same: (a: V, b: V) => boolean): boolean {
    return (
      this.granule === other.granule &&
      this.tree.sameEntries(other.tree, (x, y) => x.end === y.end && same(x.value, y.value))
    );
  }

  /**
   * Every range in address order.
   *
   * @yields each range.
   */
  *entries(): Generator<IovaRangeEntry<V>> {
    for (const n of this.tree.entries()) yield entryOf(n);
  }
}

/**
 * A table index of non-overlapping ranges by address ({@link PTable.indexed}):
 * for tables of mapped ranges keyed by slot (an IOAS's areas), the tree
 * maps each range to its slot. (An IOMMU domain keeps its mappings in an
 * {@link IovaTree} alone: `DomainMappings`.)
 *
 * @param start - a value's first address.
 * @param len - its length in bytes (at least 1).
 * @param granule - the allocation granule ({@link IovaTree.firstFit}).
 * @returns the indexer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordCodec, u64Codec } from "@dmabuf-ref/core";
 * import { PTable, iovaIndex } from "@dmabuf-ref/core/encoding";
 *
 * // Mapped ranges by slot, indexed by address: the lowest hole that fits.
 * const codec = recordCodec<{ iova: bigint; len: bigint }>("mapping", {
 *   iova: u64Codec,
 *   len: u64Codec,
 * });
 * const index = iovaIndex(
 *   (m: { iova: bigint; len: bigint }) => m.iova,
 *   (m) => m.len,
 *   0x1000n,
 * );
 * const t = PTable.indexed(codec, index)
 *   .set(1, { iova: 0x1000n, len: 0x1000n })
 *   .set(2, { iova: 0x3000n, len: 0x1000n });
 * assert.equal(t.index.covering(0x3800n, 8n)?.value, 2);
 * assert.equal(t.index.firstFit(0x1000n, 0x1000n), 0x2000n);
 * assert.equal(t.index.firstFit(0x1000n, 0x2000n), 0x4000n);
 * ```
 * @category Tables and indexes
 */
export function iovaIndex<T>(
  start: (value: T) => bigint,
  len: (value: T) => bigint,
  granule: bigint,
): TableIndex<T, IovaTree<number>> {
  return {
    empty: IovaTree.empty(granule),
    add: (tree, id, v) => tree.insert(start(v), len(v), id),
    remove: (tree, _id, v) => tree.remove(start(v)),
    update: (tree, id, old, v) =>
      start(old) === start(v) && len(old) === len(v)
        ? tree
        : tree.remove(start(old)).insert(start(v), len(v), id),
  };
}
