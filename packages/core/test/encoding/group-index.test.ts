/**
 * The group index (`encoding/group-index.ts`) orders its entries by a hash
 * of the group's name first (issue 10: numbers compare faster than names
 * with a long common prefix). Two names with the same hash must still
 * stay apart.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { groupHash, groupIndex, idsInGroup } from "../../src/encoding/group-index.js";
import { PTable } from "../../src/encoding/ptable.js";
import type { Codec } from "../../src/encoding/codec.js";

interface Named {
  readonly name: string;
}

const codec: Codec<Named> = {
  seed: 7,
  encode: (v, out) => {
    out.push(v.name.length);
    for (let i = 0; i < v.name.length; i++) out.push(v.name.charCodeAt(i));
  },
};

// Found by search: two short names with the same 32-bit FNV-1a hash.
const A = "g115728";
const B = "g2169004";

describe("a group index whose names share a hash", () => {
  it("the two names hash alike (the premise of the test)", () => {
    expect(A).not.toBe(B);
    expect(groupHash(A)).toBe(groupHash(B));
  });

  it("keeps colliding groups apart through any adds and removes", () => {
    const names = [A, B, "other"];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.nat({ max: 3 })), {
          maxLength: 120,
        }),
        (ops) => {
          let t = PTable.indexed(
            codec,
            groupIndex<Named>((v) => v.name),
          );
          const model = new Map<number, string>();
          for (const [id, which] of ops) {
            const name = names[which];
            if (name === undefined) {
              t = t.delete(id);
              model.delete(id);
            } else {
              t = t.set(id, { name });
              model.set(id, name);
            }
          }
          for (const name of names) {
            const want = [...model]
              .filter(([, n]) => n === name)
              .map(([id]) => id)
              .sort((x, y) => x - y);
            expect([...idsInGroup(t.index, name)]).toEqual(want);
          }
          expect(t.index.size).toBe(model.size);
        },
      ),
    );
  });
});
