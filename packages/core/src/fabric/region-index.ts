import type { AvlSpec } from "../encoding/avl.js";
import { Avl, groupIndex, idsInGroup } from "../encoding/avl.js";
import type { GroupIndex } from "../encoding/avl.js";
import type { TableIndex } from "../encoding/ptable.js";
import type { RegionState } from "../world/region-state.js";

/** A region's place in an address tree: its first address, then its table id. */
export interface RangeKey {
  /** The range's first address. */
  readonly start: bigint;
  /** The region's table id. */
  readonly id: number;
}

/** What each subtree of a {@link RangeTree} knows about its ranges. */
export interface RangeSpan {
  /** The lowest start in the subtree. */
  readonly minStart: bigint;
  /** The furthest end in the subtree. */
  readonly maxEnd: bigint;
  /**
   * The widest hole between the ranges of the subtree, their union taken
   * (0 if none): an upper bound once ranges outside the subtree are
   * counted too, which is what a first-fit search may skip on.
   */
  readonly maxGap: bigint;
}

/**
 * Address ranges (one per region, possibly nested or overlapping) ordered
 * by start, each subtree knowing its lowest start, furthest end and widest
 * hole: the stabbing query "which ranges hold `[from, to)`" visits
 * O(log n) nodes plus the ranges that hold it (for a buffer in RAM: the
 * buffer and RAM), and a first fit among a parent's sub-regions skips every
 * subtree without a hole wide enough.
 */
export type RangeTree = Avl<RangeKey, bigint, RangeSpan>;

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

const rangeSpec: AvlSpec<RangeKey, bigint, RangeSpan> = {
  compare: (a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.id - b.id),
  augment(key, end, left, right) {
    let maxGap = 0n;
    let covered = end;
    if (left !== undefined) {
      maxGap = max(left.aug.maxGap, key.start - left.aug.maxEnd);
      covered = max(covered, left.aug.maxEnd);
    }
    if (right !== undefined) {
      maxGap = max(maxGap, max(right.aug.maxGap, right.aug.minStart - covered));
    }
    return {
      minStart: left === undefined ? key.start : left.aug.minStart,
      maxEnd: max(covered, right === undefined ? end : right.aug.maxEnd),
      maxGap,
    };
  },
};

/** Regions by name (names are unique; if not, the lowest id comes first). */
const byName = groupIndex<RegionState>((r) => r.id);

/**
 * What the region table keeps indexed, so that finding a region by name or
 * by address costs O(log n) instead of a scan (issue 10, "indexes, not
 * scans"): the table updates it as regions are added, freed or reset
 * ({@link regionIndexer}), and it is neither hashed nor compared.
 *
 * Regions nest (a buffer inside RAM) and freed regions may overlap the
 * owned ones that reuse their memory, so owned and freed regions sit in
 * separate trees.
 */
export interface RegionIndex {
  /** Table ids by region name. */
  readonly byName: GroupIndex;
  /** Regions not freed, by CPU physical address. */
  readonly owned: RangeTree;
  /** Freed regions, by CPU physical address. */
  readonly freed: RangeTree;
  /** Device memory a peer may reach by bus address (BARs, VRAM), by bus address. */
  readonly windows: RangeTree;
}

function isWindow(r: RegionState): boolean {
  return r.kind !== "ram" && r.device !== undefined;
}

/** The region table's index (see {@link RegionIndex}). */
export const regionIndexer: TableIndex<RegionState, RegionIndex> = {
  empty: {
    byName: byName.empty,
    owned: Avl.empty(rangeSpec),
    freed: Avl.empty(rangeSpec),
    windows: Avl.empty(rangeSpec),
  },
  add(index, id, r) {
    const key = { start: r.base, id };
    const end = r.base + r.size;
    const bus = r.base + r.busOffset;
    return {
      byName: byName.add(index.byName, id, r),
      owned: r.status === "freed" ? index.owned : index.owned.set(key, end),
      freed: r.status === "freed" ? index.freed.set(key, end) : index.freed,
      windows: isWindow(r) ? index.windows.set({ start: bus, id }, bus + r.size) : index.windows,
    };
  },
  update(index, id, old, r) {
    // A status change between live and inaccessible moves no key.
    const same =
      old.id === r.id &&
      old.base === r.base &&
      old.size === r.size &&
      old.busOffset === r.busOffset &&
      old.kind === r.kind &&
      old.device === r.device &&
      (old.status === "freed") === (r.status === "freed");
    return same ? index : regionIndexer.add(regionIndexer.remove(index, id, old), id, r);
  },
  remove(index, id, r) {
    const key = { start: r.base, id };
    return {
      byName: byName.remove(index.byName, id, r),
      owned: r.status === "freed" ? index.owned : index.owned.delete(key),
      freed: r.status === "freed" ? index.freed.delete(key) : index.freed,
      windows: isWindow(r)
        ? index.windows.delete({ start: r.base + r.busOffset, id })
        : index.windows,
    };
  },
};

/**
 * The table id of a region by name.
 *
 * @param index - the region index.
 * @param name - the region's name.
 * @returns the lowest table id with that name, or undefined.
 */
export function regionIdNamed(index: RegionIndex, name: string): number | undefined {
  const first = idsInGroup(index.byName, name).next();
  return first.done === true ? undefined : first.value;
}

/**
 * Calls `visit` for every range of a tree that holds all of `[from, to)`
 * (`start <= from` and `to <= end`).
 *
 * @param tree - the ranges.
 * @param from - the first address.
 * @param to - one past the last.
 * @param visit - receives each range's table id, start and end.
 */
export function rangesHolding(
  tree: RangeTree,
  from: bigint,
  to: bigint,
  visit: (id: number, start: bigint, end: bigint) => void,
): void {
  const stack = tree.root === undefined ? [] : [tree.root];
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    // Nothing below ends late enough.
    if (n.aug.maxEnd < to) continue;
    if (n.left !== undefined) stack.push(n.left);
    // Ranges to the right start after this one: only useful if it starts at or before `from`.
    if (n.key.start <= from) {
      if (to <= n.value) visit(n.key.id, n.key.start, n.value);
      if (n.right !== undefined) stack.push(n.right);
    }
  }
}

/** One region's range as {@link rangesFrom} lists it. */
export interface RegionRange {
  /** The region's table id. */
  readonly id: number;
  /** Its first address. */
  readonly start: bigint;
  /** One past its last address. */
  readonly end: bigint;
}

/**
 * The ranges of a tree starting at or above `from`, in address order.
 *
 * @param tree - the ranges.
 * @param from - the lowest start wanted.
 * @yields each range's table id, start and end.
 */
export function* rangesFrom(tree: RangeTree, from: bigint): Generator<RegionRange> {
  for (const n of tree.nodesFrom({ start: from, id: -1 }))
    yield { id: n.key.id, start: n.key.start, end: n.value };
}

/** Where a first-fit walk over a subtree ended: a fit, or the candidate after it. */
type Fit = { readonly fit: bigint } | { readonly next: bigint };

/**
 * The lowest address at or above `lo` where `size` bytes fit between the
 * ranges of a tree that start at or above `from`, the range `skip` (the
 * parent itself) left out: first fit over the union of a parent's
 * sub-regions. Subtrees that lie wholly above `from` are skipped when no
 * hole in them is wide enough, so the walk costs O(log n) plus the
 * subtrees whose bound is loose.
 *
 * @param tree - the owned regions.
 * @param from - the parent's base: ranges starting below it do not count.
 * @param skip - the parent's table id.
 * @param lo - the lowest candidate.
 * @param size - bytes needed.
 * @returns the address (the caller checks it against the parent's end).
 */
export function firstFitAmong(
  tree: RangeTree,
  from: bigint,
  skip: number,
  lo: bigint,
  size: bigint,
): bigint {
  const walk = (n: RangeTree["root"], cand: bigint): Fit => {
    if (n === undefined || n.aug.maxEnd <= cand) return { next: cand };
    // Only a subtree wholly above the parent's base holds neither the parent
    // nor a range that does not count: there its summary may prune.
    if (n.aug.minStart > from) {
      if (n.aug.minStart >= cand + size) return { fit: cand };
      if (n.aug.maxGap < size) return { next: max(cand, n.aug.maxEnd) };
    } else if (n.key.start < from) {
      // This range and everything left of it start below the parent.
      return walk(n.right, cand);
    }
    const l = walk(n.left, cand);
    if ("fit" in l) return l;
    let next = l.next;
    if (n.key.id !== skip && n.key.start >= from && n.value > next) {
      if (n.key.start >= next + size) return { fit: next };
      next = n.value;
    }
    return walk(n.right, next);
  };
  const r = walk(tree.root, lo);
  return "fit" in r ? r.fit : r.next;
}
