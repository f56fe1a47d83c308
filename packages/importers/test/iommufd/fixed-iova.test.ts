/**
 * IOVA placement (kernel-model §3.1, iopt_alloc_iova / iopt_check_iova):
 * FIXED_IOVA misaligned or reserved -> EINVAL; overlapping any area, dead
 * ones included -> EEXIST; no room for an allocation -> ENOSPC.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { boot, iommuIoasMap } from "@dmabuf-ref/core";
import { IOMMUFD_APERTURE_LAST, IOMMUFD_MSI_WINDOW } from "../../src/index.js";
import {
  FIXED,
  PAGE,
  RW,
  allocIoas,
  attachDevice,
  expectErrno,
  exportVfio,
  makeMachine,
  mapFile,
  mapFileOk,
  mapUser,
  mapUserOk,
  revoke,
  vfioSetup,
} from "./fixtures.js";

describe("IOMMU_IOAS_MAP_FIXED_IOVA", () => {
  const { m, world, ioas, buf } = vfioSetup();

  it("a FIXED_IOVA that is not page aligned is EINVAL", () => {
    const r = mapFile(m, world, {
      ioas,
      fd: buf,
      length: PAGE,
      iova: 0x10_0800n,
      flags: FIXED | RW,
    });
    expectErrno(world, r, "EINVAL");
  });

  it("a FIXED_IOVA range touching the MSI window is EINVAL once a device is attached", () => {
    const iova = IOMMUFD_MSI_WINDOW.start - PAGE;
    const r = mapFile(m, world, { ioas, fd: buf, length: 2n * PAGE, iova, flags: FIXED | RW });
    expectErrno(world, r, "EINVAL");
  });

  it("a FIXED_IOVA above the domain aperture is EINVAL once a device is attached", () => {
    const r = mapFile(m, world, {
      ioas,
      fd: buf,
      length: PAGE,
      iova: IOMMUFD_APERTURE_LAST + 1n,
      flags: FIXED | RW,
    });
    expectErrno(world, r, "EINVAL");
  });

  it("the MSI window is free while no device is attached", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const e = exportVfio(m, a.world);
    const mapped = mapFileOk(m, e.world, {
      ioas: a.ioas,
      fd: e.buf,
      length: PAGE,
      iova: IOMMUFD_MSI_WINDOW.start,
      flags: FIXED | RW,
    });
    expect(mapped.iova).toBe(IOMMUFD_MSI_WINDOW.start);
  });

  it("a FIXED_IOVA overlapping a live area is EEXIST", () => {
    const mapped = mapFileOk(m, world, {
      ioas,
      fd: buf,
      length: 0x4000n,
      iova: 0x10_0000n,
      flags: FIXED | RW,
    });
    const r = mapUser(m, mapped.world, { ioas, length: PAGE, iova: 0x10_3000n, flags: FIXED | RW });
    expectErrno(mapped.world, r, "EEXIST");
  });

  it("a FIXED_IOVA overlapping a dead (revoked) area is EEXIST", () => {
    const mapped = mapFileOk(m, world, {
      ioas,
      fd: buf,
      length: 0x4000n,
      iova: 0x10_0000n,
      flags: FIXED | RW,
    });
    const dead = revoke(m, mapped.world, buf);
    const r = mapUser(m, dead, { ioas, length: 0x10_0000n, iova: 0x8_0000n, flags: FIXED | RW });
    expectErrno(dead, r, "EEXIST");
  });

  it("a FIXED_IOVA whose range wraps past ULONG_MAX is EOVERFLOW", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const r = mapUser(m, a.world, {
      ioas: a.ioas,
      length: 2n * PAGE,
      iova: 2n ** 64n - 2n * PAGE + PAGE,
      flags: FIXED | RW,
    });
    expectErrno(a.world, r, "EOVERFLOW");
  });

  it("with no room left for an allocation MAP_FILE is ENOSPC (after the dma-buf steps)", () => {
    const big = exportVfio(m, world, {
      region: "vfio0.bar2",
      ranges: [{ offset: 0n, length: 1n << 44n }],
    });
    let w = big.world;
    // A page every 8 TiB leaves no hole of 16 TiB - 8 KiB below the 256 TiB aperture.
    for (let k = 1n; k < 32n; k++) {
      w = mapUserOk(m, w, { ioas, length: PAGE, iova: k << 43n, flags: FIXED | RW }).world;
    }
    const r = mapFile(m, w, { ioas, fd: big.buf, length: (1n << 44n) - 2n * PAGE });
    expectErrno(w, r, "ENOSPC");
  });

  it("the allocator never returns IOVA 0 and keeps areas apart", () => {
    const a = mapFileOk(m, world, { ioas, fd: buf, length: 0x2000n });
    const b = mapFileOk(m, a.world, { ioas, fd: buf, start: 0x2000n, length: 0x2000n });
    expect(a.iova).toBeGreaterThanOrEqual(PAGE);
    expect(b.iova >= a.iova + 0x2000n || b.iova + 0x2000n <= a.iova).toBe(true);
  });
});

describe("FIXED_IOVA against random areas (fast-check)", () => {
  const slots = fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 5 });
  test.prop([slots, fc.integer({ min: 0, max: 45 }), fc.integer({ min: 1, max: 6 })], {
    numRuns: 150,
  })(
    "EEXIST iff the fixed range overlaps an existing area; otherwise mapped exactly there",
    (taken, slot, pages) => {
      const m = makeMachine();
      let w = allocIoas(m, boot(m)).world;
      const areas = taken.map((s) => ({ iova: BigInt(s) * 2n * PAGE, length: PAGE }));
      for (const a of areas)
        w = mapUserOk(m, w, { ioas: 1, length: a.length, iova: a.iova, flags: FIXED | RW }).world;
      const iova = BigInt(slot) * PAGE;
      const length = BigInt(pages) * PAGE;
      const overlaps = areas.some((a) => a.iova < iova + length && iova < a.iova + a.length);
      const r = mapUser(m, w, { ioas: 1, length, iova, flags: FIXED | RW });
      if (overlaps) {
        expectErrno(w, r, "EEXIST");
        return;
      }
      expect(
        r.status === "done" && r.returned?.out !== undefined
          ? iommuIoasMap.decode(r.returned.out).iova
          : r.status,
      ).toBe(iova);
    },
  );
});

describe("attaching the first device reserves the MSI window", () => {
  it("an area already in the MSI window makes the attach fail with EADDRINUSE", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const mapped = mapUserOk(m, a.world, {
      ioas: a.ioas,
      length: PAGE,
      iova: IOMMUFD_MSI_WINDOW.start,
      flags: FIXED | RW,
    });
    expect(() => attachDevice(m, mapped.world, "dev1", a.ioas)).toThrow(/EADDRINUSE/);
  });
});
