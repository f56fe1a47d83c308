/**
 * The copier behind `worldWith` and `bufWith`: the record with the fields a
 * change defines replaced, every other field shared, `null` a value and an
 * undefined field no change; and a field list it cannot write is refused.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { recordWith, withFields } from "../../src/encoding/record-with.js";

interface Rec {
  readonly a: number;
  readonly b: string | null;
  readonly c: readonly number[];
}
const FIELDS = ["a", "b", "c"] as const;
const copy = recordWith<Rec, typeof FIELDS>(FIELDS);

const rec = fc.record({
  a: fc.integer(),
  b: fc.option(fc.string()),
  c: fc.array(fc.integer(), { maxLength: 3 }),
});

describe("recordWith", () => {
  it("replaces exactly the fields the change defines (null included) and shares the rest", () => {
    fc.assert(
      fc.property(
        rec,
        fc.record(
          { a: fc.integer(), b: fc.option(fc.string()), c: fc.array(fc.integer()) },
          { requiredKeys: [] },
        ),
        (r, change) => {
          const out = copy(r, change);
          expect(out).not.toBe(r);
          for (const f of FIELDS) {
            const want = change[f] !== undefined ? change[f] : r[f];
            expect(out[f]).toBe(want);
          }
          expect(Object.keys(out).sort()).toEqual([...FIELDS].sort());
        },
      ),
    );
  });

  it("null is a value, an absent field keeps the old one, and the record itself is unchanged", () => {
    const r: Rec = { a: 1, b: "x", c: [2] };
    expect(copy(r, {})).toEqual(r);
    expect(copy(r, { b: null }).b).toBeNull();
    expect(r).toEqual({ a: 1, b: "x", c: [2] });
  });

  it("refuses a field name that is not an identifier (the copier's source is written from the names)", () => {
    interface Weird {
      readonly "a; globalThis.x = 1; //": number;
    }
    const bad = ["a; globalThis.x = 1; //"] as const;
    expect(() => recordWith<Weird, typeof bad>(bad)).toThrow(/not an identifier/);
  });
});

describe("withFields", () => {
  it("gives what { ...base, ...extra } gives: the same keys in the same order, extra's values winning, neither argument changed", () => {
    const obj = fc.dictionary(fc.constantFrom("a", "b", "c", "d", "op", "x"), fc.integer(), {
      maxKeys: 6,
    });
    fc.assert(
      fc.property(obj, obj, (base, extra) => {
        const before = { base: { ...base }, extra: { ...extra } };
        const got = withFields(base, extra);
        const spread = { ...base, ...extra };
        expect(Object.keys(got)).toEqual(Object.keys(spread));
        expect(got).toEqual(spread);
        expect({ base, extra }).toEqual(before);
      }),
    );
  });
});
