/**
 * IOMMU_IOAS_MAP of ordinary (VMM) memory: pinned user pages modelled as
 * RAM, mapped into the IOAS's domains and granted to the attached devices.
 */
import { describe, expect, it } from "vitest";
import { IOMMU_IOAS_MAP_READABLE, U64_MAX } from "@dmabuf-ref/core";
import {
  FIXED,
  PAGE,
  RW,
  USER_VA,
  allocIoas,
  attachDevice,
  dma,
  expectErrno,
  makeWorld,
  mapUser,
  mapUserOk,
  unmapOk,
} from "./fixtures.js";

function setup(): { world: ReturnType<typeof makeWorld>; ioas: number } {
  const a = allocIoas(makeWorld());
  return { world: attachDevice(a.world, "dev1", a.ioas), ioas: a.ioas };
}

describe("IOMMU_IOAS_MAP", () => {
  it("maps VMM memory: device DMA to the returned IOVA is ok and lands in RAM", () => {
    const { world, ioas } = setup();
    const m = mapUserOk(world, { ioas, length: 0x10000n });
    const d = dma(m.world, "dev1", m.iova + 0x3000n, "write");
    expect(d.outcome).toBe("ok");
    expect(d.detail).toBe("ram0+0x20003000");
  });

  it("the same user memory mapped twice reaches the same physical pages", () => {
    const { world, ioas } = setup();
    const a = mapUserOk(world, { ioas, length: PAGE });
    const b = mapUserOk(a.world, { ioas, length: PAGE });
    expect(dma(b.world, "dev1", a.iova).detail).toBe(dma(b.world, "dev1", b.iova).detail);
  });

  it("a read-only mapping faults device writes in the IOMMU", () => {
    const { world, ioas } = setup();
    const m = mapUserOk(world, { ioas, length: PAGE, flags: IOMMU_IOAS_MAP_READABLE });
    expect(dma(m.world, "dev1", m.iova, "read").outcome).toBe("ok");
    expect(dma(m.world, "dev1", m.iova, "write").outcome).toBe("fault");
  });

  it("after UNMAP the device's DMA faults and is never a violation", () => {
    const { world, ioas } = setup();
    const m = mapUserOk(world, { ioas, length: PAGE });
    const u = unmapOk(m.world, ioas, m.iova, PAGE);
    const d = dma(u.world, "dev1", m.iova);
    expect(d.outcome).toBe("fault");
    expect(d.world.violations.size).toBe(0);
  });

  it("unknown flags or a non-zero __reserved are EOPNOTSUPP", () => {
    const { world, ioas } = setup();
    expectErrno(world, mapUser(world, { ioas, length: PAGE, flags: 0x10 | RW }), "EOPNOTSUPP");
    expectErrno(world, mapUser(world, { ioas, length: PAGE, reserved: 1 }), "EOPNOTSUPP");
  });

  it("neither READABLE nor WRITEABLE is EINVAL; unknown IOAS ENOENT; length 0 EINVAL", () => {
    const { world, ioas } = setup();
    expectErrno(world, mapUser(world, { ioas, length: PAGE, flags: 0 }), "EINVAL");
    expectErrno(world, mapUser(world, { ioas: 5, length: PAGE }), "ENOENT");
    expectErrno(world, mapUser(world, { ioas, length: 0n }), "EINVAL");
  });

  it("user_va + length wrapping, or length >= ULONG_MAX, is EOVERFLOW", () => {
    const { world, ioas } = setup();
    expectErrno(
      world,
      mapUser(world, { ioas, userVa: U64_MAX - PAGE + 1n, length: 2n * PAGE }),
      "EOVERFLOW",
    );
    expectErrno(world, mapUser(world, { ioas, length: U64_MAX }), "EOVERFLOW");
  });

  it("a user address or length that is not page aligned is EINVAL", () => {
    const { world, ioas } = setup();
    expectErrno(world, mapUser(world, { ioas, userVa: USER_VA + 0x10n, length: PAGE }), "EINVAL");
    expectErrno(world, mapUser(world, { ioas, length: 0x800n }), "EINVAL");
  });

  it("memory the model's RAM cannot back is EFAULT (a failed pin)", () => {
    const { world, ioas } = setup();
    expectErrno(world, mapUser(world, { ioas, userVa: 0n, length: 0x8000_0000n }), "EFAULT");
  });

  it("FIXED_IOVA maps exactly at the IOVA given", () => {
    const { world, ioas } = setup();
    expect(
      mapUserOk(world, { ioas, length: PAGE, iova: 0x4000_0000n, flags: FIXED | RW }).iova,
    ).toBe(0x4000_0000n);
  });
});
