/**
 * iommufd's typed slices (issue 10): every field of every object enters its
 * codec, an object changed back gives an equal world, the IOAS's area slots
 * are not observed, and IOMMU_IOAS_ALLOC touches one object of
 * `ictx->objects` however many there are.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { boot, hashWorld, readSlice, worldsEqual, writeSlice } from "@dmabuf-ref/core";
import type { PagePiece, SliceDef, World } from "@dmabuf-ref/core";
import { IOMMUFD } from "../../src/index.js";
import type { IommufdArea, IommufdAreaRef, IommufdPages, IommufdTrack } from "../../src/index.js";
import type { IommufdObject } from "../../src/iommufd/types.js";
import {
  IOMMUFD_ATTACHED,
  IOMMUFD_ATTACHMENTS,
  IOMMUFD_OBJECTS,
  IOMMUFD_PAGES,
  emptyIoas,
} from "../../src/iommufd/objects.js";
import { allocIoas, makeMachine } from "./fixtures.js";

const m = makeMachine();
const base: World = boot(m);

/** An IOAS described with its areas as a list (built into a table by {@link build}). */
interface IoasDesc {
  readonly kind: "ioas";
  readonly areas: readonly IommufdArea[];
  readonly domains: readonly number[];
  readonly iovaAlignment: bigint;
  readonly disableLargePages: boolean;
  readonly allowed: readonly { readonly start: bigint; readonly last: bigint }[];
  readonly testReserved: readonly { readonly start: bigint; readonly last: bigint }[];
}
type ObjectDesc = IoasDesc | Exclude<IommufdObject, { kind: "ioas" }>;

/** A fresh object from its description: areas in slots 1, 2, ... (or from `firstSlot`, every `stride`). */
function build(d: ObjectDesc, firstSlot = 1, stride = 1): IommufdObject {
  if (d.kind !== "ioas") return { ...d };
  const areas = d.areas.reduce(
    (t, a, i) => t.set(firstSlot + i * stride, { ...a, grants: [...a.grants] }),
    emptyIoas().areas,
  );
  return {
    ...d,
    kind: "ioas",
    areas,
    domains: [...d.domains],
    allowed: [...d.allowed],
    testReserved: [...d.testReserved],
  };
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const small = fc.nat({ max: 1000 });
const ids = fc.array(small, { maxLength: 3 });

const area: fc.Arbitrary<IommufdArea> = fc.record({
  iova: u64,
  length: u64,
  pages: small,
  offset: u64,
  read: fc.boolean(),
  write: fc.boolean(),
  grants: ids,
});
const objectDesc: fc.Arbitrary<ObjectDesc> = fc.oneof(
  fc.record({
    kind: fc.constant("ioas" as const),
    areas: fc.array(area, { maxLength: 4 }),
    domains: ids,
    iovaAlignment: fc.constantFrom(1n, 0x1000n),
    disableLargePages: fc.boolean(),
    allowed: fc.array(fc.record({ start: u64, last: u64 }), { maxLength: 2 }),
    testReserved: fc.array(fc.record({ start: u64, last: u64 }), { maxLength: 2 }),
  }),
  fc.record({
    kind: fc.constant("device" as const),
    device: fc.string({ maxLength: 9 }),
    attach: fc.option(
      fc.record({
        ioas: small,
        hwpt: small,
        domain: small,
        previousDomain: fc.option(small, { nil: null }),
      }),
      { nil: null },
    ),
  }),
  fc.record({
    kind: fc.constant("hwpt" as const),
    ioas: small,
    domain: small,
    pgsizeBitmap: fc.constantFrom(0x1000n, 0x40201000n),
    aperture: fc.record({ start: u64, last: u64 }),
    auto: fc.boolean(),
  }),
);
const ref: fc.Arbitrary<IommufdAreaRef> = fc.record({ ioas: small, iova: u64 });
const track: fc.Arbitrary<IommufdTrack> = fc.oneof(
  fc.record({ ioas: small, iova: u64, domain: small }),
  fc.record({ ioas: small, iova: u64, domain: small, att: small }),
);
const piece: fc.Arbitrary<PagePiece> = fc.record({
  start: u64,
  len: u64,
  phys: u64,
  region: fc.constantFrom("vmm.anon", "vmm.memfd1"),
  memfd: fc.option(small, { nil: null }),
});
const pagesArb: fc.Arbitrary<IommufdPages> = fc.oneof(
  fc.record({
    kind: fc.constant("file" as const),
    fd: small,
    start: u64,
    length: u64,
    writable: fc.boolean(),
    pinned: fc.option(fc.array(piece, { maxLength: 2 }), { nil: null }),
    users: fc.array(ref, { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("user" as const),
    process: fc.constantFrom("vmm", "qemu"),
    userVa: u64,
    pinned: fc.option(fc.array(piece, { maxLength: 2 }), { nil: null }),
    length: u64,
    writable: fc.boolean(),
    users: fc.array(ref, { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant("dmabuf" as const),
    buf: small,
    att: small,
    phys: fc.array(fc.record({ paddr: u64, len: u64 }), { maxLength: 3 }),
    mappedBy: fc.constantFrom("iommufd" as const, "core" as const),
    revoked: fc.boolean(),
    start: u64,
    length: u64,
    tracker: fc.array(track, { maxLength: 3 }),
    users: fc.array(ref, { maxLength: 3 }),
  }),
);

/** One change to one field: never the identity. */
type Change<T> = (x: T) => T;
const flip = (v: bigint): bigint => v ^ 1n;

/** Changes one element of a list (its first, by `f`), or adds `extra` to an empty one; or adds `extra`. */
function listChanges<T>(f: readonly Change<T>[], extra: T): Change<readonly T[]>[] {
  const first = (xs: readonly T[], g: Change<T>): readonly T[] => {
    const [head, ...rest] = xs;
    return head === undefined ? [extra] : [g(head), ...rest];
  };
  return [(xs) => [...xs, extra], ...f.map((g) => (xs: readonly T[]) => first(xs, g))];
}

const areaChanges: Change<IommufdArea>[] = [
  (a) => ({ ...a, iova: flip(a.iova) }),
  (a) => ({ ...a, length: flip(a.length) }),
  (a) => ({ ...a, pages: a.pages + 1 }),
  (a) => ({ ...a, offset: flip(a.offset) }),
  (a) => ({ ...a, read: !a.read }),
  (a) => ({ ...a, write: !a.write }),
  ...listChanges<number>([(g) => g + 1], 7).map((c): Change<IommufdArea> => (a) => ({
    ...a,
    grants: c(a.grants),
  })),
];
const anArea: IommufdArea = {
  iova: 0x1000n,
  length: 0x1000n,
  pages: 1,
  offset: 0n,
  read: true,
  write: false,
  grants: [],
};

/** The changes of an IOAS's list of IOVA intervals (its allowed ranges, its test reservations). */
type Interval = IoasDesc["allowed"][number];
const intervalChanges = listChanges<Interval>(
  [(r) => ({ ...r, start: flip(r.start) }), (r) => ({ ...r, last: flip(r.last) })],
  { start: 0x1000n, last: 0x1fffn },
);

/** The changes of one field of each kind of object. */
const ioasChanges: Change<IoasDesc>[] = [
  ...listChanges<number>([(d) => d + 1], 3).map((c): Change<IoasDesc> => (o) => ({
    ...o,
    domains: c(o.domains),
  })),
  ...listChanges(areaChanges, anArea).map((c): Change<IoasDesc> => (o) => ({
    ...o,
    areas: c(o.areas),
  })),
  (o) => ({ ...o, areas: o.areas.length === 0 ? [anArea] : o.areas.slice(1) }),
  (o) => ({ ...o, iovaAlignment: o.iovaAlignment === 1n ? 0x1000n : 1n }),
  (o) => ({ ...o, disableLargePages: !o.disableLargePages }),
  ...intervalChanges.map((c): Change<IoasDesc> => (o) => ({ ...o, allowed: c(o.allowed) })),
  ...intervalChanges.map((c): Change<IoasDesc> => (o) => ({
    ...o,
    testReserved: c(o.testReserved),
  })),
];
type DeviceDesc = Extract<ObjectDesc, { kind: "device" }>;
const anAttach = { ioas: 1, hwpt: 2, domain: 3, previousDomain: null };
type Attach = NonNullable<DeviceDesc["attach"]>;
const attachChange =
  (f: (a: Attach) => Attach): Change<DeviceDesc> =>
  (o) => ({ ...o, attach: o.attach === null ? anAttach : f(o.attach) });
const deviceChanges: Change<DeviceDesc>[] = [
  (o) => ({ ...o, device: `${o.device}x` }),
  (o) => ({ ...o, attach: o.attach === null ? anAttach : null }),
  attachChange((a) => ({ ...a, ioas: a.ioas + 1 })),
  attachChange((a) => ({ ...a, hwpt: a.hwpt + 1 })),
  attachChange((a) => ({ ...a, domain: a.domain + 1 })),
  attachChange((a) => ({ ...a, previousDomain: a.previousDomain === null ? a.domain : null })),
  attachChange((a) => ({
    ...a,
    previousDomain: a.previousDomain === null ? 5 : a.previousDomain + 1,
  })),
];
type HwptDesc = Extract<ObjectDesc, { kind: "hwpt" }>;
const hwptChanges: Change<HwptDesc>[] = [
  (o) => ({ ...o, ioas: o.ioas + 1 }),
  (o) => ({ ...o, domain: o.domain + 1 }),
  (o) => ({ ...o, pgsizeBitmap: o.pgsizeBitmap ^ 0x2000n }),
  (o) => ({ ...o, auto: !o.auto }),
  (o) => ({ ...o, aperture: { ...o.aperture, last: flip(o.aperture.last) } }),
  (o) => ({ ...o, aperture: { ...o.aperture, start: flip(o.aperture.start) } }),
];

/** The `which`-th change of one field of an object, or of its kind (an IOAS becomes a HWPT...). */
function changeObject(o: ObjectDesc, which: number): ObjectDesc {
  const pick = <T>(xs: readonly Change<T>[], x: T): T => {
    const c = xs[which % (xs.length + 1)];
    return c === undefined ? x : c(x);
  };
  const other: ObjectDesc =
    o.kind === "hwpt"
      ? {
          kind: "device",
          device: "dev0",
          attach: { ioas: o.ioas, hwpt: 0, domain: o.domain, previousDomain: null },
        }
      : {
          kind: "hwpt",
          ioas: 1,
          domain: 1,
          pgsizeBitmap: 0x1000n,
          aperture: { start: 0n, last: 0xffffn },
          auto: true,
        };
  switch (o.kind) {
    case "ioas": {
      const c = pick(ioasChanges, o);
      return c === o ? other : c;
    }
    case "device": {
      const c = pick(deviceChanges, o);
      return c === o ? other : c;
    }
    case "hwpt": {
      const c = pick(hwptChanges, o);
      return c === o ? other : c;
    }
  }
}

const refChanges = listChanges<IommufdAreaRef>(
  [(r) => ({ ...r, ioas: r.ioas + 1 }), (r) => ({ ...r, iova: flip(r.iova) })],
  { ioas: 1, iova: 0x1000n },
);
const trackChanges = listChanges<IommufdTrack>(
  [
    (t) => ({ ...t, ioas: t.ioas + 1 }),
    (t) => ({ ...t, iova: flip(t.iova) }),
    (t) => ({ ...t, domain: t.domain + 1 }),
    (t) =>
      t.att === undefined ? { ...t, att: 0 } : { ioas: t.ioas, iova: t.iova, domain: t.domain },
    (t) => ({ ...t, att: t.att === undefined ? 9 : t.att + 1 }),
  ],
  { ioas: 1, iova: 0n, domain: 1 },
);
const physChanges = listChanges<{ paddr: bigint; len: bigint }>(
  [(v) => ({ ...v, paddr: flip(v.paddr) }), (v) => ({ ...v, len: flip(v.len) })],
  { paddr: 0n, len: 0x1000n },
);
type UserPages = Extract<IommufdPages, { kind: "user" }>;
type FilePages = Extract<IommufdPages, { kind: "file" }>;
type DmabufPages = Extract<IommufdPages, { kind: "dmabuf" }>;
const aPiece: PagePiece = { start: 0n, len: 0x1000n, phys: 0n, region: "vmm.anon", memfd: null };
const pinnedChanges: Change<readonly PagePiece[] | null>[] = [
  (x) => (x === null ? [aPiece] : null),
  (x) => (x === null || x.length === 0 ? [aPiece] : x.slice(1)),
  (x) => (x === null ? [] : [...x, aPiece]),
  (x) => (x?.[0] === undefined ? [aPiece] : [{ ...x[0], phys: flip(x[0].phys) }, ...x.slice(1)]),
  (x) =>
    x?.[0] === undefined ? [aPiece] : [{ ...x[0], region: `${x[0].region}x` }, ...x.slice(1)],
  (x) =>
    x?.[0] === undefined
      ? [aPiece]
      : [{ ...x[0], memfd: x[0].memfd === null ? 1 : null }, ...x.slice(1)],
];
const userChanges: Change<UserPages>[] = [
  (p) => ({ ...p, process: `${p.process}x` }),
  (p) => ({ ...p, userVa: flip(p.userVa) }),
  (p) => ({ ...p, length: flip(p.length) }),
  (p) => ({ ...p, writable: !p.writable }),
  ...pinnedChanges.map((c): Change<UserPages> => (p) => ({ ...p, pinned: c(p.pinned) })),
  ...refChanges.map((c): Change<UserPages> => (p) => ({ ...p, users: c(p.users) })),
];
const fileChanges: Change<FilePages>[] = [
  (p) => ({ ...p, fd: p.fd + 1 }),
  (p) => ({ ...p, start: flip(p.start) }),
  (p) => ({ ...p, length: flip(p.length) }),
  (p) => ({ ...p, writable: !p.writable }),
  ...pinnedChanges.map((c): Change<FilePages> => (p) => ({ ...p, pinned: c(p.pinned) })),
  ...refChanges.map((c): Change<FilePages> => (p) => ({ ...p, users: c(p.users) })),
];
const dmabufChanges: Change<DmabufPages>[] = [
  (p) => ({ ...p, buf: p.buf + 1 }),
  (p) => ({ ...p, att: p.att + 1 }),
  ...physChanges.map((c): Change<DmabufPages> => (p) => ({ ...p, phys: c(p.phys) })),
  (p) => ({ ...p, mappedBy: p.mappedBy === "core" ? "iommufd" : "core" }),
  (p) => ({ ...p, revoked: !p.revoked }),
  (p) => ({ ...p, start: flip(p.start) }),
  (p) => ({ ...p, length: flip(p.length) }),
  ...trackChanges.map((c): Change<DmabufPages> => (p) => ({ ...p, tracker: c(p.tracker) })),
  ...refChanges.map((c): Change<DmabufPages> => (p) => ({ ...p, users: c(p.users) })),
];

/** The `which`-th change of one field of pages, or of their kind (user memory and a dma-buf alike in length). */
function changePages(p: IommufdPages, which: number): IommufdPages {
  switch (p.kind) {
    case "user":
      return (
        userChanges[which % (userChanges.length + 1)]?.(p) ?? {
          kind: "dmabuf",
          buf: 0,
          att: 0,
          phys: [],
          mappedBy: "iommufd",
          revoked: false,
          start: 0n,
          length: p.length,
          tracker: [],
          users: p.users,
        }
      );
    case "file":
      return (
        fileChanges[which % (fileChanges.length + 1)]?.(p) ?? {
          kind: "user",
          process: "vmm",
          userVa: p.start,
          length: p.length,
          writable: p.writable,
          pinned: p.pinned,
          users: p.users,
        }
      );
    case "dmabuf":
      return (
        dmabufChanges[which % (dmabufChanges.length + 1)]?.(p) ?? {
          kind: "user",
          process: "vmm",
          userVa: 0n,
          length: p.length,
          writable: true,
          pinned: null,
          users: p.users,
        }
      );
  }
}

/** A fresh copy of pages (equal, never identical). */
function copyPages(p: IommufdPages): IommufdPages {
  return p.kind !== "dmabuf"
    ? {
        ...p,
        pinned: p.pinned === null ? null : p.pinned.map((x) => ({ ...x })),
        users: p.users.map((u) => ({ ...u })),
      }
    : {
        ...p,
        phys: p.phys.map((v) => ({ ...v })),
        tracker: p.tracker.map((t) => ({ ...t })),
        users: p.users.map((u) => ({ ...u })),
      };
}

/**
 * Writes `value`, then `changed` (which must differ in hash and equality),
 * then `back` (equal to `value`, built afresh: which must give a world equal
 * to the first and hashing alike).
 */
function expectEncoded<T>(def: SliceDef<T>, value: T, changed: T, back: T): void {
  const w1 = writeSlice(m, base, IOMMUFD, def, value);
  const w2 = writeSlice(m, w1, IOMMUFD, def, changed);
  expect(hashWorld(w2)).not.toBe(hashWorld(w1));
  expect(worldsEqual(w1, w2)).toBe(false);
  const w3 = writeSlice(m, w2, IOMMUFD, def, back);
  expect(hashWorld(w3)).toBe(hashWorld(w1));
  expect(worldsEqual(w3, w1)).toBe(true);
}

describe("iommufd's slices", () => {
  test.prop(
    [objectDesc, fc.nat(), fc.array(objectDesc, { maxLength: 3 }), fc.integer({ min: 1, max: 9 })],
    {
      numRuns: 300,
    },
  )(
    "each iommufd slice's codec encodes every field: two worlds differing in one object field differ in hash, and an object changed back gives an equal world (ictx->objects)",
    (desc, which, others, id) => {
      const changedDesc = changeObject(desc, which);
      const rest = others.reduce(
        (t, o, i) => t.set(10 + i, build(o)),
        readSlice(m, base, IOMMUFD, IOMMUFD_OBJECTS),
      );
      const value = rest.set(id, build(desc));
      expectEncoded(
        IOMMUFD_OBJECTS,
        value,
        value.set(id, build(changedDesc)),
        value.set(id, build(desc)),
      );
    },
  );

  test.prop([pagesArb, fc.nat(), fc.integer({ min: 1, max: 9 })], { numRuns: 300 })(
    "each iommufd slice's codec encodes every field: two worlds differing in one pages field differ in hash, and pages changed back give an equal world",
    (pages, which, id) => {
      const changed = changePages(pages, which);
      const value = readSlice(m, base, IOMMUFD, IOMMUFD_PAGES).set(id, pages);
      const back = value.set(id, changed).set(id, copyPages(pages));
      expectEncoded(IOMMUFD_PAGES, value, value.set(id, changed), back);
    },
  );

  test.prop([fc.array(small, { maxLength: 4 }), fc.nat()], { numRuns: 100 })(
    "each iommufd slice's codec encodes every field: the attached devices differ in hash by one id or their order, and changed back are equal",
    (list, which) => {
      const changes = listChanges<number>([(x) => x + 1], 5);
      const change = changes[which % changes.length];
      if (change === undefined) throw new Error("no change");
      expectEncoded(IOMMUFD_ATTACHED, list, change(list), [...list]);
      const [a, b, ...rest] = list;
      if (a !== undefined && b !== undefined && a !== b) {
        expectEncoded(IOMMUFD_ATTACHED, list, [b, a, ...rest], [...list]);
      }
    },
  );

  test.prop([fc.array(fc.tuple(small, small), { maxLength: 4 }), small, small], { numRuns: 100 })(
    "each iommufd slice's codec encodes every field: the attachment index differs in hash by one pages id, and changed back is equal",
    (entries, att, pagesId) => {
      const value = entries.reduce(
        (t, [k, v]) => t.set(k, v),
        readSlice(m, base, IOMMUFD, IOMMUFD_ATTACHMENTS),
      );
      const old = value.get(att);
      const changed = value.set(att, old === undefined ? pagesId : old + 1);
      const back = old === undefined ? changed.delete(att) : changed.set(att, old);
      expectEncoded(IOMMUFD_ATTACHMENTS, value, changed, back);
    },
  );

  test.prop(
    [
      fc.array(area, { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 7 }),
    ],
    {
      numRuns: 100,
    },
  )(
    "an IOAS's area slots are not observed: the same areas in other slots give an equal world",
    (areas, firstSlot, stride) => {
      const desc: IoasDesc = {
        kind: "ioas",
        areas,
        domains: [1],
        iovaAlignment: 0x1000n,
        disableLargePages: false,
        allowed: [],
        testReserved: [],
      };
      const objects = readSlice(m, base, IOMMUFD, IOMMUFD_OBJECTS);
      const a = writeSlice(m, base, IOMMUFD, IOMMUFD_OBJECTS, objects.set(1, build(desc)));
      const reordered: IoasDesc = { ...desc, areas: [...areas].reverse() };
      const b = writeSlice(
        m,
        base,
        IOMMUFD,
        IOMMUFD_OBJECTS,
        objects.set(1, build(reordered, firstSlot, stride)),
      );
      expect(hashWorld(b)).toBe(hashWorld(a));
      expect(worldsEqual(a, b)).toBe(true);
    },
  );

  it("IOMMU_IOAS_ALLOC after N allocations adds one object and shares every other (no rewrite of ictx->objects)", () => {
    let w = base;
    for (let i = 0; i < 64; i++) w = allocIoas(m, w).world;
    const before = readSlice(m, w, IOMMUFD, IOMMUFD_OBJECTS);
    const r = allocIoas(m, w);
    const after = readSlice(m, r.world, IOMMUFD, IOMMUFD_OBJECTS);
    expect(r.ioas).toBe(before.lowestFreeId());
    expect(after.size).toBe(before.size + 1);
    for (const [id, o] of before.entries()) expect(after.get(id)).toBe(o);
    // The other slices are untouched.
    expect(readSlice(m, r.world, IOMMUFD, IOMMUFD_PAGES)).toBe(
      readSlice(m, w, IOMMUFD, IOMMUFD_PAGES),
    );
    expect(readSlice(m, r.world, IOMMUFD, IOMMUFD_ATTACHMENTS)).toBe(
      readSlice(m, w, IOMMUFD, IOMMUFD_ATTACHMENTS),
    );
  });
});
