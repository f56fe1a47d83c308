/**
 * The RDMA importers' typed driver slice (kernel-model §5.2): each
 * importer's `ib_umem_dmabuf`s, a table by attachment id. The three
 * importers declare the same slice; the machine keeps them apart by name.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { boot, hashWorld, worldsEqual } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";
import { RDMA_IMPORTERS, rdmaStateOf } from "../../src/index.js";
import type { RdmaImporterName, RdmaUmem } from "../../src/index.js";
import { putUmem, rdmaUmems, umemOf } from "../../src/rdma/state.js";
import { makeMachine } from "../kvm/fixtures.js";

const m = makeMachine();
const base = boot(m);

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const id = fc.integer({ min: 0, max: 2 ** 20 });

const umemArb: fc.Arbitrary<RdmaUmem> = fc.record({
  att: id,
  buf: id,
  device: fc.string({ maxLength: 12 }),
  offset: u64,
  size: u64,
  pinned: fc.boolean(),
  revoked: fc.boolean(),
});

/** A world whose `importer` holds exactly these umems. */
function worldWith(importer: RdmaImporterName, ...umems: readonly RdmaUmem[]): World {
  return umems.reduce((w, u) => putUmem(m, w, importer, u.att, u), base);
}

const flip = (v: bigint): bigint => v ^ 1n;

/** One change of each field of a umem. */
const CHANGES: readonly ((u: RdmaUmem) => RdmaUmem)[] = [
  (u) => ({ ...u, att: u.att + 1 }),
  (u) => ({ ...u, buf: u.buf + 1 }),
  (u) => ({ ...u, device: `${u.device}x` }),
  (u) => ({ ...u, device: u.device.length === 0 ? "a" : u.device.slice(1) }),
  (u) => ({ ...u, offset: flip(u.offset) }),
  (u) => ({ ...u, size: flip(u.size) }),
  (u) => ({ ...u, pinned: !u.pinned }),
  (u) => ({ ...u, revoked: !u.revoked }),
];

describe("the RDMA importers' umems slice (kernel-model §5.2)", () => {
  test.prop([fc.constantFrom(...RDMA_IMPORTERS), umemArb, fc.array(umemArb, { maxLength: 3 })], {
    numRuns: 80,
  })(
    "each rdma slice's codec encodes every field: two worlds differing in one umem field differ in hash, and an object changed back gives an equal world",
    (importer, umem, others) => {
      const rest = others.filter((o) => o.att !== umem.att && o.att !== umem.att + 1);
      const before = worldWith(importer, ...rest, umem);
      for (const change of CHANGES) {
        const changed = change(umem);
        const after = worldWith(importer, ...rest, changed);
        expect(hashWorld(after)).not.toBe(hashWorld(before));
        expect(worldsEqual(after, before)).toBe(false);
        // The change undone on the changed world itself.
        const back = putUmem(
          m,
          putUmem(m, after, importer, changed.att, null),
          importer,
          umem.att,
          umem,
        );
        expect(hashWorld(back)).toBe(hashWorld(before));
        expect(worldsEqual(back, before)).toBe(true);
      }
    },
  );

  test.prop([fc.uniqueArray(umemArb, { selector: (u) => u.att, maxLength: 5 })], { numRuns: 60 })(
    "umems put in another order give an equal world",
    (umems) => {
      const a = worldWith("rdma-odp", ...umems);
      const b = worldWith("rdma-odp", ...[...umems].reverse());
      expect(hashWorld(a)).toBe(hashWorld(b));
      expect(worldsEqual(a, b)).toBe(true);
      expect(rdmaStateOf(m, a, "rdma-odp").umems).toEqual([...umems].sort((x, y) => x.att - y.att));
    },
  );

  test.prop([umemArb], { numRuns: 40 })(
    "each importer's umems are its own: the same umem under two importers gives different worlds",
    (umem) => {
      const worlds = RDMA_IMPORTERS.map((i) => worldWith(i, umem));
      for (const [i, w] of worlds.entries()) {
        for (const [j, other] of RDMA_IMPORTERS.entries()) {
          expect(umemOf(m, w, other, umem.att)).toEqual(i === j ? umem : undefined);
        }
        for (const v of worlds.slice(i + 1)) expect(worldsEqual(w, v)).toBe(false);
      }
    },
  );

  it("putUmem with null drops the umem, leaving the empty table's world", () => {
    const u: RdmaUmem = {
      att: 3,
      buf: 1,
      device: "nic0",
      offset: 0n,
      size: 0x1000n,
      pinned: true,
      revoked: false,
    };
    const w = putUmem(m, worldWith("rdma-pinned", u), "rdma-pinned", 3, null);
    expect(rdmaUmems(m, w, "rdma-pinned").size).toBe(0);
    expect(rdmaStateOf(m, w, "rdma-pinned").umems).toEqual([]);
    expect(rdmaUmems(m, w, "rdma-pinned").equals(rdmaUmems(m, base, "rdma-pinned"))).toBe(true);
  });
});
