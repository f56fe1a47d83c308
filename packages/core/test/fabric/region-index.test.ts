/**
 * The region address tree answers what a scan of the regions would: which
 * ranges hold an address range (the stabbing query behind
 * `regionContaining` and peer-window routing) and the first fit among a
 * parent's sub-regions (how the reference exporter places a buffer), for
 * nested and overlapping ranges, with enough of them that the tree is
 * several levels deep.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BTree } from "../../src/encoding/btree.js";
import {
  firstFitAmong,
  rangesFrom,
  rangesHolding,
  regionIndexer,
} from "../../src/fabric/region-index.js";
import type { RangeTree } from "../../src/fabric/region-index.js";

interface Range {
  readonly id: number;
  readonly start: bigint;
  readonly end: bigint;
}

/**
 * The tree of a set of ranges, built through the region index's own (empty)
 * tree, or with its spec at another node width (narrow nodes make the
 * queries cross more levels for the same ranges).
 */
function treeOf(ranges: readonly Range[], removed: readonly Range[], width?: number): RangeTree {
  const own = regionIndexer.empty.owned;
  let t: RangeTree = width === undefined ? own : BTree.empty({ ...own["spec"], width });
  for (const r of [...ranges, ...removed]) t = t.set({ start: r.start, id: r.id }, r.end);
  for (const r of removed) t = t.delete({ start: r.start, id: r.id });
  return t;
}

/** First fit by a scan in start order: the rule, written the slow way. */
function scanFit(
  ranges: readonly Range[],
  from: bigint,
  skip: number,
  lo: bigint,
  size: bigint,
): bigint {
  const sorted = [...ranges]
    .filter((r) => r.id !== skip && r.start >= from)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.id - b.id));
  let at = lo;
  for (const r of sorted) {
    if (r.end <= at) continue;
    if (r.start >= at + size) break;
    at = r.end;
  }
  return at;
}

const rangeArb = fc
  .tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 60 }))
  .map(([s, len]) => ({ start: BigInt(s), len: BigInt(len) }));

/** Ranges, some removed again, and probes (an address and a length, 0 included: an empty range may be held by one ending exactly at it). */
function setupOf(minRanges: number, maxRanges: number, maxProbes: number) {
  return fc.record({
    ranges: fc.array(rangeArb, { minLength: minRanges, maxLength: maxRanges }),
    removed: fc.array(rangeArb, { maxLength: 40 }),
    probes: fc.array(fc.tuple(fc.integer({ min: 0, max: 2100 }), fc.integer({ min: 0, max: 40 })), {
      minLength: 1,
      maxLength: maxProbes,
    }),
  });
}

const setup = setupOf(1, 300, 6);
/** Enough ranges for two levels at the region tree's width, four in nodes of 8. */
const deepSetup = setupOf(1100, 1300, 12);

function build(s: {
  ranges: { start: bigint; len: bigint }[];
  removed: { start: bigint; len: bigint }[];
}): { ranges: Range[]; removed: Range[] } {
  const ranges = s.ranges.map((r, i) => ({ id: i + 1, start: r.start, end: r.start + r.len }));
  const removed = s.removed.map((r, i) => ({
    id: 10_000 + i,
    start: r.start,
    end: r.start + r.len,
  }));
  return { ranges, removed };
}

describe("the region address tree", () => {
  it.each([
    ["up to 300 ranges", setup, 120, undefined],
    ["up to 300 ranges in nodes of 8", setup, 60, 8],
    ["1,100 to 1,300 ranges (two levels)", deepSetup, 15, undefined],
    ["1,100 to 1,300 ranges in nodes of 8 (four levels)", deepSetup, 10, 8],
  ] as const)(
    "rangesHolding visits exactly the ranges with start <= from and to <= end, nested and overlapping ones included (%s)",
    (_size, arb, numRuns, width) => {
      fc.assert(
        fc.property(arb, (s) => {
          const { ranges, removed } = build(s);
          const tree = treeOf(ranges, removed, width);
          expect(tree.size).toBe(ranges.length);
          for (const [p, len] of s.probes) {
            const from = BigInt(p);
            const to = from + BigInt(len);
            const seen: number[] = [];
            rangesHolding(tree, from, to, (id, start, end) => {
              const r = ranges.find((x) => x.id === id);
              expect(r).toEqual({ id, start, end });
              seen.push(id);
            });
            const want = ranges.filter((r) => r.start <= from && to <= r.end).map((r) => r.id);
            expect(seen.sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
          }
        }),
        { numRuns },
      );
    },
  );

  it("ranges around thousands of side-by-side ranges (RAM around its buffers, a BAR around its windows) are found from any address inside, at two levels and, in nodes of 16, three", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1500, max: 2500 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        (buffers, outer, probes) => {
          // Side-by-side buffers of 16 bytes from 1000 on, and a few ranges around spans of them.
          const ranges: Range[] = Array.from({ length: buffers }, (_, i) => ({
            id: i + 1,
            start: 1000n + BigInt(i) * 16n,
            end: 1000n + BigInt(i + 1) * 16n,
          }));
          outer.forEach(([a, b], k) => {
            const lo = Math.min(a % buffers, b % buffers);
            const hi = Math.max(a % buffers, b % buffers) + 1;
            ranges.push({
              id: 100_000 + k,
              start: 1000n + BigInt(lo) * 16n - BigInt(k),
              end: 1000n + BigInt(hi) * 16n + BigInt(k),
            });
          });
          for (const tree of [treeOf(ranges, []), treeOf(ranges, [], 16)]) {
            for (const p of probes) {
              const from = 1000n + BigInt(p % (buffers * 16));
              const to = from + 1n;
              const seen: number[] = [];
              rangesHolding(tree, from, to, (id) => seen.push(id));
              const want = ranges.filter((r) => r.start <= from && to <= r.end).map((r) => r.id);
              expect(seen.sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it("firstFitAmong finds the lowest hole that fits among the ranges starting at or above the parent's base, the parent left out", () => {
    fc.assert(
      fc.property(
        setup,
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 80 }),
        (s, base, size) => {
          const built = build(s);
          // The parent (RAM, VRAM) starts at `from` and holds the sub-regions
          // after it; ranges starting below it do not count.
          const parent: Range = { id: 99_999, start: BigInt(base), end: BigInt(base) + 3000n };
          const ranges = [...built.ranges, parent];
          const tree = treeOf(ranges, built.removed);
          for (const [p] of s.probes) {
            const lo = BigInt(Math.max(p, base));
            expect(firstFitAmong(tree, parent.start, parent.id, lo, BigInt(size))).toBe(
              scanFit(ranges, parent.start, parent.id, lo, BigInt(size)),
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rangesFrom lists the ranges starting at or above an address, in (start, id) order", () => {
    fc.assert(
      fc.property(setup, (s) => {
        const { ranges, removed } = build(s);
        const tree = treeOf(ranges, removed);
        for (const [p] of s.probes) {
          const from = BigInt(p);
          const want = ranges
            .filter((r) => r.start >= from)
            .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.id - b.id));
          expect([...rangesFrom(tree, from)]).toEqual(want);
        }
      }),
      { numRuns: 80 },
    );
  });

  it("an empty tree holds nothing and fits anything at the lowest candidate", () => {
    const empty: RangeTree = regionIndexer.empty.owned;
    expect(empty).toBeInstanceOf(BTree);
    let visited = 0;
    rangesHolding(empty, 0n, 1n, () => visited++);
    expect(visited).toBe(0);
    expect(firstFitAmong(empty, 0n, 1, 0x1000n, 0x1000n)).toBe(0x1000n);
  });
});
