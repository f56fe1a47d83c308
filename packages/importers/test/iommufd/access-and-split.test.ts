/**
 * The two things a dma-buf area refuses (kernel-model §3.4): CPU access
 * through an access object (EINVAL) and splitting (EOPNOTSUPP).
 */
import { describe, expect, it } from "vitest";
import { anonBase } from "@dmabuf-ref/core";
import {
  FIXED,
  PAGE,
  RW,
  USER_VA,
  dma,
  mapFileOk,
  mapUserOk,
  unmapOk,
  vfioSetup,
} from "./fixtures.js";
import { iommufdAccessRw, iommufdCutIova, iommufdStateOf } from "../../src/index.js";

describe("CPU access through an iommufd access object (iopt_pages_rw_access)", () => {
  it("CPU access to a dma-buf area is EINVAL", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = iommufdAccessRw(m, mapped.world, ioas, mapped.iova + 0x10n, 0x20n);
    expect(r.ok ? "ok" : r.error.errno).toBe("EINVAL");
  });

  it("CPU access to user memory returns the physical bytes touched, across areas", () => {
    const { m, world, ioas } = vfioSetup();
    const a = mapUserOk(m, world, { ioas, length: PAGE, iova: 0x10_0000n, flags: FIXED | RW });
    const b = mapUserOk(m, a.world, {
      ioas,
      userVa: 0x7f00_3000_0000n,
      length: PAGE,
      iova: 0x10_1000n,
      flags: FIXED | RW,
    });
    const r = iommufdAccessRw(m, b.world, ioas, 0x10_0ff0n, 0x20n);
    const anon = anonBase(m.topology, 1);
    expect(r.ok ? r.value : r.error.errno).toEqual([
      { paddr: anon + USER_VA + 0xff0n, len: 0x10n },
      { paddr: anon + 0x7f00_3000_0000n, len: 0x10n },
    ]);
  });

  it("an unmapped hole is ENOENT, length 0 EINVAL, an unknown IOAS ENOENT", () => {
    const { m, world, ioas } = vfioSetup();
    const a = mapUserOk(m, world, { ioas, length: PAGE, iova: 0x10_0000n, flags: FIXED | RW });
    const errno = (io: number, iova: bigint, len: bigint): string => {
      const r = iommufdAccessRw(m, a.world, io, iova, len);
      return r.ok ? "ok" : r.error.errno;
    };
    expect(errno(ioas, 0x10_0800n, PAGE)).toBe("ENOENT");
    expect(errno(ioas, 0x10_0000n, 0n)).toBe("EINVAL");
    expect(errno(7, 0x10_0000n, 1n)).toBe("ENOENT");
  });
});

describe("splitting areas (iopt_cut_iova, the VFIO type1 compat path)", () => {
  it("splitting a dma-buf area is EOPNOTSUPP and changes nothing", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = iommufdCutIova(m, mapped.world, ioas, [mapped.iova + 0x1fffn]);
    expect(r.ok ? "ok" : r.error.errno).toBe("EOPNOTSUPP");
  });

  it("a cut at an area's first or last byte, or outside any area, changes nothing", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = iommufdCutIova(m, mapped.world, ioas, [
      mapped.iova,
      mapped.iova + 0x3fffn,
      0x7000_0000n,
    ]);
    expect(r.ok && r.value.world).toBe(mapped.world);
  });

  it("a user-memory area splits in two that unmap separately; DMA still lands right", () => {
    const { m, world, ioas } = vfioSetup();
    const a = mapUserOk(m, world, { ioas, length: 0x4000n, iova: 0x10_0000n, flags: FIXED | RW });
    const cut = iommufdCutIova(m, a.world, ioas, [0x10_0fffn]);
    if (!cut.ok) throw new Error(cut.error.message);
    const areas = iommufdStateOf(m, cut.value.world).ioas[0]?.areas.map((x) => [x.iova, x.length]);
    expect(areas).toEqual([
      [0x10_0000n, 0x1000n],
      [0x10_1000n, 0x3000n],
    ]);
    expect(dma(m, cut.value.world, "dev1", 0x10_2000n).detail).toBe(
      `vmm.anon+0x${(USER_VA + 0x2000n).toString(16)}`,
    );
    const u = unmapOk(m, cut.value.world, ioas, 0x10_0000n, 0x1000n);
    expect(dma(m, u.world, "dev1", 0x10_0000n).outcome).toBe("fault");
    expect(dma(m, u.world, "dev1", 0x10_1000n).outcome).toBe("ok");
  });

  it("a cut whose next byte is not page aligned is EINVAL", () => {
    const { m, world, ioas } = vfioSetup();
    const a = mapUserOk(m, world, { ioas, length: 0x4000n, iova: 0x10_0000n, flags: FIXED | RW });
    const r = iommufdCutIova(m, a.world, ioas, [0x10_0800n]);
    expect(r.ok ? "ok" : r.error.errno).toBe("EINVAL");
  });
});
