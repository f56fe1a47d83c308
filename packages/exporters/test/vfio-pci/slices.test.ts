/**
 * The vfio-pci driver's typed slices (issue 10): per-device state by config
 * index, operations in flight by lowest-free id with their queue order, and
 * the VMAs of its dma-bufs as a set. Each codec encodes every field, so
 * worlds that differ in one field differ; worlds that hold the same objects
 * are equal.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findProfile, linux71, readSlice, writeSlice } from "@dmabuf-ref/core";
import type { SliceDef, World } from "@dmabuf-ref/core";
import { vfioOperations, vfioVmas } from "@dmabuf-ref/exporters";
import type { VfioDeviceState, VfioOpKind, VfioOperation, VfioVma } from "@dmabuf-ref/exporters";
import {
  FIRST_VA,
  vfioDevicesSlice,
  vfioOpsSlice,
  vfioVmasSlice,
} from "../../src/vfio-pci/slices.js";
import type { VfioOpQueue, VfioVmaSpace } from "../../src/vfio-pci/slices.js";
import { VFIO, actOnce, exportVfio, makeWorld, runActs } from "./setup.js";
import { expectDiffer, expectSame } from "../support/worlds.js";

const KINDS: readonly VfioOpKind[] = [
  "flr",
  "reset",
  "memory-off",
  "memory-on",
  "d3hot",
  "d0",
  "low-power-entry",
  "low-power-exit",
  "hot-reset",
  "close",
  "unbind",
];

/** One changed field: its name and the object with it changed. */
type Mutator<T> = readonly [string, (x: T) => T];

const deviceMutators: readonly Mutator<VfioDeviceState>[] = [
  ["memoryEnabled", (d) => ({ ...d, memoryEnabled: !d.memoryEnabled })],
  ["power", (d) => ({ ...d, power: d.power === "D0" ? "D3hot" : "D0" })],
  ["lowPower", (d) => ({ ...d, lowPower: !d.lowPower })],
  ["open", (d) => ({ ...d, open: !d.open })],
  ["registered", (d) => ({ ...d, registered: !d.registered })],
  ["bound", (d) => ({ ...d, bound: !d.bound })],
];

const nextKind = (k: VfioOpKind): VfioOpKind =>
  KINDS[(KINDS.indexOf(k) + 1) % KINDS.length] ?? "flr";

const opMutators: readonly Mutator<VfioOperation>[] = [
  ["id", (o) => ({ ...o, id: o.id + 1 })],
  ["kind", (o) => ({ ...o, kind: nextKind(o.kind) })],
  ["devices", (o) => ({ ...o, devices: [...o.devices, "vfio1"] })],
  ["devices[0]", (o) => ({ ...o, devices: [`${o.devices[0] ?? ""}'`, ...o.devices.slice(1)] })],
  ["actor", (o) => ({ ...o, actor: `${o.actor}'` })],
  ["pc", (o) => ({ ...o, pc: o.pc + 1 })],
  ["process", (o) => ({ ...o, process: o.process === null ? "" : null })],
  ["process name", (o) => ({ ...o, process: `${o.process ?? ""}'` })],
];

const vmaMutators: readonly Mutator<VfioVma>[] = [
  ["process", (v) => ({ ...v, process: `${v.process}'` })],
  ["buf", (v) => ({ ...v, buf: v.buf + 1 })],
  ["addr", (v) => ({ ...v, addr: v.addr + 0x1000n })],
  ["len", (v) => ({ ...v, len: v.len + 0x1000n })],
  ["offset", (v) => ({ ...v, offset: v.offset + 0x1000n })],
  ["memattr", (v) => ({ ...v, memattr: 1 - v.memattr })],
];

const deviceArb: fc.Arbitrary<VfioDeviceState> = fc.record({
  memoryEnabled: fc.boolean(),
  power: fc.constantFrom("D0", "D3hot"),
  lowPower: fc.boolean(),
  open: fc.boolean(),
  registered: fc.boolean(),
  bound: fc.boolean(),
});

const opArb: fc.Arbitrary<VfioOperation> = fc.record({
  id: fc.integer({ min: 1, max: 64 }),
  kind: fc.constantFrom(...KINDS),
  devices: fc.array(fc.constantFrom("vfio0", "vfio1", "vfio2"), { minLength: 1, maxLength: 3 }),
  actor: fc.string({ maxLength: 8 }),
  pc: fc.nat(8),
  process: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
});

const u48 = fc.bigInt({ min: 0n, max: 2n ** 48n });
const vmaArb: fc.Arbitrary<VfioVma> = fc.record({
  process: fc.string({ maxLength: 8 }),
  buf: fc.nat(1000),
  addr: u48,
  len: u48,
  offset: u48,
  memattr: fc.constantFrom(0, 1),
});

function queue(ops: readonly VfioOperation[]): VfioOpQueue {
  let byId = vfioOpsSlice.initial.byId;
  for (const op of ops) byId = byId.set(op.id, op);
  return { byId, order: ops.map((o) => o.id) };
}

function vmaSpace(vmas: readonly VfioVma[]): VfioVmaSpace {
  let table = vfioVmasSlice.initial.vmas;
  for (const v of vmas) table = table.set(table.lowestFreeId(), v);
  return { vmas: table };
}

/**
 * For every mutator: the world holding `x` and the one holding the mutated
 * object differ, and changing the object back gives the first world again.
 */
function checkFields<T>(
  x: T,
  mutators: readonly Mutator<T>[],
  holding: (x: T, from: World) => World,
  w0: World,
): void {
  const a = holding(x, w0);
  for (const [field, mutate] of mutators) {
    const b = holding(mutate(x), a);
    expectDiffer(a, b, field);
    expectSame(a, holding(x, b), `${field} changed back`);
  }
}

describe("the vfio-pci slices (issue 10)", () => {
  const { m, w } = makeWorld();
  const write = <T>(from: World, def: SliceDef<T>, value: T): World =>
    writeSlice(m, from, VFIO, def, value);

  it("each vfio-pci slice's codec encodes every field: two worlds differing in one device, operation or VMA field differ in hash, and an object changed back gives an equal world", () => {
    fc.assert(
      fc.property(deviceArb, fc.integer({ min: 0, max: 2 }), (d, i) => {
        checkFields(
          d,
          deviceMutators,
          (x, from) =>
            write(from, vfioDevicesSlice, readSlice(m, from, VFIO, vfioDevicesSlice).set(i, x)),
          w,
        );
      }),
    );
    fc.assert(
      fc.property(opArb, opArb, (op, other) => {
        // The operation under test sits at its own id, behind another one.
        const second = { ...op, id: other.id === op.id ? op.id + 100 : op.id };
        checkFields(
          second,
          opMutators,
          (x, from) => {
            const q = readSlice(m, from, VFIO, vfioOpsSlice);
            const order = q.order.includes(second.id) ? q.order : [...q.order, second.id];
            return write(from, vfioOpsSlice, { byId: q.byId.set(second.id, x), order });
          },
          write(w, vfioOpsSlice, queue([other])),
        );
      }),
    );
    fc.assert(
      fc.property(vmaArb, vmaArb, (v, other) => {
        checkFields(
          v,
          vmaMutators,
          (x, from) => {
            const s = readSlice(m, from, VFIO, vfioVmasSlice);
            return write(from, vfioVmasSlice, { ...s, vmas: s.vmas.set(2, x) });
          },
          write(w, vfioVmasSlice, vmaSpace([other])),
        );
      }),
    );
  });

  it("the queue order of the operations and the next mmap address are part of the state", () => {
    fc.assert(
      fc.property(opArb, opArb, (a, b0) => {
        const b = { ...b0, id: b0.id === a.id ? a.id + 100 : b0.id };
        expectDiffer(
          write(w, vfioOpsSlice, queue([a, b])),
          write(w, vfioOpsSlice, queue([b, a])),
          "order",
        );
      }),
    );
  });

  it("the VMAs are a set: the same VMAs in other slots give an equal world, one VMA less a different one", () => {
    fc.assert(
      fc.property(fc.array(vmaArb, { minLength: 1, maxLength: 4 }), (vmas) => {
        const one = write(w, vfioVmasSlice, vmaSpace(vmas));
        expectSame(one, write(w, vfioVmasSlice, vmaSpace([...vmas].reverse())), "reversed");
        expectDiffer(one, write(w, vfioVmasSlice, vmaSpace(vmas.slice(1))), "one less");
      }),
    );
  });

  it("a device back in its initial state has no entry, and a finished operation frees its id", () => {
    const run = runActs(m, w, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { op: "config-write-command", device: "vfio0", memory: true },
    ]);
    expect(readSlice(m, run.world, VFIO, vfioDevicesSlice).size).toBe(0);
    expect(readSlice(m, run.world, VFIO, vfioOpsSlice)).toMatchObject({ order: [] });
    // Two operations ran and ended: the next ones are 1 and 2 again, queued in that order.
    const flr = actOnce(m, run.world, { op: "flr", device: "vfio0" });
    if (flr.status !== "done") throw new Error("FLR did not start");
    const off = actOnce(m, flr.world, {
      op: "config-write-command",
      device: "vfio0",
      memory: false,
    });
    if (off.status !== "done") throw new Error("PCI_COMMAND write did not queue");
    expect(vfioOperations(m, off.world, "vfio0").map((o) => [o.id, o.kind])).toEqual([
      [1, "flr"],
      [2, "memory-off"],
    ]);
  });

  it("the VMAs read back in address order, as they were mapped", () => {
    const { m: mc, w: wc } = makeWorld({
      profile: findProfile("proposal-vfio-dmabuf-mmap") ?? linux71,
    });
    const e = exportVfio(mc, wc, [{ offset: 0n, length: 0x2000n }]);
    const mmap = { op: "mmap", process: "client", buf: e.buf, offset: 0n, shared: true } as const;
    const r = runActs(mc, e.world, [mmap, mmap, mmap]);
    const addrs = vfioVmas(mc, r.world, "vfio0").map((v) => v.addr);
    expect(addrs).toEqual([FIRST_VA, FIRST_VA + 0x3000n, FIRST_VA + 0x6000n]);
  });
});
