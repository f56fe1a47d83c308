/**
 * A persistent balanced tree of non-overlapping address ranges, ordered by
 * start: the model's counterpart of the rbtree an `iova_domain` keeps
 * (drivers/iommu/iova.c) and of the interval trees iommufd keeps per IOAS.
 * It answers the questions the IOMMU paths ask (which range covers an
 * address, does a range overlap, where is the lowest hole that fits) in
 * O(log n), so a map, an unmap or a translated DMA costs the same with 10
 * or 10,000 ranges mapped (DESIGN §2a). An update copies one root-to-leaf
 * path and shares the rest with the previous world.
 *
 * It is an index, not part of the canonical encoding: two trees holding
 * the same ranges may differ in shape, and nothing hashes them.
 */

interface Node<V> {
  readonly start: bigint;
  /** One past the last byte. */
  readonly end: bigint;
  readonly value: V;
  readonly left: Node<V> | undefined;
  readonly right: Node<V> | undefined;
  readonly height: number;
  /** Lowest start in the subtree. */
  readonly minStart: bigint;
  /** Highest end in the subtree, rounded up to the granule. */
  readonly maxEnd: bigint;
  /** Widest hole between two consecutive ranges inside the subtree (0 if none). */
  readonly maxGap: bigint;
}

function roundUp(x: bigint, granule: bigint): bigint {
  return ((x + granule - 1n) / granule) * granule;
}

function height<V>(n: Node<V> | undefined): number {
  return n === undefined ? 0 : n.height;
}

function make<V>(
  granule: bigint,
  start: bigint,
  end: bigint,
  value: V,
  left: Node<V> | undefined,
  right: Node<V> | undefined,
): Node<V> {
  const ownEnd = roundUp(end, granule);
  let maxGap = 0n;
  if (left !== undefined) {
    const g = start - left.maxEnd;
    maxGap = left.maxGap > g ? left.maxGap : g;
  }
  if (right !== undefined) {
    const g = right.minStart - ownEnd;
    if (g > maxGap) maxGap = g;
    if (right.maxGap > maxGap) maxGap = right.maxGap;
  }
  return {
    start,
    end,
    value,
    left,
    right,
    height: Math.max(height(left), height(right)) + 1,
    minStart: left === undefined ? start : left.minStart,
    maxEnd: right === undefined ? ownEnd : right.maxEnd,
    maxGap: maxGap < 0n ? 0n : maxGap,
  };
}

function rebuild<V>(
  g: bigint,
  n: Node<V>,
  left: Node<V> | undefined,
  right: Node<V> | undefined,
): Node<V> {
  return make(g, n.start, n.end, n.value, left, right);
}

function balance<V>(
  g: bigint,
  n: Node<V>,
  left: Node<V> | undefined,
  right: Node<V> | undefined,
): Node<V> {
  const hl = height(left);
  const hr = height(right);
  if (hl > hr + 1 && left !== undefined) {
    if (height(left.left) >= height(left.right)) {
      return rebuild(g, left, left.left, rebuild(g, n, left.right, right));
    }
    const lr = left.right;
    if (lr === undefined) throw new Error("iova tree: unbalanced without a grandchild");
    return rebuild(g, lr, rebuild(g, left, left.left, lr.left), rebuild(g, n, lr.right, right));
  }
  if (hr > hl + 1 && right !== undefined) {
    if (height(right.right) >= height(right.left)) {
      return rebuild(g, right, rebuild(g, n, left, right.left), right.right);
    }
    const rl = right.left;
    if (rl === undefined) throw new Error("iova tree: unbalanced without a grandchild");
    return rebuild(g, rl, rebuild(g, n, left, rl.left), rebuild(g, right, rl.right, right.right));
  }
  return rebuild(g, n, left, right);
}

function insertAt<V>(
  g: bigint,
  n: Node<V> | undefined,
  start: bigint,
  end: bigint,
  value: V,
): Node<V> {
  if (n === undefined) return make(g, start, end, value, undefined, undefined);
  if (start < n.start) return balance(g, n, insertAt(g, n.left, start, end, value), n.right);
  if (start > n.start) return balance(g, n, n.left, insertAt(g, n.right, start, end, value));
  return make(g, start, end, value, n.left, n.right);
}

function removeMin<V>(g: bigint, n: Node<V>): [Node<V>, Node<V> | undefined] {
  if (n.left === undefined) return [n, n.right];
  const [min, rest] = removeMin(g, n.left);
  return [min, balance(g, n, rest, n.right)];
}

function removeAt<V>(g: bigint, n: Node<V> | undefined, start: bigint): Node<V> | undefined {
  if (n === undefined) return undefined;
  if (start < n.start) {
    const l = removeAt(g, n.left, start);
    return l === n.left ? n : balance(g, n, l, n.right);
  }
  if (start > n.start) {
    const r = removeAt(g, n.right, start);
    return r === n.right ? n : balance(g, n, n.left, r);
  }
  if (n.left === undefined) return n.right;
  if (n.right === undefined) return n.left;
  const [min, rest] = removeMin(g, n.right);
  return balance(g, min, n.left, rest);
}

/** The range with the greatest start at or below `addr`. */
function floor<V>(n: Node<V> | undefined, addr: bigint): Node<V> | undefined {
  let best: Node<V> | undefined;
  let cur = n;
  while (cur !== undefined) {
    if (cur.start <= addr) {
      best = cur;
      cur = cur.right;
    } else cur = cur.left;
  }
  return best;
}

/** The range with the least start at or above `addr`. */
function ceiling<V>(n: Node<V> | undefined, addr: bigint): Node<V> | undefined {
  let best: Node<V> | undefined;
  let cur = n;
  while (cur !== undefined) {
    if (cur.start >= addr) {
      best = cur;
      cur = cur.left;
    } else cur = cur.right;
  }
  return best;
}

/** Result of a first-fit walk over a subtree: a fit, or the candidate after it. */
type Fit = { readonly fit: bigint } | { readonly next: bigint };

function firstFitIn<V>(g: bigint, n: Node<V> | undefined, lo: bigint, size: bigint): Fit {
  if (n === undefined || n.maxEnd <= lo) return { next: lo };
  if (n.minStart >= lo + size) return { fit: lo };
  // No hole inside the subtree fits, and the one before it does not: the
  // candidate moves past the subtree's last range.
  if (n.maxGap < size) return { next: lo > n.maxEnd ? lo : n.maxEnd };
  const l = firstFitIn(g, n.left, lo, size);
  if ("fit" in l) return l;
  let cand = l.next;
  const ownEnd = roundUp(n.end, g);
  if (ownEnd > cand) {
    if (n.start >= cand + size) return { fit: cand };
    cand = ownEnd;
  }
  return firstFitIn(g, n.right, cand, size);
}

/** One range as the tree hands it out. */
export interface IovaRangeEntry<V> {
  /** First address. */
  readonly start: bigint;
  /** One past the last address. */
  readonly end: bigint;
  /** What the range maps to (for a domain: the mapping's slot). */
  readonly value: V;
}

function entryOf<V>(n: Node<V>): IovaRangeEntry<V> {
  return { start: n.start, end: n.end, value: n.value };
}

/**
 * Non-overlapping ranges ordered by start, with the holes between them
 * searchable (see the file comment). Model machinery for `iova_domain`.
 */
export class IovaTree<V> {
  private constructor(
    /** Allocation granule: a range's end rounds up to it when holes are measured. */
    readonly granule: bigint,
    private readonly root: Node<V> | undefined,
    /** Number of ranges. */
    readonly size: number,
  ) {}

  /**
   * An empty tree.
   *
   * @param granule - the allocation granule (one IOVA page for the DMA-API allocator).
   * @returns the empty tree.
   */
  static empty<V>(granule: bigint): IovaTree<V> {
    return new IovaTree<V>(granule, undefined, 0);
  }

  /**
   * The range that starts exactly at `start`.
   *
   * @param start - the first address.
   * @returns the range, or undefined.
   */
  at(start: bigint): IovaRangeEntry<V> | undefined {
    const n = floor(this.root, start);
    return n !== undefined && n.start === start ? entryOf(n) : undefined;
  }

  /**
   * The range that holds every byte of `[addr, addr + len)`.
   *
   * @param addr - the first address.
   * @param len - bytes (at least 1).
   * @returns the range, or undefined when no single range covers them all.
   */
  covering(addr: bigint, len: bigint): IovaRangeEntry<V> | undefined {
    const n = floor(this.root, addr);
    return n !== undefined && addr + len <= n.end ? entryOf(n) : undefined;
  }

  /**
   * A range that shares a byte with `[start, start + len)`.
   *
   * @param start - the first address.
   * @param len - bytes (at least 1).
   * @returns one such range, or undefined.
   */
  overlapping(start: bigint, len: bigint): IovaRangeEntry<V> | undefined {
    const below = floor(this.root, start);
    if (below !== undefined && below.end > start) return entryOf(below);
    const above = ceiling(this.root, start);
    return above !== undefined && above.start < start + len ? entryOf(above) : undefined;
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
    const replaced = this.at(start) !== undefined;
    return new IovaTree(
      this.granule,
      insertAt(this.granule, this.root, start, start + len, value),
      replaced ? this.size : this.size + 1,
    );
  }

  /**
   * Removes the range that starts at `start`, if any.
   *
   * @param start - its first address.
   * @returns the new tree (this one when nothing starts there).
   */
  remove(start: bigint): IovaTree<V> {
    if (this.at(start) === undefined) return this;
    return new IovaTree(this.granule, removeAt(this.granule, this.root, start), this.size - 1);
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
    const r = firstFitIn(this.granule, this.root, base, size);
    return "fit" in r ? r.fit : r.next;
  }

  /**
   * Every range in address order.
   *
   * @yields each range.
   */
  *entries(): Generator<IovaRangeEntry<V>> {
    const stack: Node<V>[] = [];
    let cur = this.root;
    while (cur !== undefined || stack.length > 0) {
      while (cur !== undefined) {
        stack.push(cur);
        cur = cur.left;
      }
      const n = stack.pop();
      if (n === undefined) break;
      yield entryOf(n);
      cur = n.right;
    }
  }
}
