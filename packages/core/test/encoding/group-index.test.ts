/**
 * The group index (`encoding/group-index.ts`) orders its entries by a hash
 * of the group's name first (issue 10: numbers compare faster than names
 * with a long common prefix). Two names with the same hash must still
 * stay apart. The id group index keeps a group of one as the id itself and
 * larger groups as trees: both forms must hold exactly the table's ids.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  groupHash,
  groupIndex,
  idGroupIndex,
  idsInGroup,
  idsInIdGroup,
} from "../../src/encoding/group-index.js";
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

/**
 * Sets or deletes (value undefined) each id in turn, on the table and on a
 * `Map` model of it.
 */
function applyOps<T, I>(
  start: PTable<T, I>,
  ops: readonly (readonly [number, T | undefined])[],
): { table: PTable<T, I>; model: Map<number, T> } {
  let table = start;
  const model = new Map<number, T>();
  for (const [id, value] of ops) {
    if (value === undefined) {
      table = table.delete(id);
      model.delete(id);
    } else {
      table = table.set(id, value);
      model.set(id, value);
    }
  }
  return { table, model };
}

/** The model's ids whose value is in a group, ascending: what the index must list. */
function modelIds<T>(model: ReadonlyMap<number, T>, inGroup: (value: T) => boolean): number[] {
  return [...model]
    .filter(([, v]) => inGroup(v))
    .map(([id]) => id)
    .sort((x, y) => x - y);
}

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
          const { table: t, model } = applyOps(
            PTable.indexed(
              codec,
              groupIndex<Named>((v) => v.name),
            ),
            ops.map(([id, which]): [number, Named | undefined] => {
              const name = names[which];
              return [id, name === undefined ? undefined : { name }];
            }),
          );
          for (const name of names) {
            expect([...idsInGroup(t.index, name)]).toEqual(modelIds(model, (v) => v.name === name));
          }
          expect(t.index.size).toBe(model.size);
        },
      ),
    );
  });
});

describe("an id group index", () => {
  it("each owner's group is exactly the ids whose value names it, through any sets and deletes", () => {
    fc.assert(
      fc.property(
        // (id, owner) pairs: owner 0 deletes the id; few owners, so groups grow past one and shrink back.
        fc.array(fc.tuple(fc.integer({ min: 1, max: 80 }), fc.nat({ max: 4 })), {
          maxLength: 200,
        }),
        (ops) => {
          const owners = [1, 2, 3, 4];
          const { table: t, model } = applyOps(
            PTable.indexed(
              { seed: 3, encode: (v: number, out: number[]) => void out.push(v) },
              idGroupIndex((owner: number) => owner),
            ),
            ops.map(([id, owner]): [number, number | undefined] => [
              id,
              owner === 0 ? undefined : owner,
            ]),
          );
          for (const owner of owners) {
            expect(idsInIdGroup(t.index, owner)).toEqual(modelIds(model, (o) => o === owner));
          }
          // Owners with no ids left keep no group.
          expect([...t.index.keys()]).toEqual([...new Set(model.values())].sort((x, y) => x - y));
        },
      ),
    );
  });
});
