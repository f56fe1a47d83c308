/**
 * The World's persistent table and canonical encoding (DESIGN §2a): a
 * PTable behaves as an immutable Map from ids to values, compares and
 * hashes by the values' encodings whatever order entries arrived in, and
 * shares everything a change did not touch.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  PTable,
  combinedIndex,
  groupIndex,
  idsInGroup,
  markIndex,
  equalWith,
} from "@dmabuf-ref/core/encoding";
import type { Codec } from "@dmabuf-ref/core";
import type { GroupIndex, IdSet } from "@dmabuf-ref/core/encoding";

interface V {
  readonly x: number;
}

const codec: Codec<V> = {
  seed: 1,
  encode: (v, out) => {
    out.push(v.x);
  },
};

const empty = PTable.empty(codec);
const runs = { numRuns: 200 };

/** Ids near each other (one trie leaf) and far apart (deeper tries). */
const idArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3000 }));
const valueArb: fc.Arbitrary<V> = fc.integer({ min: -3, max: 3 }).map((x) => ({ x }));

type TableOp =
  | { readonly kind: "set"; readonly id: number; readonly value: V }
  | { readonly kind: "delete"; readonly id: number }
  | { readonly kind: "update"; readonly id: number; readonly add: number };

function opArb(ids: fc.Arbitrary<number>, values: fc.Arbitrary<V>): fc.Arbitrary<TableOp> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("set"), id: ids, value: values }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete"), id: ids }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("update"),
        id: ids,
        add: fc.integer({ min: -1, max: 1 }),
      }),
    },
  );
}

const opsArb = fc.array(opArb(idArb, valueArb), { maxLength: 60, size: "max" });

/** Applies one op to a table and its Map model. */
function apply<I>(t: PTable<V, I>, m: Map<number, V>, op: TableOp): PTable<V, I> {
  switch (op.kind) {
    case "set":
      m.set(op.id, op.value);
      return t.set(op.id, op.value);
    case "delete":
      m.delete(op.id);
      return t.delete(op.id);
    case "update": {
      const old = m.get(op.id);
      if (old === undefined) {
        expect(() => t.update(op.id, (v) => v)).toThrow();
        return t;
      }
      const next = op.add === 0 ? old : { x: old.x + op.add };
      m.set(op.id, next);
      return t.update(op.id, () => next);
    }
  }
}

function build(ops: readonly TableOp[]): { table: PTable<V>; model: Map<number, V> } {
  const model = new Map<number, V>();
  let table: PTable<V> = empty;
  for (const op of ops) table = apply(table, model, op);
  return { table, model };
}

function fromEntries(entries: readonly (readonly [number, V])[]): PTable<V> {
  return entries.reduce((t, [id, v]) => t.set(id, v), empty);
}

/** The model's entries in increasing id order. */
function sorted(m: ReadonlyMap<number, V>): [number, V][] {
  return [...m.entries()].sort(([a], [b]) => a - b);
}

function modelsEqual(a: ReadonlyMap<number, V>, b: ReadonlyMap<number, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, v] of a) {
    const w = b.get(id);
    if (w === undefined || !equalWith(codec, v, w)) return false;
  }
  return true;
}

describe("PTable behaves as an immutable Map", () => {
  it("set, get, has, delete and update agree with a Map model after every op, size included", () => {
    fc.assert(
      fc.property(opsArb, fc.array(idArb, { maxLength: 20 }), (ops, probes) => {
        const model = new Map<number, V>();
        let table: PTable<V> = empty;
        for (const op of ops) {
          const before = table;
          const beforeEntries = [...before.entries()];
          table = apply(table, model, op);
          expect(table.size).toBe(model.size);
          for (const id of [op.id, ...probes]) {
            expect(table.get(id)).toEqual(model.get(id));
            expect(table.has(id)).toBe(model.has(id));
          }
          // The old table is untouched.
          expect([...before.entries()]).toEqual(beforeEntries);
        }
        for (const [id, v] of model) expect(table.get(id)).toBe(v);
      }),
      runs,
    );
  });

  it("entries() and values() list every entry once, in increasing id order", () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const { table, model } = build(ops);
        const expected = sorted(model);
        expect([...table.entries()]).toEqual(expected);
        expect([...table.values()]).toEqual(expected.map(([, v]) => v));
      }),
      runs,
    );
  });

  it("update returns the same table when the change returns the same value, and delete of an absent id returns the same table", () => {
    fc.assert(
      fc.property(opsArb, idArb, (ops, id) => {
        const { table, model } = build(ops);
        if (model.has(id)) expect(table.update(id, (v) => v)).toBe(table);
        else expect(table.delete(id)).toBe(table);
      }),
      runs,
    );
  });

  it("update of an absent id throws, and set rejects negative and non-integer ids", () => {
    expect(() => empty.update(3, (v) => v)).toThrow();
    expect(() => empty.set(-1, { x: 0 })).toThrow(RangeError);
    expect(() => empty.set(1.5, { x: 0 })).toThrow(RangeError);
    expect(() => empty.set(Number.NaN, { x: 0 })).toThrow(RangeError);
    expect(empty.get(-1)).toBeUndefined();
  });

  it("get and has never find a non-integer id", () => {
    // Minimal: PTable.empty(codec).set(0, {x: 0}).set(1, {x: 1}).get(1.5)
    const t = empty.set(0, { x: 0 }).set(1, { x: 1 });
    for (const id of [0.5, 1.5, Number.NaN]) {
      expect(t.get(id), `get(${id})`).toBeUndefined();
      expect(t.has(id), `has(${id})`).toBe(false);
    }
  });

  it("ids at or above 2^32 never alias smaller ids: set keeps them apart or rejects them", () => {
    // Minimal: PTable.empty(codec).set(5, {x: 1}).set(2 ** 32 + 5, {x: 2}).get(5)
    for (const [small, big] of [
      [5, 2 ** 32 + 5],
      [0, 2 ** 32],
      [7, 2 ** 40 + 7],
    ] as const) {
      const t = empty.set(small, { x: 1 });
      let grown: PTable<V> | undefined;
      try {
        grown = t.set(big, { x: 2 });
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
      }
      if (grown !== undefined) {
        expect(grown.get(small)).toEqual({ x: 1 });
        expect(grown.get(big)).toEqual({ x: 2 });
        expect([...grown.entries()]).toEqual([
          [small, { x: 1 }],
          [big, { x: 2 }],
        ]);
      }
    }
  });
});

describe("PTable equality and hashing are canonical", () => {
  it("equals is true iff the Map models are equal, values compared by encoding", () => {
    const smallOps = fc.array(
      opArb(
        fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(40, 1500)),
        fc.integer({ min: 0, max: 1 }).map((x) => ({ x })),
      ),
      { maxLength: 12, size: "max" },
    );
    let equalCases = 0;
    fc.assert(
      fc.property(smallOps, smallOps, (opsA, opsB) => {
        const a = build(opsA);
        const b = build(opsB);
        const eq = modelsEqual(a.model, b.model);
        if (eq) equalCases++;
        expect(a.table.equals(b.table)).toBe(eq);
        expect(b.table.equals(a.table)).toBe(eq);
        if (eq) expect(a.table.hash).toBe(b.table.hash);
      }),
      { numRuns: 400 },
    );
    expect(equalCases).toBeGreaterThan(0);
  });

  it("equal values that are different objects make equal tables", () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const { table, model } = build(ops);
        const copy = fromEntries(sorted(model).map(([id, v]) => [id, { x: v.x }]));
        expect(copy.equals(table)).toBe(true);
        expect(copy.hash).toBe(table.hash);
      }),
      runs,
    );
  });

  it("the hash is order-independent: the same entries inserted in any order give equal hashes and equal tables", () => {
    const entriesArb = fc.uniqueArray(fc.tuple(idArb, valueArb), {
      selector: ([id]) => id,
      maxLength: 60,
    });
    fc.assert(
      fc.property(
        entriesArb.chain((entries) =>
          fc.tuple(
            fc.constant(entries),
            fc.shuffledSubarray(entries, { minLength: entries.length }),
          ),
        ),
        ([entries, shuffled]) => {
          const a = fromEntries(entries);
          const b = fromEntries(shuffled);
          expect(b.hash).toBe(a.hash);
          expect(b.equals(a)).toBe(true);
          expect(a.equals(b)).toBe(true);
          expect([...b.entries()]).toEqual([...a.entries()]);
        },
      ),
      runs,
    );
  });

  it("tables that grew deeper and shrank back equal the tables that never grew", () => {
    fc.assert(
      fc.property(opsArb, fc.integer({ min: 1024, max: 100_000 }), valueArb, (ops, far, v) => {
        const { table, model } = build(ops);
        if (model.has(far)) return;
        const back = table.set(far, v).delete(far);
        const fresh = fromEntries(sorted(model));
        expect(back.equals(fresh)).toBe(true);
        expect(fresh.equals(back)).toBe(true);
        expect(back.hash).toBe(fresh.hash);
      }),
      runs,
    );
  });

  it("delete restores the previous hash, and so does setting an entry back to its old value", () => {
    fc.assert(
      fc.property(opsArb, idArb, valueArb, (ops, id, v) => {
        const { table, model } = build(ops);
        const old = model.get(id);
        if (old === undefined) {
          const added = table.set(id, v);
          expect(added.hash === table.hash && added.equals(table)).toBe(false);
          const removed = added.delete(id);
          expect(removed.hash).toBe(table.hash);
          expect(removed.size).toBe(table.size);
          expect(removed.equals(table)).toBe(true);
        } else {
          const removed = table.delete(id);
          expect(removed.set(id, old).hash).toBe(table.hash);
          const changed = table.set(id, v);
          expect(changed.set(id, old).hash).toBe(table.hash);
          expect(changed.set(id, old).equals(table)).toBe(true);
          expect(changed.equals(table)).toBe(equalWith(codec, v, old));
        }
      }),
      runs,
    );
  });

  it("an empty table hashes to 0, however it became empty", () => {
    fc.assert(
      fc.property(fc.uniqueArray(idArb, { maxLength: 30 }), (ids) => {
        const full = ids.reduce((t, id) => t.set(id, { x: id }), empty);
        const emptied = ids.reduce((t, id) => t.delete(id), full);
        expect(emptied.size).toBe(0);
        expect(emptied.hash).toBe(0);
        expect(emptied.equals(empty)).toBe(true);
        expect(empty.equals(emptied)).toBe(true);
        expect([...emptied.entries()]).toEqual([]);
      }),
      runs,
    );
  });
});

describe("PTable shares what a change did not touch", () => {
  const big = Array.from({ length: 1000 }, (_, i): [number, V] => [i, { x: i }]).reduce(
    (t, [id, v]) => t.set(id, v),
    empty,
  );

  it("a set on a 1000-entry table leaves get of every other id returning the identical object", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1100 }), valueArb, (id, v) => {
        const before = big.get(id);
        const next = big.set(id, v);
        expect(next.get(id)).toBe(v);
        expect(big.get(id)).toBe(before);
        expect(next.size).toBe(id < 1000 ? 1000 : 1001);
        for (let other = 0; other < 1000; other++) {
          if (other !== id) expect(next.get(other)).toBe(big.get(other));
        }
      }),
      { numRuns: 50 },
    );
  });

  it("a delete on a 1000-entry table leaves every other entry the identical object", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), (id) => {
        const next = big.delete(id);
        expect(next.has(id)).toBe(false);
        expect(big.has(id)).toBe(true);
        for (let other = 0; other < 1000; other++) {
          if (other !== id) expect(next.get(other)).toBe(big.get(other));
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe("PTable hands out the lowest free id, as alloc_fd and xa_alloc do", () => {
  it("after any sequence of sets and deletes, lowestFreeId() is the lowest id >= 1 not in use", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 })), { maxLength: 200 }),
        (ops) => {
          let t = empty;
          for (const [add, id] of ops) {
            t = add ? t.set(id, { x: id }) : t.delete(id);
            let want = 1;
            while (t.has(want)) want++;
            expect(t.lowestFreeId()).toBe(want);
            let from5 = 5;
            while (t.has(from5)) from5++;
            expect(t.lowestFreeId(5)).toBe(from5);
          }
        },
      ),
    );
  });
});

describe("PTable's lowest free id in a deep, dense table", () => {
  it("with 1100 ids in use (three trie levels), lowestFreeId finds the holes that sets and deletes leave", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 1200 })), { maxLength: 80 }),
        fc.integer({ min: 1, max: 1200 }),
        (ops, from) => {
          let t: PTable<V> = empty;
          for (let id = 1; id <= 1100; id++) t = t.set(id, { x: id });
          for (const [add, id] of ops) {
            t = add ? t.set(id, { x: id }) : t.delete(id);
            let want = 1;
            while (t.has(want)) want++;
            expect(t.lowestFreeId()).toBe(want);
          }
          let fromWant = from;
          while (t.has(fromWant)) fromWant++;
          expect(t.lowestFreeId(from)).toBe(fromWant);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("a table's secondary index follows its entries", () => {
  it("mark and group indexes, kept through set, update and delete, equal the ones built from the entries", () => {
    const indexer = combinedIndex<V, { odd: IdSet; byTens: GroupIndex }>({
      odd: markIndex((v) => v.x % 2 !== 0),
      byTens: groupIndex((v) => (v.x < 0 ? undefined : `g${String(Math.floor(v.x / 10))}`)),
    });
    fc.assert(
      fc.property(opsArb, (ops) => {
        let t = PTable.indexed(codec, indexer);
        const model = new Map<number, V>();
        for (const op of ops) {
          t = apply(t, model, op);
          const entries = [...t.entries()];
          expect([...t.index.odd.keys()]).toEqual(
            entries.filter(([, v]) => v.x % 2 !== 0).map(([id]) => id),
          );
          const groups = new Set(
            entries.filter(([, v]) => v.x >= 0).map(([, v]) => Math.floor(v.x / 10)),
          );
          for (const g of groups) {
            expect([...idsInGroup(t.index.byTens, `g${String(g)}`)]).toEqual(
              entries.filter(([, v]) => v.x >= 0 && Math.floor(v.x / 10) === g).map(([id]) => id),
            );
          }
          expect(t.index.byTens.size).toBe(entries.filter(([, v]) => v.x >= 0).length);
        }
      }),
    );
  });
});

describe("sameValues: a table whose ids are slots nothing observes", () => {
  it("two tables holding the same values under any ids are sameValues and hash alike; a different multiset is not", () => {
    fc.assert(
      fc.property(
        fc.array(valueArb, { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 12, maxLength: 12 }),
        (values, ids) => {
          const a = values.reduce((t, v, i) => t.set(i + 1, v), empty);
          const used = new Set<number>();
          let b = empty;
          for (const [i, v] of [...values].reverse().entries()) {
            let id = ids[i] ?? 0;
            while (used.has(id)) id++;
            used.add(id);
            b = b.set(id, v);
          }
          expect(a.sameValues(b)).toBe(true);
          expect(a.valuesHash).toBe(b.valuesHash);
          const more = b.set(5000, { x: 9 });
          expect(a.sameValues(more)).toBe(false);
          if (values.length > 0) {
            const changed = a.set(1, { x: (values[0]?.x ?? 0) + 10 });
            expect(a.sameValues(changed)).toBe(false);
          }
        },
      ),
      runs,
    );
  });
});
