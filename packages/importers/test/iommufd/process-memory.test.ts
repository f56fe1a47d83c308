/**
 * What IOMMU_IOAS_MAP and IOMMU_IOAS_MAP_FILE pin (kernel-model §3.1, §8.2):
 * the calling process's own memory at `user_va` (GUP, FOLL_LONGTERM) and a
 * memfd's pages, pinned when a domain needs them. Cloud Hypervisor's BAR
 * mmap passed by address fails EFAULT (VM_PFNMAP), page 0 too; OpenVMM's
 * memfd guest RAM maps with MAP_FILE.
 */
import { describe, expect, it } from "vitest";
import { boot, memfdFd, mmOp, step } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  FIXED,
  PAGE,
  RW,
  allocIoas,
  attachDevice,
  attachDeviceStep,
  dma,
  expectErrno,
  makeMachine,
  mapFile,
  mapFileOk,
  mapUser,
  mapUserOk,
  unmapOk,
} from "./fixtures.js";

/** A syscall of core's mm driver that must succeed: its world and return value. */
function syscall(
  m: Machine,
  w: World,
  op: Parameters<typeof mmOp>[0],
): { world: World; ret: number } {
  const r = step(m, w, mmOp(op));
  if (r.status !== "done" || r.returned === undefined) {
    throw new Error(r.status === "failed" ? r.error.message : r.status);
  }
  return { world: r.world, ret: r.returned.ret };
}

/** mmap(2) in the VMM; returns the address. */
function mmap(
  m: Machine,
  w: World,
  fd: string | number,
  length: bigint,
  offset = 0n,
): { world: World; addr: bigint } {
  const r = syscall(m, w, { op: "mmap", fd, offset, length });
  return { world: r.world, addr: BigInt(r.ret) };
}

/** memfd_create(2) in the VMM; returns the fd. */
function memfd(m: Machine, w: World, size: bigint): { world: World; fd: number } {
  const r = syscall(m, w, { op: "memfd_create", size });
  return { world: r.world, fd: r.ret };
}

describe("IOMMU_IOAS_MAP pins the process's memory when a domain needs it", () => {
  it("4 GiB of guest RAM at QEMU-like addresses maps in two 2 GiB areas that land at distinct memory", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    const lo = mapUserOk(m, w, {
      ioas: a.ioas,
      userVa: 0x7f00_0000_0000n,
      length: 0x8000_0000n,
      iova: 0n + 0x1_0000_0000n,
      flags: FIXED | RW,
    });
    const hi = mapUserOk(m, lo.world, {
      ioas: a.ioas,
      userVa: 0x7f00_8000_0000n,
      length: 0x8000_0000n,
      iova: 0x1_8000_0000n,
      flags: FIXED | RW,
    });
    const d1 = dma(m, hi.world, "dev1", 0x1_0000_1000n, "write");
    const d2 = dma(m, hi.world, "dev1", 0x1_8000_1000n, "write");
    expect([d1.outcome, d2.outcome]).toEqual(["ok", "ok"]);
    expect(d1.detail).toBe("vmm.anon+0x7f0000001000");
    expect(d2.detail).toBe("vmm.anon+0x7f0080001000");
  });

  it("a VFIO BAR mmap passed by address is EFAULT once a domain exists (GUP refuses VM_PFNMAP)", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const bar = mmap(m, attachDevice(m, a.world, "dev1", a.ioas), "vfio0", 0x10_0000n);
    expectErrno(
      bar.world,
      mapUser(m, bar.world, { ioas: a.ioas, userVa: bar.addr, length: PAGE }),
      "EFAULT",
    );
  });

  it("with no domain the BAR map succeeds, and the domain attach that must pin it fails EFAULT with nothing changed", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const bar = mmap(m, a.world, "vfio0", 0x10_0000n);
    const mapped = mapUserOk(m, bar.world, { ioas: a.ioas, userVa: bar.addr, length: PAGE });
    expect(iommufdStateOf(m, mapped.world).ioas[0]?.areas).toHaveLength(1);
    expectErrno(mapped.world, attachDeviceStep(m, mapped.world, "dev1", a.ioas), "EFAULT");
  });

  it("page 0 cannot be pinned: user_va 0 is EFAULT with a domain", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    expectErrno(w, mapUser(m, w, { ioas: a.ioas, userVa: 0n, length: PAGE }), "EFAULT");
  });

  it("a memfd area holds one pin while it is mapped into a domain; the last unmap releases it", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const f = memfd(m, attachDevice(m, a.world, "dev1", a.ioas), 0x4000n);
    const mapped = mapFileOk(m, f.world, { ioas: a.ioas, fd: f.fd, length: 0x4000n });
    const id = f.fd - memfdFd(0);
    expect(mapped.world.memfds.get(id)?.pins).toBe(1);
    const unmapped = unmapOk(m, mapped.world, a.ioas, mapped.iova, 0x4000n);
    expect(unmapped.world.memfds.get(id)?.pins).toBe(0);
  });
});

describe("pins follow the domains", () => {
  it("the last domain leaving an IOAS unpins its memory, and the next attach pins again", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const f = memfd(m, attachDevice(m, a.world, "dev1", a.ioas), 0x4000n);
    const mapped = mapFileOk(m, f.world, { ioas: a.ioas, fd: f.fd, length: 0x4000n });
    const id = f.fd - memfdFd(0);
    const detached = step(m, mapped.world, {
      kind: "driver",
      driver: "iommufd",
      action: { op: "detach-device", device: "dev1" },
    });
    if (detached.status !== "done") throw new Error(detached.status);
    expect(detached.world.memfds.get(id)?.pins).toBe(0);
    const again = attachDevice(m, detached.world, "dev1", a.ioas);
    expect(again.memfds.get(id)?.pins).toBe(1);
    expect(dma(m, again, "dev1", mapped.iova, "write").outcome).toBe("ok");
  });
});

describe("IOMMU_IOAS_MAP_FILE of a memfd", () => {
  it("maps the memfd's pages: DMA lands in the memfd at the file offset", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const f = memfd(m, attachDevice(m, a.world, "dev1", a.ioas), 0x10_0000n);
    const mapped = mapFileOk(m, f.world, {
      ioas: a.ioas,
      fd: f.fd,
      start: 0x2000n,
      length: 0x4000n,
    });
    const d = dma(m, mapped.world, "dev1", mapped.iova + 0x1000n, "write");
    expect(d.outcome).toBe("ok");
    expect(d.detail).toBe(`vmm.memfd${f.fd - memfdFd(0)}+0x3000`);
  });

  it("past the end of the file is EINVAL when a domain pins it; with no domain the map succeeds and the attach fails EINVAL", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const f = memfd(m, a.world, 0x2000n);
    const attached = attachDevice(m, f.world, "dev1", a.ioas);
    expectErrno(
      attached,
      mapFile(m, attached, { ioas: a.ioas, fd: f.fd, length: 0x4000n }),
      "EINVAL",
    );
    const lazy = mapFileOk(m, f.world, { ioas: a.ioas, fd: f.fd, length: 0x4000n });
    expectErrno(lazy.world, attachDeviceStep(m, lazy.world, "dev1", a.ioas), "EINVAL");
  });

  it("an fd that is neither a dma-buf nor an open memfd is EBADF", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    expectErrno(a.world, mapFile(m, a.world, { ioas: a.ioas, fd: 77, length: PAGE }), "EBADF");
  });
});
