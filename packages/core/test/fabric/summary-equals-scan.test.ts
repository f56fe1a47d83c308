/**
 * The rule behind incremental node summaries: however a B+tree's summary
 * was reached (the spec's `innerReplaced` from the changed child and its
 * neighbours, a summary reused because a child's did not change, or the
 * full scan), every node's summary equals what the full scan of its
 * children (or entries) gives. Checked for the IOVA tree and the region
 * address tree after random inserts and removes, with enough ranges that
 * the trees are three levels deep, and the root against a scan of the
 * ranges themselves.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { BTree, BTreeNode, BTreeSpec } from "../../src/encoding/btree.js";
import { IovaTree } from "../../src/fabric/iova-tree.js";
import { regionIndexer } from "../../src/fabric/region-index.js";
import type { RangeTree } from "../../src/fabric/region-index.js";

const PAGE = 0x1000n;

/** Every node's summary equals the spec's full scan of it; returns the depth. */
function checkSummaries<K, V, A>(spec: BTreeSpec<K, V, A>, n: BTreeNode<K, V, A>): number {
  if (n.children === undefined) {
    expect(n.aug).toEqual(spec.leaf(n.keys, n.values));
    return 1;
  }
  let depth = 0;
  for (const c of n.children) depth = checkSummaries(spec, c);
  expect(n.aug).toEqual(spec.inner(n.children));
  return depth + 1;
}

/** The B+tree behind an IOVA tree, and its spec (private fields, read for the check). */
function btreeOf<V>(t: IovaTree<V>): BTree<bigint, unknown, unknown> {
  return t["tree"];
}
function specOf<K, V, A>(t: BTree<K, V, A>): BTreeSpec<K, V, A> {
  return t["spec"];
}

/** One change: add a range in a slot (or replace the one starting there), or remove the slot's range. */
const change = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      slot: fc.integer({ min: 0, max: 2047 }),
      offset: fc.integer({ min: 0, max: 31 }),
      pages: fc.integer({ min: 1, max: 32 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("remove" as const),
      slot: fc.integer({ min: 0, max: 2047 }),
    }),
  },
);

/** Slot `s` spans pages [64s, 64s + 64): ranges in different slots never overlap. */
const SLOT = 64n * PAGE;

describe("every node's summary equals the full-scan summary", () => {
  it("in the IOVA tree, after random inserts and removes", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            slot: fc.integer({ min: 0, max: 2047 }),
            offset: fc.integer({ min: 0, max: 31 }),
            pages: fc.integer({ min: 1, max: 32 }),
          }),
          { minLength: 1100, maxLength: 1400 },
        ),
        fc.array(change, { maxLength: 800 }),
        (fill, changes) => {
          // slot -> [start, end) of its range
          const model = new Map<number, [bigint, bigint]>();
          let t = IovaTree.empty<number>(PAGE);
          const apply = (c: (typeof changes)[number]): void => {
            const old = model.get(c.slot);
            if (c.kind === "remove") {
              if (old !== undefined) t = t.remove(old[0]);
              model.delete(c.slot);
              return;
            }
            const start = BigInt(c.slot) * SLOT + BigInt(c.offset) * PAGE;
            // Half-page ends, so that the granule rounding is exercised too.
            const len = BigInt(c.pages) * PAGE - (c.slot % 2 === 0 ? 0n : PAGE / 2n);
            if (old !== undefined && old[0] !== start) t = t.remove(old[0]);
            t = t.insert(start, len, c.slot);
            model.set(c.slot, [start, start + len]);
          };
          for (const f of fill) apply({ kind: "insert", ...f });
          const spec = specOf(btreeOf(t));
          for (const c of changes) {
            apply(c);
            const after = btreeOf(t).root;
            if (after !== undefined) checkSummaries(spec, after);
          }
          expect(t.size).toBe(model.size);
          const root = btreeOf(t).root;
          if (root === undefined) return;
          expect(checkSummaries(spec, root)).toBeGreaterThanOrEqual(2);
          // The root against the ranges themselves: widest hole between neighbours.
          const sorted = [...model.values()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
          const gaps: bigint[] = [];
          for (let i = 1; i < sorted.length; i++) {
            const prevTop = (((sorted[i - 1] as [bigint, bigint])[1] + PAGE - 1n) / PAGE) * PAGE;
            const g = (sorted[i] as [bigint, bigint])[0] - prevTop;
            if (g > 0n) gaps.push(g);
          }
          const maxGap = gaps.reduce((a, b) => (b > a ? b : a), 0n);
          // How many holes are that wide: counted from the ranges, not by the tree's code.
          const widest = maxGap === 0n ? 0 : gaps.filter((g) => g === maxGap).length;
          // (Which positions may hold a hole, `holes`, is checked by the full scan above.)
          expect(root.aug).toMatchObject({
            minStart: (sorted[0] as [bigint, bigint])[0],
            maxEnd:
              (((sorted[sorted.length - 1] as [bigint, bigint])[1] + PAGE - 1n) / PAGE) * PAGE,
            maxGap,
            widest,
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it("in the IOVA tree, when the node's widest hole leaves it or narrows", () => {
    // 40 touching pages, a hole of 100 pages, one more page: two leaves
    // under the root, the hole inside the second (the root's widest).
    let t = IovaTree.empty<number>(PAGE);
    for (let i = 0; i < 40; i++) t = t.insert(BigInt(i) * PAGE, PAGE, i);
    t = t.insert(140n * PAGE, PAGE, 140);
    const spec = specOf(btreeOf(t));
    const check = (u: IovaTree<number>): void => {
      const root = btreeOf(u).root;
      if (root !== undefined) expect(checkSummaries(spec, root)).toBe(2);
    };
    check(t);
    // The last range goes: the hole is no longer inside the tree.
    check(t.remove(140n * PAGE));
    // A range inside the hole: the widest hole narrows, the child's start and end stay.
    check(t.insert(90n * PAGE, PAGE, 90));
    // The hole's first range goes: the hole moves and widens.
    check(t.remove(39n * PAGE));
    // The first leaf's last range grows into the hole (a replace): the hole beside it narrows.
    check(t.insert(15n * PAGE, 60n * PAGE, 15));
  });

  it("in the IOVA tree whose holes are all one page wide: first fit fills the lowest, and the count of widest holes keeps every summary right", () => {
    // One size of allocation (pages) leaves many holes of one width: each
    // fill takes one of them away, each unmap opens one, and a node's
    // widest hole stays a page while any is left below it.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 1999 })), {
          minLength: 50,
          maxLength: 400,
        }),
        (moves) => {
          let t = IovaTree.empty<number>(PAGE);
          const mapped = new Set<bigint>();
          for (let i = 0; i < 2000; i++) {
            t = t.insert(BigInt(i) * PAGE, PAGE, i);
            mapped.add(BigInt(i) * PAGE);
          }
          // Every other page unmapped: 1000 holes of one page.
          for (let i = 0; i < 2000; i += 2) {
            t = t.remove(BigInt(i) * PAGE);
            mapped.delete(BigInt(i) * PAGE);
          }
          const spec = specOf(btreeOf(t));
          for (const [fill, page] of moves) {
            if (fill) {
              const at = t.firstFit(0n, PAGE);
              let lowest = 0n;
              while (mapped.has(lowest)) lowest += PAGE;
              expect(at).toBe(lowest);
              t = t.insert(at, PAGE, 0);
              mapped.add(at);
            } else {
              const addr = BigInt(page) * PAGE;
              if (!mapped.has(addr)) continue;
              t = t.remove(addr);
              mapped.delete(addr);
            }
            const root = btreeOf(t).root;
            if (root !== undefined) checkSummaries(spec, root);
          }
          // The root's widest hole and how many are that wide, from the
          // pages themselves (an unmap beside two holes joins them into one).
          const pages = [...mapped].sort((a, b) => (a < b ? -1 : 1));
          const gaps: bigint[] = [];
          for (let k = 1; k < pages.length; k++) {
            const g = (pages[k] as bigint) - (pages[k - 1] as bigint) - PAGE;
            if (g > 0n) gaps.push(g);
          }
          const maxGap = gaps.reduce((a, b) => (b > a ? b : a), 0n);
          const root = btreeOf(t).root;
          if (root !== undefined) {
            expect(root.aug).toMatchObject({
              maxGap,
              widest: maxGap === 0n ? 0 : gaps.filter((g) => g === maxGap).length,
            });
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it("in the region address tree (nested and overlapping ranges), after random sets and deletes", () => {
    const range = fc.record({
      id: fc.integer({ min: 0, max: 3000 }),
      page: fc.integer({ min: 0, max: 4095 }),
      pages: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 1, max: 3 }) },
        { weight: 1, arbitrary: fc.integer({ min: 4, max: 64 }) },
      ),
    });
    fc.assert(
      fc.property(
        fc.array(range, { minLength: 1100, maxLength: 1400 }),
        fc.array(fc.tuple(fc.boolean(), range), { maxLength: 800 }),
        (fill, changes) => {
          // id -> the range it holds
          const model = new Map<number, { start: bigint; end: bigint }>();
          let t: RangeTree = regionIndexer.empty.owned;
          const spec = specOf(t);
          const set = (r: (typeof fill)[number]): void => {
            const old = model.get(r.id);
            if (old !== undefined) t = t.delete({ start: old.start, id: r.id });
            const start = BigInt(r.page) * PAGE;
            const end = start + BigInt(r.pages) * PAGE;
            t = t.set({ start, id: r.id }, end);
            model.set(r.id, { start, end });
          };
          for (const r of fill) set(r);
          for (const [remove, r] of changes) {
            const old = model.get(r.id);
            if (remove) {
              if (old !== undefined) t = t.delete({ start: old.start, id: r.id });
              model.delete(r.id);
            } else set(r);
            if (t.root !== undefined) checkSummaries(spec, t.root);
          }
          expect(t.size).toBe(model.size);
          if (t.root === undefined) return;
          expect(checkSummaries(spec, t.root)).toBeGreaterThanOrEqual(2);
          // The root against the ranges: their lowest start and furthest end,
          // and at least the widest hole in their union (a child's holes are
          // measured within the child, so the summary is an upper bound).
          const sorted = [...model.values()].sort((a, b) => (a.start < b.start ? -1 : 1));
          let covered = (sorted[0] as { end: bigint }).end;
          let maxGap = 0n;
          for (const r of sorted) {
            if (r.start > covered && r.start - covered > maxGap) maxGap = r.start - covered;
            if (r.end > covered) covered = r.end;
          }
          expect(t.root.aug.minStart).toBe((sorted[0] as { start: bigint }).start);
          expect(t.root.aug.maxEnd).toBe(covered);
          expect(t.root.aug.maxGap >= maxGap).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });
});
