import { groupIndex, idsInGroup } from "../encoding/group-index.js";
import type { GroupIndex } from "../encoding/group-index.js";
import type { BTreeNode, BTreeSpec } from "../encoding/btree.js";
import { BTree } from "../encoding/btree.js";
import type { TableIndex } from "../encoding/ptable.js";
import type { RegionState } from "../world/region-state.js";

/**
 * A region's place in an address tree: its first address, then its table id.
 *
 * @category Tables and indexes
 */
export interface RangeKey {
  /** The range's first address. */
  readonly start: bigint;
  /** The region's table id. */
  readonly id: number;
}

/**
 * What each subtree of a {@link RangeTree} knows about its ranges.
 *
 * @category Tables and indexes
 */
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
  /**
   * The positions (entries of a leaf, children of an inner node) whose
   * furthest end reaches past where the next one starts: the only ones
   * before an address that can hold a range starting there. Nested ranges
   * are few (RAM around its buffers), so a stabbing query looks at these
   * and at the position of the address instead of at everything before it.
   */
  readonly containers: readonly number[];
  /** The greatest start in the subtree. */
  readonly maxStart: bigint;
  /**
   * The ranges of the subtree that end past its greatest start, when there
   * are at most 8 (else undefined): the only ranges of
   * the subtree that can hold an address beyond it. A stabbing query takes
   * a container child's candidates from here instead of descending into it
   * (RAM around its buffers: one range, however deep the tree).
   */
  readonly reaching: readonly RegionRange[] | undefined;
}

/** Most regions in a leaf of a {@link RangeTree}, and children of an inner node. */
const REGION_TREE_WIDTH = 128;

/** No position reaches past the next (the usual leaf of side-by-side buffers). */
const NO_CONTAINERS: readonly number[] = [];

/**
 * Most ranges a subtree lists as reaching past its greatest start: nested
 * regions are few (RAM, a BAR, the buffers in them); past this, a query
 * descends as if none were listed.
 */
const REACHING_MAX = 8;

/**
 * Address ranges (one per region, possibly nested or overlapping) ordered
 * by start, each subtree knowing its lowest start, furthest end and widest
 * hole: the stabbing query "which ranges hold `[from, to)`" visits
 * O(log n) nodes plus the ranges that hold it (for a buffer in RAM: the
 * buffer and RAM), and a first fit among a parent's sub-regions skips every
 * subtree without a hole wide enough.
 * @category Tables and indexes
 */
export type RangeTree = BTree<RangeKey, bigint, RangeSpan>;

type RangeNode = BTreeNode<RangeKey, bigint, RangeSpan>;

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

// Ranges may nest or overlap: a hole is measured from the furthest end so
// far (the union of the ranges before it), the same fold for a leaf's
// entries and for an inner node's children.
const rangeSpec: BTreeSpec<RangeKey, bigint, RangeSpan> = {
  // Regions change when memory is carved, freed or moved, and are looked
  // up by every device access and every DMA map: two levels for 10,000
  // regions instead of three.
  width: REGION_TREE_WIDTH,
  compare: (a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.id - b.id),
  // The same order, tested inline (one call per node, not per probe).
  search(keys, key) {
    let lo = 0;
    let hi = keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid] as RangeKey;
      if (k.start < key.start || (k.start === key.start && k.id < key.id)) lo = mid + 1;
      else if (k.start > key.start || k.id > key.id) hi = mid - 1;
      else return mid;
    }
    return -lo - 1;
  },
  leaf(keys, ends) {
    let covered = ends[0] as bigint;
    let maxGap = 0n;
    let containers = NO_CONTAINERS;
    for (let i = 1; i < keys.length; i++) {
      const start = (keys[i] as RangeKey).start;
      if ((ends[i - 1] as bigint) > start) containers = [...containers, i - 1];
      // Comparing first spares the subtraction (a BigInt allocation) where
      // ranges touch or nest, as they mostly do.
      if (start > covered) {
        const g = start - covered;
        if (g > maxGap) maxGap = g;
      }
      const e = ends[i] as bigint;
      if (e > covered) covered = e;
    }
    const maxStart = (keys[keys.length - 1] as RangeKey).start;
    let reaching: RegionRange[] | undefined = [];
    for (let i = 0; i < keys.length && reaching !== undefined; i++) {
      const end = ends[i] as bigint;
      if (end <= maxStart) continue;
      const key = keys[i] as RangeKey;
      if (reaching.length === REACHING_MAX) reaching = undefined;
      else reaching.push({ id: key.id, start: key.start, end });
    }
    return {
      minStart: (keys[0] as RangeKey).start,
      maxEnd: covered,
      maxGap,
      containers,
      maxStart,
      reaching,
    };
  },
  inner(children) {
    const first = (children[0] as RangeNode).aug;
    let covered = first.maxEnd;
    let maxGap = first.maxGap;
    let containers = NO_CONTAINERS;
    for (let i = 1; i < children.length; i++) {
      const a = (children[i] as RangeNode).aug;
      if ((children[i - 1] as RangeNode).aug.maxEnd > a.minStart)
        containers = [...containers, i - 1];
      if (a.minStart > covered) {
        const g = a.minStart - covered;
        if (g > maxGap) maxGap = g;
      }
      if (a.maxGap > maxGap) maxGap = a.maxGap;
      if (a.maxEnd > covered) covered = a.maxEnd;
    }
    const maxStart = (children[children.length - 1] as RangeNode).aug.maxStart;
    return {
      minStart: first.minStart,
      maxEnd: covered,
      maxGap,
      containers,
      maxStart,
      reaching: reachingOf(children, maxStart),
    };
  },
  // One child changed: when its start and end did not, no hole between the
  // children moved (the union before each child is as it was), so only the
  // child's own widest hole can change the node's. Anything else is left to
  // the scan, as a new end moves the union every later child is measured from.
  innerReplaced(old, children, at, before) {
    const after = (children[at] as RangeNode).aug;
    if (after.minStart !== before.minStart || after.maxEnd !== before.maxEnd) return undefined;
    // What reaches past the node's greatest start may have changed with the child.
    if (after.maxStart !== before.maxStart || after.reaching !== before.reaching) return undefined;
    if (
      after.maxGap === before.maxGap ||
      (before.maxGap < old.maxGap && after.maxGap <= old.maxGap)
    )
      return old;
    if (after.maxGap >= old.maxGap)
      return {
        minStart: old.minStart,
        maxEnd: old.maxEnd,
        maxGap: after.maxGap,
        containers: old.containers,
        maxStart: old.maxStart,
        reaching: old.reaching,
      };
    return undefined;
  },
};

/**
 * {@link RangeSpan.reaching} of an inner node: what each child lists,
 * filtered by the node's greatest start (a range ending past it ends past
 * its own child's greatest start too, so the children's lists hold them all).
 */
function reachingOf(
  children: readonly RangeNode[],
  maxStart: bigint,
): readonly RegionRange[] | undefined {
  const out: RegionRange[] = [];
  for (const c of children) {
    if (c.aug.maxEnd <= maxStart) continue;
    const listed = c.aug.reaching;
    if (listed === undefined) return undefined;
    for (const r of listed) {
      if (r.end <= maxStart) continue;
      if (out.length === REACHING_MAX) return undefined;
      out.push(r);
    }
  }
  return out;
}

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
 * @category Tables and indexes
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

/**
 * The region table's index (see {@link RegionIndex}).
 *
 * @category Tables and indexes
 */
export const regionIndexer: TableIndex<RegionState, RegionIndex> = {
  empty: {
    byName: byName.empty,
    owned: BTree.empty(rangeSpec),
    freed: BTree.empty(rangeSpec),
    windows: BTree.empty(rangeSpec),
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { regionIdNamed } from "@dmabuf-ref/core/encoding";
 *
 * // The reference machine boots with one RAM region, ram0.
 * const w = boot(referenceMachine());
 * const id = regionIdNamed(w.regions.index, "ram0");
 * assert.ok(id !== undefined);
 * assert.equal(w.regions.get(id)?.base, 0x1_0000_0000n);
 * assert.equal(regionIdNamed(w.regions.index, "bar9"), undefined);
 * ```
 * @category Tables and indexes
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { rangesHolding } from "@dmabuf-ref/core/encoding";
 *
 * // ram0 (4 GiB at 4 GiB) holds a 4 KiB range inside it, and no range outside.
 * const w = boot(referenceMachine());
 * const found: number[] = [];
 * rangesHolding(w.regions.index.owned, 0x1_0000_1000n, 0x1_0000_2000n, (id) => found.push(id));
 * assert.equal(found.length, 1);
 * const outside: number[] = [];
 * rangesHolding(w.regions.index.owned, 0x1000n, 0x2000n, (id) => outside.push(id));
 * assert.deepEqual(outside, []);
 * ```
 * @category Tables and indexes
 */
export function rangesHolding(
  tree: RangeTree,
  from: bigint,
  to: bigint,
  visit: (id: number, start: bigint, end: bigint) => void,
): void {
  if (tree.root === undefined) return;
  // A non-empty range rules out every position before the address that no
  // earlier range reaches past (see RangeSpan.containers); an empty one
  // (to = from) does not, as a range may end exactly there.
  if (to > from) holdingIn(tree.root, from, to, visit);
  else holdingInScan(tree.root, from, to, visit);
}

function holdingIn(
  n: RangeNode,
  from: bigint,
  to: bigint,
  visit: (id: number, start: bigint, end: bigint) => void,
): void {
  // Nothing below ends late enough, or everything below starts too late.
  if (n.aug.maxEnd < to || n.aug.minStart > from) return;
  const containers = n.aug.containers;
  if (n.children === undefined) {
    // The last entry starting at or before `from`; before it, only the
    // containers can reach `to` (the others end where their next starts).
    const at = lastStartingBy(n.keys, from);
    for (const i of containers) {
      if (i >= at) break;
      const end = n.values[i] as bigint;
      if (to <= end) visit((n.keys[i] as RangeKey).id, (n.keys[i] as RangeKey).start, end);
    }
    const end = n.values[at] as bigint;
    if (to <= end) visit((n.keys[at] as RangeKey).id, (n.keys[at] as RangeKey).start, end);
    return;
  }
  const at = lastStartingBy(n.keys, from);
  for (const i of containers) {
    if (i >= at) break;
    // Every range of a child before `at` starts before `from`: those that
    // hold it end past the child's greatest start, so its list has them.
    const child = n.children[i] as RangeNode;
    const listed = child.aug.reaching;
    if (listed === undefined) holdingIn(child, from, to, visit);
    else for (const r of listed) if (to <= r.end && r.start <= from) visit(r.id, r.start, r.end);
  }
  holdingIn(n.children[at] as RangeNode, from, to, visit);
}

/** {@link holdingIn} for an empty `[from, to)`: every range before `from` is looked at. */
function holdingInScan(
  n: RangeNode,
  from: bigint,
  to: bigint,
  visit: (id: number, start: bigint, end: bigint) => void,
): void {
  if (n.aug.maxEnd < to || n.aug.minStart > from) return;
  if (n.children === undefined) {
    for (let i = 0; i < n.keys.length; i++) {
      const key = n.keys[i] as RangeKey;
      if (key.start > from) return;
      const end = n.values[i] as bigint;
      if (to <= end) visit(key.id, key.start, end);
    }
    return;
  }
  for (const c of n.children) {
    if (c.aug.minStart > from) return;
    holdingInScan(c, from, to, visit);
  }
}

/**
 * The last position whose key (a leaf's entry, an inner node's least key)
 * starts at or before `from`, or 0 (the caller has checked that the node
 * starts at or before `from`).
 */
function lastStartingBy(keys: readonly RangeKey[], from: bigint): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((keys[mid] as RangeKey).start <= from) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * One region's range as {@link rangesFrom} lists it.
 *
 * @category Tables and indexes
 */
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { rangesFrom } from "@dmabuf-ref/core/encoding";
 *
 * // Ranges by start from an address on: ram0 starts at 4 GiB.
 * const w = boot(referenceMachine());
 * const [first] = [...rangesFrom(w.regions.index.owned, 0n)];
 * assert.equal(first?.start, 0x1_0000_0000n);
 * assert.equal(first?.end, 0x1_4000_0000n);
 * assert.deepEqual([...rangesFrom(w.regions.index.owned, 0x1_0000_0001n)], []);
 * ```
 * @category Tables and indexes
 */
export function* rangesFrom(tree: RangeTree, from: bigint): Generator<RegionRange> {
  for (const n of tree.entriesFrom({ start: from, id: -1 }))
    yield { id: n.key.id, start: n.key.start, end: n.value };
}

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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { firstFitAmong, regionIdNamed } from "@dmabuf-ref/core/encoding";
 *
 * // Nothing is carved out of ram0 yet: the first 8 KiB fit at its base.
 * const w = boot(referenceMachine());
 * const ram = regionIdNamed(w.regions.index, "ram0");
 * assert.ok(ram !== undefined);
 * const base = 0x1_0000_0000n;
 * assert.equal(firstFitAmong(w.regions.index.owned, base, ram, base, 0x2000n), base);
 * ```
 * @category Tables and indexes
 */
export function firstFitAmong(
  tree: RangeTree,
  from: bigint,
  skip: number,
  lo: bigint,
  size: bigint,
): bigint {
  const root = tree.root;
  if (root === undefined) return lo;
  fitFound = false;
  return fitAmong(root, from, skip, lo, size);
}

/** Set by {@link fitAmong} when it found a fit (its result is then the address). */
let fitFound = false;

/**
 * First fit at or above `cand` among a subtree's ranges that start at or
 * above `from` (`skip` left out): the address when `fitFound` is set,
 * else the candidate after the subtree's last counted range.
 */
function fitAmong(n: RangeNode, from: bigint, skip: number, cand: bigint, size: bigint): bigint {
  const aug = n.aug;
  if (aug.maxEnd <= cand) return cand;
  // Only a subtree wholly above the parent's base holds neither the parent
  // nor a range that does not count: there its summary may prune.
  if (aug.minStart > from) {
    if (aug.minStart >= cand + size) {
      fitFound = true;
      return cand;
    }
    if (aug.maxGap < size) return max(cand, aug.maxEnd);
  }
  if (n.children === undefined) {
    for (let i = 0; i < n.keys.length; i++) {
      const key = n.keys[i] as RangeKey;
      const end = n.values[i] as bigint;
      if (key.id === skip || key.start < from || end <= cand) continue;
      if (key.start >= cand + size) {
        fitFound = true;
        return cand;
      }
      cand = end;
    }
    return cand;
  }
  const kids = n.children;
  for (let i = 0; i < kids.length; i++) {
    // A child whose successor starts below the parent's base holds only ranges that do not count.
    const next = n.keys[i + 1];
    if (next !== undefined && next.start < from) continue;
    cand = fitAmong(kids[i] as RangeNode, from, skip, cand, size);
    if (fitFound) return cand;
  }
  return cand;
}
