/**
 * IOMMU_IOAS_MAP_FILE with a dma-buf fd: the kernel's check order
 * (kernel-model §3.1–3.3, §7.10), the dmabuf_simple selftest (§3.6), the
 * attach/pin/phys path and device DMA through the IOAS.
 */
import { describe, expect, it } from "vitest";
import { boot, linux619, mustBuf, runScript, worldsEqual } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  FIXED,
  PAGE,
  RW,
  allocIoas,
  attachDevice,
  dma,
  done,
  expectErrno,
  exportForeign,
  exportVfio,
  makeMachine,
  mapFile,
  mapFileOk,
  unmap,
  vfioSetup,
} from "./fixtures.js";

describe("IOMMU_IOAS_MAP_FILE argument checks, in the kernel's order (kernel-model §7.10)", () => {
  const { m, world, ioas, buf } = vfioSetup();

  it("unknown flag bits are EOPNOTSUPP before any other check", () => {
    const r = mapFile(m, world, {
      ioas: 999,
      fd: buf,
      length: 0n,
      iova: 2n ** 64n - 1n,
      flags: 8 | RW,
    });
    expectErrno(world, r, "EOPNOTSUPP");
  });

  it("iova or length >= ULONG_MAX is EOVERFLOW before the READABLE/WRITEABLE check", () => {
    expectErrno(
      world,
      mapFile(m, world, { ioas, fd: buf, length: 2n ** 64n - 1n, flags: 0 }),
      "EOVERFLOW",
    );
    expectErrno(
      world,
      mapFile(m, world, { ioas, fd: buf, length: PAGE, iova: 2n ** 64n - 1n }),
      "EOVERFLOW",
    );
  });

  it("neither READABLE nor WRITEABLE is EINVAL before the IOAS lookup", () => {
    expectErrno(
      world,
      mapFile(m, world, { ioas: 999, fd: buf, length: PAGE, flags: FIXED }),
      "EINVAL",
    );
  });

  it("an unknown IOAS is ENOENT before the length check", () => {
    expectErrno(world, mapFile(m, world, { ioas: 999, fd: buf, length: 0n }), "ENOENT");
  });

  it("length 0 is EINVAL", () => {
    expectErrno(world, mapFile(m, world, { ioas, fd: buf, length: 0n }), "EINVAL");
  });

  it("start + length - 1 wrapping is EOVERFLOW", () => {
    const r = mapFile(m, world, { ioas, fd: buf, start: 2n ** 64n - PAGE, length: 2n * PAGE });
    expectErrno(world, r, "EOVERFLOW");
  });

  it("an fd that is not a dma-buf is EBADF", () => {
    expectErrno(world, mapFile(m, world, { ioas, fd: 4242, length: PAGE }), "EBADF");
    expectErrno(world, mapFile(m, world, { ioas, fd: -1, length: PAGE }), "EBADF");
  });

  it("a slice reaching past the dma-buf's size is EINVAL, before any attach", () => {
    expectErrno(
      world,
      mapFile(m, world, { ioas, fd: buf, start: PAGE, length: 0x4000n }),
      "EINVAL",
    );
  });

  it("a slice of MAX_NPFNS pages or more is EINVAL", () => {
    const e = exportVfio(m, world, {
      region: "vfio0.bar2",
      ranges: [{ offset: 0n, length: 1n << 44n }],
    });
    const r = mapFile(m, e.world, { ioas, fd: e.buf, length: 0xffff_ffffn * PAGE });
    expectErrno(e.world, r, "EINVAL");
    if (r.status === "failed") expect(r.error.message).toContain("MAX_NPFNS");
    mapFileOk(m, e.world, { ioas, fd: e.buf, length: 0xffff_fffen * PAGE });
  });
});

describe("selftest dmabuf_simple (kernel-model §3.6)", () => {
  it("MAP_FILE(0, 0) EINVAL; (size, size) EINVAL; (0, size + 1) EINVAL; (0, size) succeeds", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const e = exportVfio(m, a.world);
    const size = mustBuf(e.world, e.buf).size;
    const w = e.world;
    expectErrno(w, mapFile(m, w, { ioas: a.ioas, fd: e.buf, start: 0n, length: 0n }), "EINVAL");
    expectErrno(w, mapFile(m, w, { ioas: a.ioas, fd: e.buf, start: size, length: size }), "EINVAL");
    expectErrno(
      w,
      mapFile(m, w, { ioas: a.ioas, fd: e.buf, start: 0n, length: size + 1n }),
      "EINVAL",
    );
    const ok = mapFileOk(m, w, { ioas: a.ioas, fd: e.buf, start: 0n, length: size });
    expect(ok.iova).not.toBe(0n);
  });
});

describe("the dma-buf import path (kernel-model §3.3)", () => {
  it("MAP_FILE attaches dynamically with P2P, is revocable, pins under 7.1 and never maps", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const b = mustBuf(mapped.world, buf);
    expect(b.attachments).toHaveLength(1);
    const att = mapped.world.atts.get(b.attachments[0] ?? -1);
    expect(att).toMatchObject({
      importer: "iommufd",
      dynamic: true,
      peer2peer: true,
      hasInvalidate: true,
      pins: 1,
      mapping: null,
      mapType: "vfio-iommufd-private",
    });
    expect(b.resvHolder).toBeNull();
  });

  it("linux-6.19: iommufd does not pin, so MAP_FILE works although VFIO's pin fails", () => {
    const { m, world, ioas, buf } = vfioSetup(linux619);
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const att = mustBuf(mapped.world, buf).attachments[0] ?? -1;
    expect(mapped.world.atts.get(att)?.pins).toBe(0);
  });

  it("a foreign (non-VFIO) dma-buf attaches, then fails the private phys lookup with EOPNOTSUPP", () => {
    const { m, world, ioas } = vfioSetup();
    const f = exportForeign(m, world);
    expectErrno(f.world, mapFile(m, f.world, { ioas, fd: f.buf, length: 0x4000n }), "EOPNOTSUPP");
  });

  it("a VFIO dma-buf of two ranges is EOPNOTSUPP under the private interconnect", () => {
    const { m, world, ioas } = vfioSetup();
    const e = exportVfio(m, world, {
      region: "vfio0.bar0",
      ranges: [
        { offset: 0n, length: 0x2000n },
        { offset: 0x8000n, length: 0x2000n },
      ],
    });
    expectErrno(e.world, mapFile(m, e.world, { ioas, fd: e.buf, length: 0x4000n }), "EOPNOTSUPP");
  });

  it("a revoked VFIO dma-buf (exported while memory was off) is ENODEV", () => {
    const { m, world, ioas } = vfioSetup();
    const e = exportVfio(m, world, {
      region: "vfio0.bar0",
      ranges: [{ offset: 0n, length: 0x4000n }],
      revoked: true,
    });
    expectErrno(e.world, mapFile(m, e.world, { ioas, fd: e.buf, length: 0x4000n }), "ENODEV");
  });

  it("the dma-buf steps run before the IOVA checks: foreign + taken FIXED IOVA is EOPNOTSUPP", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const f = exportForeign(m, mapped.world);
    const r = mapFile(m, f.world, {
      ioas,
      fd: f.buf,
      length: 0x4000n,
      iova: mapped.iova,
      flags: FIXED | RW,
    });
    expectErrno(f.world, r, "EOPNOTSUPP");
    const v = mapFile(m, f.world, {
      ioas,
      fd: buf,
      length: 0x4000n,
      iova: mapped.iova,
      flags: FIXED | RW,
    });
    expectErrno(f.world, v, "EEXIST");
  });

  it("a failure after the attach leaves a world equal to the one before (nothing attached or pinned)", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const r = mapFile(m, world, { ioas, fd: buf, length: 0x1800n });
    expectErrno(world, r, "EINVAL");
    expect(worldsEqual(r.world, world)).toBe(true);
    expect(mustBuf(world, buf).attachments).toEqual([]);
  });

  it("a start that is not page aligned is EINVAL (the IOAS's alignment is 4 KiB)", () => {
    const { m, world, ioas, buf } = vfioSetup();
    expectErrno(world, mapFile(m, world, { ioas, fd: buf, start: 0x800n, length: PAGE }), "EINVAL");
  });

  it("each MAP_FILE of the same buffer makes its own pages and attachment", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const a = mapFileOk(m, world, { ioas, fd: buf, length: 0x2000n });
    const b = mapFileOk(m, a.world, { ioas, fd: buf, start: 0x2000n, length: 0x2000n });
    expect(mustBuf(b.world, buf).attachments).toHaveLength(2);
    expect(iommufdStateOf(m, b.world).pages).toHaveLength(2);
    expect(b.iova).not.toBe(a.iova);
  });
});

describe("the attachment's lifetime (kernel-model §3.4)", () => {
  it("closing the dma-buf fd keeps the area working; UNMAP then releases the buffer", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const closed = runScript(m, mapped.world, [{ kind: "close", buf }]).world;
    expect(mustBuf(closed, buf).released).toBe(false);
    expect(dma(m, closed, "dev1", mapped.iova).outcome).toBe("ok");
    expectErrno(closed, mapFile(m, closed, { ioas, fd: buf, length: 0x4000n }), "EBADF");
    const u = done(unmap(m, closed, ioas, mapped.iova, 0x4000n));
    // Released: the buffer is freed and its fd number is free again.
    expect(u.world.bufs.has(buf)).toBe(false);
    expect(u.events.map((e) => e.kind)).toContain("release");
  });

  it("an IOAS with no device still holds its dma-buf attachment", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const e = exportVfio(m, a.world);
    const mapped = mapFileOk(m, e.world, { ioas: a.ioas, fd: e.buf, length: 0x4000n });
    expect(mustBuf(mapped.world, e.buf).attachments).toHaveLength(1);
  });
});

describe("device DMA through an IOAS (DESIGN §3.5)", () => {
  it("after attach + MAP_FILE, dev1's DMA to the IOVA reaches the BAR: ok, never a violation", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    for (const off of [0n, 0x1000n, 0x3000n]) {
      const d = dma(m, mapped.world, "dev1", mapped.iova + off, "write");
      expect(d.outcome).toBe("ok");
      expect(d.detail).toBe(`vfio0.bar0+0x${off.toString(16)}`);
    }
    expect(dma(m, mapped.world, "dev1", mapped.iova + 0x4000n).outcome).toBe("fault");
    expect(mapped.world.violations.size).toBe(0);
  });

  it("a slice maps the right offset of the buffer", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, start: 0x2000n, length: 0x1000n });
    expect(dma(m, mapped.world, "dev1", mapped.iova).detail).toBe("vfio0.bar0+0x2000");
  });

  it("a device attached after the map reaches the area too", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const e = exportVfio(m, a.world);
    const mapped = mapFileOk(m, e.world, { ioas: a.ioas, fd: e.buf, length: 0x4000n });
    expect(dma(m, mapped.world, "dev1", mapped.iova).outcome).toBe("fault");
    const w = attachDevice(m, mapped.world, "dev1", a.ioas);
    expect(dma(m, w, "dev1", mapped.iova).outcome).toBe("ok");
  });
});
