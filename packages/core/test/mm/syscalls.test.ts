/**
 * The mm syscalls (memfd_create, mmap, munmap, close) as a VMM issues them:
 * each checks in the kernel's order and answers with the kernel's errno,
 * leaving the world unchanged on failure.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  MEMFD_FD_BASE,
  MM_PAGE_SIZE,
  deviceMapped,
  grantAccess,
  memfdPages,
  step,
  TASK_SIZE,
  memfdRegionName,
  parseOp,
  regionNamed,
  userPages,
  vfioPciIndexToOffset,
  vmasOf,
} from "@dmabuf-ref/core";
import { exportBuf, fresh, sys, sysErrno } from "./setup.js";

const GiB = 1n << 30n;

describe("mmap validation", () => {
  it("mmap of length 0 fails with EINVAL", () => {
    const { m, w } = fresh();
    expect(sysErrno(m, w, { op: "mmap", fd: "gpu0", offset: 0n, length: 0n })).toBe("EINVAL");
  });

  it("mmap with an offset that is not page aligned fails with EINVAL, before the fd is looked up", () => {
    const { m, w } = fresh();
    expect(sysErrno(m, w, { op: "mmap", fd: "gpu0", offset: 0x10n, length: 0x1000n })).toBe(
      "EINVAL",
    );
    expect(sysErrno(m, w, { op: "mmap", fd: 4242, offset: 0x10n, length: 0x1000n })).toBe("EINVAL");
  });

  it("mmap of an fd that is no device, memfd or dma-buf fails with EBADF", () => {
    const { m, w } = fresh();
    expect(sysErrno(m, w, { op: "mmap", fd: 7, length: 0x1000n })).toBe("EBADF");
    expect(sysErrno(m, w, { op: "mmap", fd: "nodev", length: 0x1000n })).toBe("EBADF");
    expect(sysErrno(m, w, { op: "mmap", fd: MEMFD_FD_BASE + 1, length: 0x1000n })).toBe("EBADF");
  });

  it("MAP_FIXED at an address that is not page aligned fails with EINVAL", () => {
    const { m, w } = fresh();
    const { world, ret: fd } = sys(m, w, { op: "memfd_create", size: 0x10000n });
    expect(
      sysErrno(m, world, { op: "mmap", fd: Number(fd), length: 0x1000n, addr: 0x10_0000_0800n }),
    ).toBe("EINVAL");
  });

  it("MAP_FIXED at page 0 fails with EPERM (below mmap_min_addr)", () => {
    const { m, w } = fresh();
    const { world, ret: fd } = sys(m, w, { op: "memfd_create", size: 0x10000n });
    expect(sysErrno(m, world, { op: "mmap", fd: Number(fd), length: 0x1000n, addr: 0n })).toBe(
      "EPERM",
    );
  });

  it("a mapping longer than TASK_SIZE or running past it fails with ENOMEM", () => {
    const { m, w } = fresh();
    const { world, ret: fd } = sys(m, w, { op: "memfd_create", size: 0x10000n });
    expect(sysErrno(m, world, { op: "mmap", fd: Number(fd), length: TASK_SIZE + 1n })).toBe(
      "ENOMEM",
    );
    expect(
      sysErrno(m, world, {
        op: "mmap",
        fd: Number(fd),
        length: 0x2000n,
        addr: TASK_SIZE - 0x1000n,
      }),
    ).toBe("ENOMEM");
  });

  it("mmap of a VFIO region that is not a BAR (ROM, index 6) fails with EINVAL", () => {
    const { m, w } = fresh();
    const offset = vfioPciIndexToOffset(6);
    expect(sysErrno(m, w, { op: "mmap", fd: "gpu0", offset, length: 0x1000n })).toBe("EINVAL");
  });

  it("mmap of a BAR the device does not have fails with EINVAL", () => {
    const { m, w } = fresh();
    const offset = vfioPciIndexToOffset(1);
    expect(sysErrno(m, w, { op: "mmap", fd: "gpu0", offset, length: 0x1000n })).toBe("EINVAL");
  });

  it("mmap past the end of a VFIO BAR fails with EINVAL; up to its page-aligned end succeeds", () => {
    const { m, w } = fresh();
    const bar0 = vfioPciIndexToOffset(0);
    expect(sysErrno(m, w, { op: "mmap", fd: "gpu0", offset: bar0, length: 0x100_1000n })).toBe(
      "EINVAL",
    );
    expect(
      sysErrno(m, w, { op: "mmap", fd: "gpu0", offset: bar0 + 0xff_f000n, length: 0x2000n }),
    ).toBe("EINVAL");
    sys(m, w, { op: "mmap", fd: "gpu0", offset: bar0, length: 0x100_0000n });
    // A 2 KiB BAR: PAGE_ALIGN(pci_resource_len) is one page, and that page can be mapped.
    const bar2 = vfioPciIndexToOffset(2);
    sys(m, w, { op: "mmap", fd: "gpu0", offset: bar2, length: 0x1000n });
    expect(sysErrno(m, w, { op: "mmap", fd: "gpu0", offset: bar2, length: 0x2000n })).toBe(
      "EINVAL",
    );
  });

  it("mmap of a dma-buf whose exporter has no mmap op fails with EINVAL", () => {
    const { m, w } = fresh();
    const { world, buf } = exportBuf(m, w, "ref-exporter", 0x4000n);
    expect(sysErrno(m, world, { op: "mmap", fd: buf, length: 0x1000n })).toBe("EINVAL");
  });

  it("mmap of a dma-buf past its size fails with EINVAL", () => {
    const { m, w } = fresh();
    const { world, buf } = exportBuf(m, w, "mmapper", 0x4000n);
    expect(sysErrno(m, world, { op: "mmap", fd: buf, offset: 0x2000n, length: 0x3000n })).toBe(
      "EINVAL",
    );
  });
});

describe("mmap placement", () => {
  it("mmap without an address places mappings top-down below TASK_SIZE, never overlapping", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        (pages) => {
          const { m, w } = fresh();
          const created = sys(m, w, { op: "memfd_create", size: 0x100_0000n });
          const fd = created.ret;
          let world = created.world;
          const placed: { start: bigint; end: bigint }[] = [];
          for (const n of pages) {
            const len = BigInt(n) * MM_PAGE_SIZE;
            const r = sys(m, world, { op: "mmap", fd: Number(fd), length: len });
            world = r.world;
            expect(r.ret % MM_PAGE_SIZE).toBe(0n);
            expect(r.ret + len <= TASK_SIZE).toBe(true);
            for (const p of placed) expect(r.ret + len <= p.start || r.ret >= p.end).toBe(true);
            placed.push({ start: r.ret, end: r.ret + len });
          }
          // Each new mapping goes right below the previous one (the highest free range).
          expect(placed[0]?.end).toBe(TASK_SIZE);
          placed.slice(1).forEach((p, i) => {
            expect(p.end).toBe(placed[i]?.start);
          });
        },
      ),
    );
  });

  it("MAP_FIXED replaces what the range held (the old VMA is cut, the new one in its place)", () => {
    const { m, w } = fresh();
    const a = sys(m, w, { op: "memfd_create", size: 0x10_0000n });
    const fd = Number(a.ret);
    const base = 0x7f00_0000_0000n;
    const mapped = sys(m, a.world, { op: "mmap", fd, length: 0x10_0000n, addr: base });
    const bar = sys(m, mapped.world, {
      op: "mmap",
      fd: "gpu0",
      offset: vfioPciIndexToOffset(0),
      length: 0x2000n,
      addr: base + 0x4000n,
    });
    expect(bar.ret).toBe(base + 0x4000n);
    const kinds = vmasOf(bar.world, "vmm").map((v) => [
      v.start - base,
      v.end - base,
      v.backing.kind,
    ]);
    expect(kinds).toEqual([
      [0n, 0x4000n, "memfd"],
      [0x4000n, 0x6000n, "device"],
      [0x6000n, 0x10_0000n, "memfd"],
    ]);
    // The memfd part after the BAR keeps its file offset.
    const after = userPages(m, bar.world, "vmm", base + 0x6000n, 0x1000n);
    const before = userPages(m, mapped.world, "vmm", base + 0x6000n, 0x1000n);
    expect(after).toEqual(before);
    expect(userPages(m, bar.world, "vmm", base + 0x4000n, 0x1000n).ok).toBe(false);
  });
});

describe("munmap", () => {
  it("munmap at an address that is not page aligned, or of length 0, fails with EINVAL", () => {
    const { m, w } = fresh();
    expect(sysErrno(m, w, { op: "munmap", addr: 0x10_0000_0010n, length: 0x1000n })).toBe("EINVAL");
    expect(sysErrno(m, w, { op: "munmap", addr: 0x10_0000_0000n, length: 0n })).toBe("EINVAL");
    expect(sysErrno(m, w, { op: "munmap", addr: TASK_SIZE, length: 0x1000n })).toBe("EINVAL");
  });

  it("munmap leaves the range unbacked: a pin there fails with EFAULT, next to it succeeds", () => {
    const { m, w } = fresh();
    const va = 0x7f12_3456_0000n;
    expect(userPages(m, w, "vmm", va, 0x4000n).ok).toBe(true);
    const { world } = sys(m, w, { op: "munmap", addr: va + 0x1000n, length: 0x1000n });
    const r = userPages(m, world, "vmm", va, 0x4000n);
    expect(r.ok ? "ok" : r.error.errno).toBe("EFAULT");
    expect(r.ok ? "" : r.error.message).toContain((va + 0x1000n).toString(16));
    expect(userPages(m, world, "vmm", va, 0x1000n).ok).toBe(true);
    expect(userPages(m, world, "vmm", va + 0x2000n, 0x2000n).ok).toBe(true);
  });
});

describe("memfd and close", () => {
  it("memfd fds never collide with dma-buf fds", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 12 }), (which) => {
        const { m, w: booted } = fresh();
        let w = booted;
        const fds: number[] = [];
        for (const memfd of which) {
          if (memfd) {
            const r = sys(m, w, { op: "memfd_create", size: 0x1000n });
            w = r.world;
            fds.push(Number(r.ret));
          } else {
            const r = exportBuf(m, w, "ref-exporter", 0x1000n);
            w = r.world;
            fds.push(r.buf);
          }
        }
        expect(new Set(fds).size).toBe(fds.length);
      }),
    );
  });

  it("a memfd's pages live on after close while mapped, and are freed after the last munmap", () => {
    const { m, w } = fresh();
    const c = sys(m, w, { op: "memfd_create", size: 0x4000n });
    const fd = Number(c.ret);
    const va = 0x7e00_0000_0000n;
    const mapped = sys(m, c.world, { op: "mmap", fd, length: 0x4000n, addr: va });
    const closed = sys(m, mapped.world, { op: "close-fd", fd });
    const region = memfdRegionName("vmm", fd - MEMFD_FD_BASE);
    expect(regionNamed(closed.world, region)?.[1].status).toBe("live");
    const r = userPages(m, closed.world, "vmm", va, 0x4000n);
    expect(r.ok && r.value[0]?.region).toBe(region);
    const unmapped = sys(m, closed.world, { op: "munmap", addr: va, length: 0x4000n });
    expect(regionNamed(unmapped.world, region)).toBeUndefined();
    expect(unmapped.world.memfds.size).toBe(0);
  });

  it("close of an fd that is not open fails with EBADF", () => {
    const { m, w } = fresh();
    expect(sysErrno(m, w, { op: "close-fd", fd: 3 })).toBe("EBADF");
    const c = sys(m, w, { op: "memfd_create", size: 0x1000n });
    const closed = sys(m, c.world, { op: "close-fd", fd: Number(c.ret) });
    expect(sysErrno(m, closed.world, { op: "close-fd", fd: Number(c.ret) })).toBe("EBADF");
  });

  it("a dma-buf's mmap holds its file: close of its fd releases it only after the last munmap", () => {
    const { m, w } = fresh();
    const e = exportBuf(m, w, "mmapper", 0x4000n);
    const mapped = sys(m, e.world, { op: "mmap", fd: e.buf, length: 0x4000n });
    const twice = sys(m, mapped.world, { op: "mmap", fd: e.buf, length: 0x1000n });
    const closed = sys(m, twice.world, { op: "close-fd", fd: e.buf });
    expect(closed.world.bufs.has(e.buf)).toBe(true);
    const one = sys(m, closed.world, { op: "munmap", addr: mapped.ret, length: 0x4000n });
    expect(one.world.bufs.has(e.buf)).toBe(true);
    const two = sys(m, one.world, { op: "munmap", addr: twice.ret, length: 0x1000n });
    expect(two.world.bufs.has(e.buf)).toBe(false);
  });

  it("close of a dma-buf fd with no mapping releases the buffer", () => {
    const { m, w } = fresh();
    const e = exportBuf(m, w, "ref-exporter", 0x4000n);
    const closed = sys(m, e.world, { op: "close-fd", fd: e.buf });
    expect(closed.world.bufs.has(e.buf)).toBe(false);
  });

  it("a memfd larger than the model's largest file fails with EFBIG", () => {
    const { m, w } = fresh();
    expect(sysErrno(m, w, { op: "memfd_create", size: 1n << 45n })).toBe("EFBIG");
  });
});

/** A one-page memfd that dev2 was granted write access to, then closed: its region freed, the grant stale. */
function memfdClosedUnderGrant(): {
  m: ReturnType<typeof fresh>["m"];
  closed: ReturnType<typeof sys>;
  piece: { region: string; phys: bigint };
} {
  const { m, w } = fresh();
  const c = sys(m, w, { op: "memfd_create", size: 0x1000n });
  const fd = Number(c.ret);
  const pages = memfdPages(m, c.world, fd, 0n, 0x1000n);
  const piece = pages?.ok === true ? pages.value[0] : undefined;
  if (piece === undefined) throw new Error("memfd pages");
  const granted = grantAccess(c.world, {
    device: "dev2",
    phys: piece.phys,
    len: piece.len,
    write: true,
    att: null,
  });
  if (granted === undefined) throw new Error("grant");
  return { m, closed: sys(m, granted.world, { op: "close-fd", fd }), piece };
}

describe("what mappings hold", () => {
  it("a BAR mmap holds the device until its last munmap", () => {
    const { m, w } = fresh();
    expect(deviceMapped(w, "gpu0")).toBe(false);
    const bar = sys(m, w, {
      op: "mmap",
      fd: "gpu0",
      offset: vfioPciIndexToOffset(0),
      length: 0x2000n,
    });
    expect(deviceMapped(bar.world, "gpu0")).toBe(true);
    const half = sys(m, bar.world, { op: "munmap", addr: bar.ret, length: 0x1000n });
    expect(deviceMapped(half.world, "gpu0")).toBe(true);
    const gone = sys(m, half.world, { op: "munmap", addr: bar.ret + 0x1000n, length: 0x1000n });
    expect(deviceMapped(gone.world, "gpu0")).toBe(false);
  });

  it("a memfd freed while a device still has a grant into it leaves that grant stale", () => {
    const { m, closed, piece } = memfdClosedUnderGrant();
    expect(regionNamed(closed.world, piece.region)?.[1].status).toBe("freed");
    const r = step(m, closed.world, {
      kind: "dma",
      device: "dev2",
      addr: piece.phys,
      len: 8n,
      dir: "write",
    });
    expect(r.status === "done" && r.events.find((e) => e.kind === "dma")).toMatchObject({
      outcome: "violation",
    });
  });
});

describe("a memfd id used again while a stale grant keeps the old one's region", () => {
  it("the new memfd's region is the one its name finds, a write through the old grant is stale, and closing it frees it", () => {
    const { m, closed, piece } = memfdClosedUnderGrant();
    const ghost = regionNamed(closed.world, piece.region);
    expect(ghost?.[1].status).toBe("freed");
    // The same id again (lowest free): same name, same memory.
    const again = sys(m, closed.world, { op: "memfd_create", size: 0x1000n });
    const fresh2 = regionNamed(again.world, piece.region);
    expect(fresh2?.[1].status).toBe("live");
    expect(fresh2?.[0]).not.toBe(ghost?.[0]);
    // dev2's mapping predates the free: a write through it is a stale grant, not PFN fishing.
    const r = step(m, again.world, {
      kind: "dma",
      device: "dev2",
      addr: piece.phys,
      len: 8n,
      dir: "write",
    });
    expect(r.status === "done" && [...r.world.violations.values()].map((v) => v.kind)).toEqual([
      "stale-grant",
    ]);
    // Closing the new memfd frees its own region, not the ghost again.
    const closedAgain = sys(m, again.world, { op: "close-fd", fd: Number(again.ret) });
    const live = [...closedAgain.world.regions.values()].filter(
      (x) => x.id === piece.region && x.status !== "freed",
    );
    expect(live).toEqual([]);
  });
});

describe("plain form", () => {
  it("the plain form names the mm syscalls on any machine", () => {
    const { m } = fresh();
    const r = parseOp(m, { op: "munmap", addr: "0x10000", length: 4096 });
    expect(r.success && r.data).toEqual({
      kind: "driver",
      driver: "mm",
      action: { op: "munmap", process: "vmm", addr: 0x10000n, length: 4096n },
    });
    const c = parseOp(m, { op: "memfd_create", size: 4n * GiB });
    expect(c.success).toBe(true);
  });
});
