/**
 * The IOVA tree (the model's `iova_domain` rbtree) must answer exactly what
 * a scan of the ranges would: covering, overlap, the range at a start, and
 * the DMA-API allocator's first fit over the holes.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IovaTree } from "../../src/fabric/iova-tree.js";

const PAGE = 0x1000n;

interface Range {
  start: bigint;
  end: bigint;
  value: number;
}

function roundUp(x: bigint): bigint {
  return ((x + PAGE - 1n) / PAGE) * PAGE;
}

/** First fit by a sorted scan: the allocator's rule, written the slow way. */
function scanFirstFit(ranges: readonly Range[], base: bigint, size: bigint): bigint {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1));
  let at = base;
  for (const r of sorted) {
    const end = roundUp(r.end);
    if (end <= at) continue;
    if (r.start >= at + size) break;
    at = end;
  }
  return at;
}

const command = fc.oneof(
  fc.record({
    kind: fc.constant("insert" as const),
    page: fc.integer({ min: 0, max: 63 }),
    offset: fc.integer({ min: 0, max: 0xfff }),
    len: fc.integer({ min: 1, max: 0x5000 }),
  }),
  fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
);

describe("IovaTree", () => {
  it("answers covering, overlap, at and first fit like a scan of its ranges, after any inserts and removes", () => {
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 60 }),
        fc.array(
          fc.tuple(fc.bigInt({ min: 0n, max: 0x48000n }), fc.bigInt({ min: 1n, max: 0x3000n })),
          {
            minLength: 1,
            maxLength: 10,
          },
        ),
        (cmds, probes) => {
          let tree = IovaTree.empty<number>(PAGE);
          let ranges: Range[] = [];
          let next = 0;
          for (const c of cmds) {
            if (c.kind === "insert") {
              const start = BigInt(c.page) * PAGE + BigInt(c.offset);
              const end = start + BigInt(c.len);
              if (ranges.some((r) => r.start < end && start < r.end)) {
                expect(tree.overlapping(start, end - start)).toBeDefined();
                continue;
              }
              expect(tree.overlapping(start, end - start)).toBeUndefined();
              tree = tree.insert(start, end - start, next);
              ranges.push({ start, end, value: next++ });
            } else if (ranges.length > 0) {
              const victim = ranges[c.pick % ranges.length];
              if (victim === undefined) continue;
              tree = tree.remove(victim.start);
              ranges = ranges.filter((r) => r !== victim);
            }
            expect(tree.size).toBe(ranges.length);
          }
          const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1));
          expect([...tree.entries()]).toEqual(sorted);
          for (const [addr, len] of probes) {
            const cover = ranges.find((r) => r.start <= addr && addr + len <= r.end);
            expect(tree.covering(addr, len)?.value).toBe(cover?.value);
            const exact = ranges.find((r) => r.start === addr);
            expect(tree.at(addr)?.value).toBe(exact?.value);
            const size = roundUp(len);
            expect(tree.firstFit(0n, size)).toBe(scanFirstFit(ranges, 0n, size));
            expect(tree.firstFit(roundUp(addr), size)).toBe(
              scanFirstFit(ranges, roundUp(addr), size),
            );
          }
        },
      ),
    );
  });

  it("with hundreds of ranges (a tree several nodes deep), first fit, covering and overlap still agree with a scan", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 1, max: 3 })), {
          minLength: 100,
          maxLength: 800,
        }),
        fc.array(fc.nat(), { maxLength: 300 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3100 }), fc.integer({ min: 1, max: 4 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (inserts, removes, probes) => {
          let tree = IovaTree.empty<number>(PAGE);
          let ranges: Range[] = [];
          inserts.forEach(([page, pages], i) => {
            const start = BigInt(page) * PAGE;
            const end = start + BigInt(pages) * PAGE - 1n;
            if (ranges.some((r) => r.start < end && start < r.end)) return;
            tree = tree.insert(start, end - start, i);
            ranges.push({ start, end, value: i });
          });
          for (const pick of removes) {
            const victim = ranges[pick % Math.max(1, ranges.length)];
            if (victim === undefined) break;
            tree = tree.remove(victim.start);
            ranges = ranges.filter((r) => r !== victim);
          }
          expect(tree.size).toBe(ranges.length);
          for (const [page, pages] of probes) {
            const addr = BigInt(page) * PAGE + 5n;
            const len = BigInt(pages) * PAGE;
            const size = roundUp(len);
            expect(tree.firstFit(0n, size)).toBe(scanFirstFit(ranges, 0n, size));
            expect(tree.firstFit(roundUp(addr), size)).toBe(
              scanFirstFit(ranges, roundUp(addr), size),
            );
            const cover = ranges.find((r) => r.start <= addr && addr + 8n <= r.end);
            expect(tree.covering(addr, 8n)?.value).toBe(cover?.value);
            const hits = ranges
              .filter((r) => r.start < addr + len && addr < r.end)
              .sort((x, y) => (x.start < y.start ? -1 : 1))
              .map((r) => r.value);
            expect([...tree.overlappingAll(addr, len)].map((e) => e.value)).toEqual(hits);
            expect(tree.overlapping(addr, len) !== undefined).toBe(hits.length > 0);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it("stays balanced: 10,000 ranges inserted in address order are found in few steps", () => {
    let tree = IovaTree.empty<number>(PAGE);
    for (let i = 0; i < 10_000; i++) tree = tree.insert(BigInt(i) * PAGE, PAGE, i);
    expect(tree.size).toBe(10_000);
    expect(tree.covering(5_000n * PAGE + 7n, 8n)?.value).toBe(5_000);
    expect(tree.firstFit(0n, PAGE)).toBe(10_000n * PAGE);
    tree = tree.remove(1_234n * PAGE);
    expect(tree.firstFit(0n, PAGE)).toBe(1_234n * PAGE);
    expect(tree.firstFit(0n, 2n * PAGE)).toBe(10_000n * PAGE);
  });
});
