/**
 * The GPU driver's typed slice (issue 10): the moves in flight, by
 * lowest-free id, with the order they started in. Its codec encodes every
 * field, so worlds that differ in one field differ, and a move changed back
 * gives the same world.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readSlice, step, writeSlice } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";
import { gpuSliceOf, isGpuExporter } from "@dmabuf-ref/exporters";
import type { GpuMove } from "@dmabuf-ref/exporters";
import { gpuMovesSlice } from "../../src/gpu/state.js";
import type { GpuMoves } from "../../src/gpu/state.js";
import { exportBuf, makeWorld, migrate, mustDo } from "./setup.js";
import { expectDiffer, expectSame } from "../support/worlds.js";

/** One changed field: its name and the move with it changed. */
type Mutator = readonly [string, (x: GpuMove) => GpuMove];

const moveMutators: readonly Mutator[] = [
  ["id", (mv) => ({ ...mv, id: mv.id + 1 })],
  ["buf", (mv) => ({ ...mv, buf: mv.buf + 1 })],
  ["to", (mv) => ({ ...mv, to: mv.to === "vram" ? "system" : "vram" })],
  ["phys", (mv) => ({ ...mv, phys: mv.phys + 0x1000n })],
  ["holder", (mv) => ({ ...mv, holder: `${mv.holder}'` })],
];

const moveArb: fc.Arbitrary<GpuMove> = fc.record({
  id: fc.integer({ min: 1, max: 64 }),
  buf: fc.nat(1000),
  to: fc.constantFrom("vram", "system"),
  phys: fc.bigInt({ min: 0n, max: 2n ** 48n }),
  holder: fc.string({ maxLength: 16 }),
});

function movesOf(moves: readonly GpuMove[]): GpuMoves {
  let byId = gpuMovesSlice.initial.byId;
  for (const mv of moves) byId = byId.set(mv.id, mv);
  return { byId, order: moves.map((mv) => mv.id) };
}

describe("the GPU slice (issue 10)", () => {
  const { m, w } = makeWorld();
  const write = (from: World, value: GpuMoves): World =>
    writeSlice(m, from, "gpu", gpuMovesSlice, value);

  it("each gpu slice's codec encodes every field: two worlds differing in one move field differ in hash, and a move changed back gives an equal world", () => {
    fc.assert(
      fc.property(moveArb, moveArb, (mv0, other) => {
        // The move under test sits at its own id, behind another one.
        const mv = { ...mv0, id: other.id === mv0.id ? mv0.id + 100 : mv0.id };
        const holding = (x: GpuMove, from: World): World => {
          const s = readSlice(m, from, "gpu", gpuMovesSlice);
          const order = s.order.includes(mv.id) ? s.order : [...s.order, mv.id];
          return write(from, { byId: s.byId.set(mv.id, x), order });
        };
        const a = holding(mv, write(w, movesOf([other])));
        for (const [field, mutate] of moveMutators) {
          const b = holding(mutate(mv), a);
          expectDiffer(a, b, field);
          expectSame(a, holding(mv, b), `${field} changed back`);
        }
        expectDiffer(write(w, movesOf([other, mv])), write(w, movesOf([mv, other])), "order");
      }),
    );
  });

  it("a move's id is the lowest free one, and gpuSliceOf lists the moves oldest first", () => {
    const a = exportBuf(m, w, "gpu", "gpu0", { size: 0x10000n, placement: "system" });
    const b = exportBuf(m, a.world, "gpu", "gpu0", { size: 0x10000n, placement: "system" });
    const driver = m.exporters.get("gpu");
    if (driver === undefined || !isGpuExporter(driver)) throw new Error("no gpu driver");
    const config = driver.gpu;
    const one = mustDo(step(m, b.world, migrate(a.buf, "vram"))).world;
    const two = mustDo(step(m, one, migrate(b.buf, "vram"))).world;
    expect(gpuSliceOf(m, two, config).moves.map((mv) => [mv.id, mv.buf])).toEqual([
      [1, a.buf],
      [2, b.buf],
    ]);
    const done = mustDo(
      step(m, two, { kind: "driver", driver: "gpu", action: { op: "continue", id: 1 } }),
    ).world;
    const back = mustDo(step(m, done, migrate(a.buf, "system"))).world;
    expect(gpuSliceOf(m, back, config).moves.map((mv) => [mv.id, mv.buf])).toEqual([
      [2, b.buf],
      [1, a.buf],
    ]);
  });
});
