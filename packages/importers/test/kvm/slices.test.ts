/**
 * KVM's typed driver slice (kernel-model §5.1): its memslots, a table by
 * memslot id, each with its stage-2 / EPT entries as a set. The codecs
 * must encode every field, and the stage-2's slot numbers must not count.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { boot, hashWorld, worldsEqual, writeSlice } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";
import { KVM_EMPTY_STAGE2, kvmMemslots, kvmMemslotsSlice, putSlot } from "../../src/kvm/state.js";
import type { KvmCacheAttr, KvmMemslot, KvmSlot, KvmStage2Entry } from "../../src/kvm/state.js";
import { KVM, kvmStateOf } from "../../src/index.js";
import { makeMachine } from "./fixtures.js";

const m = makeMachine();
const base = boot(m);

const CACHES: readonly KvmCacheAttr[] = ["uncached", "write-combine", "write-back"];
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const id = fc.integer({ min: 0, max: 2 ** 20 });

const entryArb: fc.Arbitrary<KvmStage2Entry> = fc.record({
  gfn: u64,
  pfn: u64,
  order: fc.integer({ min: 0, max: 18 }),
  cache: fc.constantFrom(...CACHES),
  mmio: fc.boolean(),
  grant: id,
});

/** A memslot's fields with its stage-2 entries as the list they were installed in. */
type SlotFields = KvmSlot;

const slotArb: fc.Arbitrary<SlotFields> = fc.record({
  slot: id,
  gfnBase: u64,
  npages: u64,
  buf: id,
  att: id,
  readonly: fc.boolean(),
  zapped: fc.boolean(),
  stage2: fc.array(entryArb, { maxLength: 6 }),
});

/** The memslot KVM keeps for these fields: its entries installed in list order. */
function memslot(f: SlotFields): KvmMemslot {
  const stage2 = f.stage2.reduce((t, e) => t.set(t.lowestFreeId(), e), KVM_EMPTY_STAGE2);
  return { ...f, stage2 };
}

/** A world whose KVM holds exactly these memslots. */
function worldWith(...slots: readonly SlotFields[]): World {
  const table = slots.reduce((t, s) => t.set(s.slot, memslot(s)), kvmMemslots(m, base));
  return writeSlice(m, base, KVM, kvmMemslotsSlice, table);
}

const flip = (v: bigint): bigint => v ^ 1n;
const bump = (v: number): number => v + 1;
const nextCache = (c: KvmCacheAttr): KvmCacheAttr =>
  CACHES[(CACHES.indexOf(c) + 1) % CACHES.length] ?? "uncached";

/** One change of one field of a stage-2 entry. */
const ENTRY_CHANGES: readonly ((e: KvmStage2Entry) => KvmStage2Entry)[] = [
  (e) => ({ ...e, gfn: flip(e.gfn) }),
  (e) => ({ ...e, pfn: flip(e.pfn) }),
  (e) => ({ ...e, order: bump(e.order) }),
  (e) => ({ ...e, cache: nextCache(e.cache) }),
  (e) => ({ ...e, mmio: !e.mmio }),
  (e) => ({ ...e, grant: bump(e.grant) }),
];

/** One change of one field of a memslot (the stage-2's entries changed through {@link ENTRY_CHANGES}). */
const SLOT_CHANGES: readonly ((s: SlotFields) => SlotFields)[] = [
  (s) => ({ ...s, slot: bump(s.slot) }),
  (s) => ({ ...s, gfnBase: flip(s.gfnBase) }),
  (s) => ({ ...s, npages: flip(s.npages) }),
  (s) => ({ ...s, buf: bump(s.buf) }),
  (s) => ({ ...s, att: bump(s.att) }),
  (s) => ({ ...s, readonly: !s.readonly }),
  (s) => ({ ...s, zapped: !s.zapped }),
];

/** Every single-field change of a memslot: its own fields, and each field of each stage-2 entry. */
function changesOf(s: SlotFields): readonly SlotFields[] {
  const entryChanges = s.stage2.flatMap((_, i) =>
    ENTRY_CHANGES.map((change) => ({
      ...s,
      stage2: s.stage2.map((e, j) => (j === i ? change(e) : e)),
    })),
  );
  return [...SLOT_CHANGES.map((change) => change(s)), ...entryChanges];
}

describe("KVM's memslots slice (kernel-model §5.1)", () => {
  test.prop([slotArb, fc.array(slotArb, { maxLength: 3 })], { numRuns: 60 })(
    "each kvm slice's codec encodes every field: two worlds differing in one memslot field differ in hash, and an object changed back gives an equal world",
    (slot, others) => {
      const rest = others.filter((o) => o.slot !== slot.slot && o.slot !== slot.slot + 1);
      const before = worldWith(...rest, slot);
      for (const changed of changesOf(slot)) {
        const after = worldWith(...rest, changed);
        expect(hashWorld(after)).not.toBe(hashWorld(before));
        expect(worldsEqual(after, before)).toBe(false);
        // The change undone on the changed world itself.
        const table = kvmMemslots(m, after).delete(changed.slot).set(slot.slot, memslot(slot));
        const back = writeSlice(m, after, KVM, kvmMemslotsSlice, table);
        expect(hashWorld(back)).toBe(hashWorld(before));
        expect(worldsEqual(back, before)).toBe(true);
      }
    },
  );

  test.prop([slotArb, fc.integer({ min: 0, max: 1000 })], { numRuns: 60 })(
    "a memslot's stage-2 is a set: the same entries installed in another order give an equal world",
    (slot, seed) => {
      const shuffled = [...slot.stage2]
        .map((e, i) => ({ e, k: (i * 7919 + seed * 31) % 101 }))
        .sort((a, b) => a.k - b.k)
        .map(({ e }) => e);
      const reversed = [...slot.stage2].reverse();
      for (const order of [shuffled, reversed]) {
        const other = worldWith({ ...slot, stage2: order });
        expect(hashWorld(other)).toBe(hashWorld(worldWith(slot)));
        expect(worldsEqual(other, worldWith(slot))).toBe(true);
      }
    },
  );

  test.prop([slotArb, entryArb], { numRuns: 60 })(
    "a memslot with one stage-2 entry more or less differs",
    (slot, extra) => {
      const more = worldWith({ ...slot, stage2: [...slot.stage2, extra] });
      expect(worldsEqual(more, worldWith(slot))).toBe(false);
      expect(hashWorld(more)).not.toBe(hashWorld(worldWith(slot)));
    },
  );

  it("putSlot replaces a memslot by id and kvmStateOf lists memslots by id, entries in fault order", () => {
    const entry = (gfn: bigint, grant: number): KvmStage2Entry => ({
      gfn,
      pfn: gfn + 0x40_0000n,
      order: 0,
      cache: "uncached",
      mmio: true,
      grant,
    });
    const a: SlotFields = {
      slot: 3,
      gfnBase: 0x10_0000n,
      npages: 0x200n,
      buf: 1,
      att: 2,
      readonly: false,
      zapped: false,
      stage2: [entry(0x10_0005n, 4), entry(0x10_0001n, 5)],
    };
    const b: SlotFields = { ...a, slot: 1, zapped: !a.zapped };
    const w = putSlot(m, putSlot(m, base, memslot(a)), memslot(b));
    expect(kvmStateOf(m, w).slots).toEqual([b, a]);
    const w2 = putSlot(m, w, { ...memslot(a), zapped: true, stage2: KVM_EMPTY_STAGE2 });
    expect(kvmStateOf(m, w2).slots).toEqual([b, { ...a, zapped: true, stage2: [] }]);
    expect(kvmStateOf(m, base).slots).toEqual([]);
  });
});
