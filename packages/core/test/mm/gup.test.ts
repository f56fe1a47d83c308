/**
 * pin_user_pages(FOLL_LONGTERM) and memfd pins as an importer (iommufd)
 * uses them: anonymous memory everywhere but page 0, EFAULT for what GUP
 * refuses (VM_PFNMAP / VM_IO mappings, unmapped ranges, pages past a
 * memfd's end), and pins that keep a memfd's pages alive.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  MM_PAGE_SIZE,
  TASK_SIZE,
  anonRegionName,
  grantAccess,
  holdPages,
  memfdPages,
  memfdRegionName,
  pinMemfdPages,
  pinUserPages,
  regionNamed,
  releasePages,
  step,
  userPages,
  vfioPciIndexToOffset,
} from "@dmabuf-ref/core";
import { exportBuf, fresh, sys } from "./setup.js";

const GiB = 1n << 30n;

function errnoOf(r: { ok: true } | { ok: false; error: { errno: string } }): string {
  return r.ok ? "ok" : r.error.errno;
}

describe("pin of user memory", () => {
  it("pin of page 0 fails with EFAULT", () => {
    const { m, w } = fresh();
    expect(errnoOf(userPages(m, w, "vmm", 0n, 0x1000n))).toBe("EFAULT");
    expect(errnoOf(userPages(m, w, "vmm", 0xfffn, 2n))).toBe("EFAULT");
    expect(errnoOf(userPages(m, w, "vmm", 0x1000n, 0x1000n))).toBe("ok");
  });

  it("pin at or above TASK_SIZE fails with EFAULT", () => {
    const { m, w } = fresh();
    expect(errnoOf(userPages(m, w, "vmm", TASK_SIZE - 0x1000n, 0x2000n))).toBe("EFAULT");
    expect(errnoOf(userPages(m, w, "vmm", TASK_SIZE - 0x1000n, 0x1000n))).toBe("ok");
  });

  it("pin of a VFIO BAR mmap fails with EFAULT naming the address (GUP refuses VM_PFNMAP)", () => {
    const { m, w } = fresh();
    const bar = sys(m, w, {
      op: "mmap",
      fd: "gpu0",
      offset: vfioPciIndexToOffset(0),
      length: 0x10_0000n,
    });
    const r = userPages(m, bar.world, "vmm", bar.ret - 0x1000n, 0x3000n);
    expect(errnoOf(r)).toBe("EFAULT");
    expect(r.ok ? "" : r.error.message).toContain(bar.ret.toString(16));
  });

  it("pin of a dma-buf mmap fails with EFAULT", () => {
    const { m, w } = fresh();
    const e = exportBuf(m, w, "mmapper", 0x4000n);
    const mapped = sys(m, e.world, { op: "mmap", fd: e.buf, length: 0x4000n });
    expect(errnoOf(userPages(m, mapped.world, "vmm", mapped.ret, 0x1000n))).toBe("EFAULT");
  });

  it("a write pin of a read-only mapping fails with EFAULT; a read pin succeeds", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x4000n });
    const ro = sys(m, c.world, { op: "mmap", fd: Number(c.ret), length: 0x4000n, prot: ["READ"] });
    expect(errnoOf(userPages(m, ro.world, "vmm", ro.ret, 0x4000n, { write: true }))).toBe("EFAULT");
    expect(errnoOf(userPages(m, ro.world, "vmm", ro.ret, 0x4000n))).toBe("ok");
  });

  it("distinct user pages are distinct memory, and the same page is the same memory", () => {
    const va = fc.bigInt({ min: 1n, max: (TASK_SIZE >> 12n) - 1n }).map((p) => p * MM_PAGE_SIZE);
    fc.assert(
      fc.property(va, va, fc.integer({ min: 0, max: 4095 }), (a, b, off) => {
        const { m, w } = fresh();
        const pa = userPages(m, w, "vmm", a + BigInt(off), 1n);
        const pb = userPages(m, w, "vmm", b + BigInt(off), 1n);
        if (!pa.ok || !pb.ok) throw new Error("anonymous memory must pin");
        expect(pa.value[0]?.phys === pb.value[0]?.phys).toBe(a === b);
        expect(pa.value[0]?.region).toBe(anonRegionName("vmm"));
      }),
    );
  });

  it("two processes' anonymous memory at the same user VA is distinct memory", () => {
    const { m, w } = fresh();
    const a = pinUserPages(m, w, "vmm", 0x7f00_0000_0000n, 0x1000n);
    if (!a.ok) throw new Error("pin");
    const b = pinUserPages(m, a.value.world, "other", 0x7f00_0000_0000n, 0x1000n);
    if (!b.ok) throw new Error("pin");
    expect(a.value.pieces[0]?.phys).not.toBe(b.value.pieces[0]?.phys);
    expect(b.value.pieces[0]?.region).toBe(anonRegionName("other"));
  });

  it("4 GiB of anonymous memory at QEMU-like addresses pins as one piece", () => {
    const { m, w } = fresh();
    const ram = 0x7f3a_4000_0000n;
    const r = pinUserPages(m, w, "vmm", ram, 4n * GiB, { write: true });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.pieces).toHaveLength(1);
    expect(r.value.pieces[0]?.len).toBe(4n * GiB);
    // A second 4 GiB above it is other memory: no alias modulo any RAM size.
    const hi = userPages(m, r.value.world, "vmm", ram + 4n * GiB, 4n * GiB);
    if (!hi.ok) throw new Error("pin");
    expect(hi.value[0]?.phys).toBe((r.value.pieces[0]?.phys ?? 0n) + 4n * GiB);
  });

  it("a DMA to a pinned anonymous page lands in the process's memory at offset = user VA", () => {
    const { m, w } = fresh();
    const va = 0x7f3a_4000_2000n;
    const pinned = pinUserPages(m, w, "vmm", va, 0x1000n);
    if (!pinned.ok) throw new Error("pin");
    const piece = pinned.value.pieces[0];
    if (piece === undefined) throw new Error("no piece");
    const granted = grantAccess(pinned.value.world, {
      device: "dev2",
      phys: piece.phys,
      len: piece.len,
      write: true,
      att: null,
    });
    if (granted === undefined) throw new Error("the anonymous region must exist once pinned");
    // dev2 has no IOMMU: the address it issues is physical.
    const r = step(m, granted.world, {
      kind: "dma",
      device: "dev2",
      addr: piece.phys + 8n,
      len: 8n,
      dir: "write",
    });
    expect(r.status).toBe("done");
    const dma = r.status === "done" ? r.events.find((e) => e.kind === "dma") : undefined;
    expect(dma).toMatchObject({ outcome: "ok", detail: `vmm.anon+0x${(va + 8n).toString(16)}` });
  });
});

describe("memfd pins", () => {
  it("memfd pages of a page past the end of the file fail with EINVAL; the last partial page is there", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x1800n });
    const fd = Number(c.ret);
    expect(
      errnoOf(memfdPages(m, c.world, fd, 0n, 0x2000n) ?? { ok: false, error: { errno: "none" } }),
    ).toBe("ok");
    expect(errnoOf(memfdPages(m, c.world, fd, 0n, 0x2001n) ?? { ok: true })).toBe("EINVAL");
  });

  it("memfd pages past the end of the file fail with EINVAL", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x4000n });
    const fd = Number(c.ret);
    expect(errnoOf(memfdPages(m, c.world, fd, 0x3000n, 0x2000n) ?? { ok: true })).toBe("EINVAL");
    const r = memfdPages(m, c.world, fd, 0x1000n, 0x3000n);
    expect(r?.ok && r.value).toEqual([
      expect.objectContaining({
        start: 0x1000n,
        len: 0x3000n,
        region: memfdRegionName("vmm", fd - 0x100000),
      }),
    ]);
  });

  it("memfd pages of an fd that is not a memfd are undefined (the caller tries other files)", () => {
    const { m, w } = fresh();
    const e = exportBuf(m, w, "ref-exporter", 0x1000n);
    expect(memfdPages(m, e.world, e.buf, 0n, 0x1000n)).toBeUndefined();
  });

  it("a pin of a memfd mapping past the end of the file fails with EFAULT at the first page past it", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x2000n });
    const mapped = sys(m, c.world, { op: "mmap", fd: Number(c.ret), length: 0x4000n });
    expect(errnoOf(userPages(m, mapped.world, "vmm", mapped.ret, 0x2000n))).toBe("ok");
    const r = userPages(m, mapped.world, "vmm", mapped.ret, 0x3000n);
    expect(errnoOf(r)).toBe("EFAULT");
    expect(r.ok ? "" : r.error.message).toContain((mapped.ret + 0x2000n).toString(16));
  });

  it("a mapped memfd and its file pins reach the same physical pages", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x10_0000n });
    const mapped = sys(m, c.world, {
      op: "mmap",
      fd: Number(c.ret),
      offset: 0x4000n,
      length: 0x8000n,
    });
    const viaVa = userPages(m, mapped.world, "vmm", mapped.ret + 0x1000n, 0x1000n);
    const viaFile = memfdPages(m, mapped.world, Number(c.ret), 0x5000n, 0x1000n);
    expect(viaVa.ok && viaVa.value[0]?.phys).toBe(viaFile?.ok && viaFile.value[0]?.phys);
  });

  it("pinned memfd pages outlive close and munmap, and are freed when unpinned", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x4000n });
    const fd = Number(c.ret);
    const mapped = sys(m, c.world, { op: "mmap", fd, length: 0x4000n });
    const pinned = pinUserPages(m, mapped.world, "vmm", mapped.ret, 0x4000n);
    if (!pinned.ok) throw new Error("pin");
    const filePin = pinMemfdPages(m, pinned.value.world, fd, 0n, 0x1000n);
    if (filePin === undefined || !filePin.ok) throw new Error("file pin");
    const closed = sys(m, filePin.value.world, { op: "close-fd", fd });
    const unmapped = sys(m, closed.world, { op: "munmap", addr: mapped.ret, length: 0x4000n });
    const region = memfdRegionName("vmm", fd - 0x100000);
    expect(regionNamed(unmapped.world, region)?.[1].status).toBe("live");
    const one = releasePages(unmapped.world, pinned.value.pieces);
    expect(regionNamed(one, region)?.[1].status).toBe("live");
    const both = releasePages(one, filePin.value.pieces);
    expect(regionNamed(both, region)).toBeUndefined();
  });

  it("holding pages of anonymous memory creates the process's region once", () => {
    const { m, w } = fresh();
    const r = userPages(m, w, "vmm", 0x10_0000n, 0x1000n);
    if (!r.ok) throw new Error("pin");
    const held = holdPages(m, w, "vmm", r.value);
    expect(regionNamed(held, anonRegionName("vmm"))).toBeDefined();
    expect(holdPages(m, held, "vmm", r.value)).toBe(held);
  });
});
