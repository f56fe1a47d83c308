/**
 * The persistent B+tree behind the IOVA, region and group indexes must act
 * as a sorted map whatever the order of inserts and deletes (model: a
 * sorted array), keep every older version intact, share what a change did
 * not touch, and keep its node summaries equal to the summary of the
 * entries below them.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BTREE_WIDTH, BTree, searchOrdered } from "../../src/encoding/btree.js";
import type { BTreeNode, BTreeSpec } from "../../src/encoding/btree.js";

/** Summary under test: entry count, least and greatest key, sum of values. */
interface Sum {
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly total: number;
}

const spec: BTreeSpec<number, number, Sum> = {
  compare: (a, b) => a - b,
  leaf(keys, values) {
    let total = 0;
    for (const v of values) total += v;
    return { count: keys.length, min: keys[0] ?? 0, max: keys[keys.length - 1] ?? 0, total };
  },
  inner(children) {
    let count = 0;
    let total = 0;
    for (const c of children) {
      count += c.aug.count;
      total += c.aug.total;
    }
    const first = children[0];
    const last = children[children.length - 1];
    return { count, min: first?.aug.min ?? 0, max: last?.aug.max ?? 0, total };
  },
};

/** The same order through the spec's own `search`, as the IOVA tree gives one. */
const searchSpec: BTreeSpec<number, number, Sum> = { ...spec, search: searchOrdered };

/** Nodes of at most 5 (splits and merges every few changes, trees several levels deep). */
const narrowSpec: BTreeSpec<number, number, Sum> = { ...spec, width: 5 };

/** Full scans of a leaf by {@link incrementalSpec} (its `leaf`). */
let leafScans = 0;

/**
 * The same summary with `leafChanged`: worked out from the leaf before and
 * the one entry added, removed or given a new value, as the IOVA tree's is.
 */
const incrementalSpec: BTreeSpec<number, number, Sum> = {
  ...spec,
  leaf(keys, values) {
    leafScans++;
    return spec.leaf(keys, values);
  },
  leafChanged(before, keys, values, at, change) {
    const old = before.aug;
    const was = change === "added" ? 0 : (before.values[at] as number);
    const now = change === "removed" ? 0 : (values[at] as number);
    return {
      count: keys.length,
      min: keys[0] as number,
      max: keys[keys.length - 1] as number,
      total: old.total - was + now,
    };
  },
};

type Tree = BTree<number, number, Sum>;
type Node = BTreeNode<number, number, Sum>;

/** Checks a node's shape and summary; returns its depth (leaves are 1). */
function checkNode(n: Node, isRoot: boolean, width = BTREE_WIDTH): number {
  expect(n.keys.length).toBeGreaterThan(0);
  expect(n.keys.length).toBeLessThanOrEqual(width);
  for (let i = 1; i < n.keys.length; i++)
    expect(n.keys[i] as number).toBeGreaterThan(n.keys[i - 1] as number);
  if (n.children === undefined) {
    expect(n.values.length).toBe(n.keys.length);
    expect(n.aug).toEqual(spec.leaf(n.keys, n.values));
    return 1;
  }
  if (isRoot) expect(n.children.length).toBeGreaterThan(1);
  expect(n.children.length).toBe(n.keys.length);
  const depths = n.children.map((c, i) => {
    // Each routing key is its child's least key.
    expect(c.keys[0]).toBe(n.keys[i]);
    return checkNode(c, false, width);
  });
  expect(new Set(depths).size).toBe(1);
  expect(n.aug).toEqual(spec.inner(n.children));
  return (depths[0] ?? 0) + 1;
}

/** A tree's leaves, in key order. */
function leavesOf(t: Tree): Node[] {
  const out: Node[] = [];
  const walk = (n: Node): void => {
    if (n.children === undefined) out.push(n);
    else n.children.forEach(walk);
  };
  if (t.root !== undefined) walk(t.root);
  return out;
}

function entriesOf(t: Tree): [number, number][] {
  return [...t.entries()].map((e) => [e.key, e.value]);
}

/**
 * One set or delete, on the tree and on the sorted-pairs model. A delete
 * goes through `take`, which must hand back the value the model held.
 */
function apply(
  t: Tree,
  m: [number, number][],
  o: { kind: "set"; key: number; value: number } | { kind: "delete"; key: number },
): [Tree, [number, number][]] {
  if (o.kind === "set") return [t.set(o.key, o.value), modelSet(m, o.key, o.value)];
  const taken = t.take(o.key);
  expect(taken?.value).toBe(m.find(([x]) => x === o.key)?.[1]);
  return [taken?.tree ?? t, m.filter(([x]) => x !== o.key)];
}

function modelSet(m: [number, number][], k: number, v: number): [number, number][] {
  return [...m.filter(([x]) => x !== k), [k, v] as [number, number]].sort((a, b) => a[0] - b[0]);
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant("set" as const),
    key: fc.integer({ min: 0, max: 400 }),
    value: fc.integer({ min: 0, max: 9 }),
  }),
  fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 400 }) }),
);

describe("BTree acts as a sorted map", () => {
  it.each([
    ["compare", spec],
    ["its own search", searchSpec],
    ["compare, leaf summaries from what changed", incrementalSpec],
    ["compare, in nodes of at most 5", narrowSpec],
  ] as const)(
    "after any inserts and deletes, get, size, entries, floor, ceiling, neighbours and entriesFrom agree with a sorted array (keys ordered by %s)",
    (_how, treeSpec) => {
      fc.assert(
        fc.property(
          fc.array(op, { maxLength: 600 }),
          fc.array(fc.integer({ min: -1, max: 401 }), { minLength: 1, maxLength: 8 }),
          (ops, probes) => {
            let t: Tree = BTree.empty(treeSpec);
            let m: [number, number][] = [];
            for (const o of ops) {
              [t, m] = apply(t, m, o);
            }
            expect(t.size).toBe(m.length);
            expect(entriesOf(t)).toEqual(m);
            if (t.root !== undefined) checkNode(t.root, true, treeSpec.width);
            else expect(m).toEqual([]);
            for (const p of probes) {
              expect(t.get(p)).toBe(m.find(([x]) => x === p)?.[1]);
              const below = m.filter(([x]) => x <= p);
              const fl = below[below.length - 1];
              expect(t.floor(p)).toEqual(
                fl === undefined ? undefined : { key: fl[0], value: fl[1] },
              );
              const after = m.find(([x]) => x > p);
              expect(t.neighbours(p)).toEqual({
                below: fl === undefined ? undefined : { key: fl[0], value: fl[1] },
                above: after === undefined ? undefined : { key: after[0], value: after[1] },
              });
              const above = m.filter(([x]) => x >= p);
              const ce = above[0];
              expect(t.ceiling(p)).toEqual(
                ce === undefined ? undefined : { key: ce[0], value: ce[1] },
              );
              expect([...t.entriesFrom(p)].map((e) => [e.key, e.value])).toEqual(above);
              const visited: [number, number][] = [];
              t.forEachFrom(p, (k, v) => {
                visited.push([k, v]);
                return visited.length < 3;
              });
              expect(visited).toEqual(above.slice(0, 3));
            }
          },
        ),
        { numRuns: 150 },
      );
    },
  );

  it("keeps older versions intact: every tree a sequence went through still lists what it held", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        let t: Tree = BTree.empty(spec);
        let m: [number, number][] = [];
        const history: [Tree, [number, number][]][] = [];
        for (const o of ops) {
          [t, m] = apply(t, m, o);
          history.push([t, m]);
        }
        for (const [tree, model] of history) expect(entriesOf(tree)).toEqual(model);
      }),
      { numRuns: 60 },
    );
  });

  it("grows no deeper than a balanced tree of its size, and shrinks back as entries leave", () => {
    let t: Tree = BTree.empty(spec);
    for (let k = 0; k < 10_000; k++) t = t.set((k * 7919) % 10_007, k);
    const root = t.root;
    if (root === undefined) throw new Error("empty tree");
    // 10,000 entries, nodes at least half full after splits: at most 4 levels.
    expect(checkNode(root, true)).toBeLessThanOrEqual(4);
    for (let k = 0; k < 10_007; k++) if (k % 100 !== 0) t = t.delete(k);
    expect(t.size).toBe(101);
    const small = t.root;
    if (small === undefined) throw new Error("empty tree");
    expect(checkNode(small, true)).toBeLessThanOrEqual(2);
    expect(entriesOf(t).map(([k]) => k)).toEqual(Array.from({ length: 101 }, (_, i) => i * 100));
  });

  it("keys that arrive in increasing or decreasing order leave nodes three-quarters full: 10,000 of them make 3 levels, not 4", () => {
    // First-fit regions and lowest-first IOVAs arrive in order; halves
    // would leave every node behind them half full, full ones would split
    // at the first range added between two of theirs.
    const kept = (BTREE_WIDTH * 3) / 4;
    let up: Tree = BTree.empty(spec);
    let down: Tree = BTree.empty(searchSpec);
    for (let k = 0; k < 10_000; k++) {
      up = up.set(k * 4, k);
      down = down.set((10_000 - k) * 4, k);
    }
    for (const [t, growing] of [
      [up, "last"],
      [down, "first"],
    ] as const) {
      const root = t.root;
      if (root === undefined) throw new Error("empty tree");
      expect(checkNode(root, true)).toBe(3);
      // Every leaf holds three quarters of the width but the one at the growing end.
      const sizes = leavesOf(t).map((l) => l.keys.length);
      const settled = growing === "last" ? sizes.slice(0, -1) : sizes.slice(1);
      expect(new Set(settled)).toEqual(new Set([kept]));
    }
    expect(entriesOf(up).map(([k]) => k)).toEqual(Array.from({ length: 10_000 }, (_, i) => i * 4));
    // A spec's own width: 128 keeps 10,000 ordered keys in two levels.
    let wide: Tree = BTree.empty({ ...spec, width: 128 });
    for (let k = 0; k < 10_000; k++) wide = wide.set(k, k);
    const wideRoot = wide.root;
    if (wideRoot === undefined) throw new Error("empty tree");
    expect(checkNode(wideRoot, true, 128)).toBe(2);
    // Keys added between those of a settled leaf fill it without a split,
    // then split it in halves once it overflows.
    const before = leavesOf(up).length;
    let mid = up;
    for (let j = 0; j < BTREE_WIDTH - kept; j++) mid = mid.set(4 * j + 1, -1);
    expect(leavesOf(mid).length).toBe(before);
    mid = mid.set(4 * (BTREE_WIDTH - kept) + 1, -1);
    const after = leavesOf(mid);
    expect(after.length).toBe(before + 1);
    expect(after.slice(0, 2).map((l) => l.keys.length)).toEqual([
      (BTREE_WIDTH + 1) >>> 1,
      BTREE_WIDTH + 1 - ((BTREE_WIDTH + 1) >>> 1),
    ]);
    expect(mid.get(1)).toBe(-1);
  });
});

describe("BTree summarises a changed leaf from what changed when the spec can", () => {
  it("a set or delete that splits and merges nothing never scans the leaf (leafChanged), and every summary still equals the scan", () => {
    let t: Tree = BTree.empty(incrementalSpec);
    for (let k = 0; k < 2000; k++) t = t.set(k * 3, k);
    // Replace values, add between keys of leaves with room, and delete
    // where no leaf falls below the merge threshold.
    leafScans = 0;
    for (let k = 0; k < 2000; k += 7) t = t.set(k * 3, -k);
    for (let k = 0; k < 2000; k += 97) t = t.set(k * 3 + 1, 1);
    for (let k = 0; k < 2000; k += 101) t = t.delete(k * 3 + 3);
    const root = t.root;
    if (root === undefined) throw new Error("empty tree");
    checkNode(root, true);
    // Only leaves that split (full ones given a key between two of theirs) were scanned.
    expect(leafScans).toBeLessThanOrEqual(2 * 21);
    expect(t.get(21)).toBe(-7);
    expect(t.get(3 * 97 + 1)).toBe(1);
    expect(t.get(3 * 101 + 3)).toBeUndefined();
  });
});

describe("BTree shares what a change did not touch", () => {
  it("a set on a 5000-entry tree copies one root-to-leaf path: every other leaf is the identical object", () => {
    let t: Tree = BTree.empty(spec);
    for (let k = 0; k < 5000; k++) t = t.set(k * 2, 1);
    const before = leavesOf(t);
    const after = leavesOf(t.set(5001, 1));
    const shared = after.filter((l) => before.includes(l)).length;
    // The touched leaf is copied (and may split); every other leaf is shared.
    expect(shared).toBeGreaterThanOrEqual(before.length - 1);
    expect(after.length - shared).toBeLessThanOrEqual(2);
  });

  it("delete of an absent key and a set of an equal key keep the size, the absent delete the tree itself", () => {
    let t: Tree = BTree.empty(spec);
    for (let k = 0; k < 100; k++) t = t.set(k, k);
    expect(t.delete(1000)).toBe(t);
    expect(t.take(1000)).toBeUndefined();
    expect(t.set(5, 5).size).toBe(100);
    expect(BTree.empty(spec).delete(3).size).toBe(0);
  });
});

describe("BTree.sameEntries: equal entries whatever the trees' shapes", () => {
  const build = (ops: readonly Parameters<typeof apply>[2][]): Tree =>
    ops.reduce<Tree>(
      (t, o) => (o.kind === "set" ? t.set(o.key, o.value) : t.delete(o.key)),
      BTree.empty(spec),
    );
  const sameValue = (a: number, b: number): boolean => a === b;

  it("agrees with comparing the entry lists, for trees built by any two op sequences", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.array(op, { maxLength: 300 }), (xs, ys) => {
        const a = build(xs);
        const b = build(ys);
        const expected = JSON.stringify(entriesOf(a)) === JSON.stringify(entriesOf(b));
        expect(a.sameEntries(b, sameValue)).toBe(expected);
        expect(b.sameEntries(a, sameValue)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("the same 2000 entries inserted in opposite orders (other shapes) are equal; one value changed is not", () => {
    let up: Tree = BTree.empty(spec);
    let down: Tree = BTree.empty(spec);
    for (let k = 0; k < 2000; k++) up = up.set(k, k % 7);
    for (let k = 1999; k >= 0; k--) down = down.set(k, k % 7);
    expect(up.sameEntries(down, sameValue)).toBe(true);
    expect(up.sameEntries(down.set(1500, 9), sameValue)).toBe(false);
    expect(up.set(3, 9).sameEntries(down, sameValue)).toBe(false);
  });

  it("two versions of one tree differing in one leaf compare unequal, and equal once the change is undone", () => {
    let t: Tree = BTree.empty(spec);
    for (let k = 0; k < 3000; k++) t = t.set(k * 2, 1);
    const changed = t.set(4000, 2);
    expect(t.sameEntries(changed, sameValue)).toBe(false);
    expect(t.sameEntries(changed.set(4000, 1), sameValue)).toBe(true);
    expect(t.sameEntries(t.delete(10).set(11, 1), sameValue)).toBe(false);
  });
});
