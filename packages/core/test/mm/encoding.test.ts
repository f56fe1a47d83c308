/**
 * The mm state is part of the World's canonical encoding: worlds that
 * differ in one VMA or one memfd differ in hash and compare unequal, and
 * worlds that no access can tell apart are equal (a mapping restored,
 * a memfd created and freed).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MM_PAGE_SIZE, hashWorld, worldsEqual } from "@dmabuf-ref/core";
import { fresh, sys } from "./setup.js";

const BASE = 0x7f00_0000_0000n;

describe("mm state encoding", () => {
  it("two worlds differing in one VMA differ in hash and are unequal", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), (a, b) => {
        const { m, w } = fresh();
        const c = sys(m, w, { op: "memfd_create", size: 0x100_0000n });
        const fd = Number(c.ret);
        const x = sys(m, c.world, {
          op: "mmap",
          fd,
          length: 0x1000n,
          addr: BASE + BigInt(a) * MM_PAGE_SIZE,
        });
        const y = sys(m, c.world, {
          op: "mmap",
          fd,
          length: 0x1000n,
          addr: BASE + BigInt(b) * MM_PAGE_SIZE,
        });
        expect(worldsEqual(x.world, y.world)).toBe(a === b);
        if (a !== b) expect(hashWorld(x.world)).not.toBe(hashWorld(y.world));
        else expect(hashWorld(x.world)).toBe(hashWorld(y.world));
      }),
    );
  });

  it("a mapping's protection is part of the state", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x1000n });
    const fd = Number(c.ret);
    const rw = sys(m, c.world, { op: "mmap", fd, length: 0x1000n, addr: BASE });
    const ro = sys(m, c.world, { op: "mmap", fd, length: 0x1000n, addr: BASE, prot: ["READ"] });
    expect(worldsEqual(rw.world, ro.world)).toBe(false);
    expect(hashWorld(rw.world)).not.toBe(hashWorld(ro.world));
  });

  it("restoring a mapping after munmap gives an equal world", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x10000n });
    const fd = Number(c.ret);
    const whole = sys(m, c.world, { op: "mmap", fd, length: 0x10000n, addr: BASE });
    const holed = sys(m, whole.world, { op: "munmap", addr: BASE + 0x4000n, length: 0x2000n });
    expect(worldsEqual(holed.world, whole.world)).toBe(false);
    // Mapping the hole again at its file offset merges back into one VMA.
    const again = sys(m, holed.world, {
      op: "mmap",
      fd,
      offset: 0x4000n,
      length: 0x2000n,
      addr: BASE + 0x4000n,
    });
    expect(worldsEqual(again.world, whole.world)).toBe(true);
    expect(hashWorld(again.world)).toBe(hashWorld(whole.world));
  });

  it("a memfd created and closed leaves the world as another one created and closed does", () => {
    const { m, w } = fresh();
    const a = sys(m, w, { op: "memfd_create", size: 0x4000n });
    const closedA = sys(m, a.world, { op: "close-fd", fd: Number(a.ret) });
    const b = sys(m, w, { op: "memfd_create", size: 1n << 32n });
    const closedB = sys(m, b.world, { op: "close-fd", fd: Number(b.ret) });
    expect(worldsEqual(closedA.world, closedB.world)).toBe(true);
    expect(hashWorld(closedA.world)).toBe(hashWorld(closedB.world));
    // And the next memfd gets the same fd again (lowest free id).
    expect(sys(m, closedA.world, { op: "memfd_create", size: 0x1000n }).ret).toBe(a.ret);
  });
});
