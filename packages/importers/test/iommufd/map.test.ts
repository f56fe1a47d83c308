/**
 * IOMMU_IOAS_MAP of ordinary (VMM) memory: pinned user pages modelled as
 * RAM, mapped into the IOAS's domains and granted to the attached devices.
 */
import { describe, expect, it } from "vitest";
import { IOMMU_IOAS_MAP_READABLE, U64_MAX, boot } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import {
  FIXED,
  PAGE,
  RW,
  USER_VA,
  allocIoas,
  attachDevice,
  dma,
  expectErrno,
  makeMachine,
  mapUser,
  mapUserOk,
  unmapOk,
} from "./fixtures.js";

function setup(): { m: Machine; world: World; ioas: number } {
  const m = makeMachine();
  const a = allocIoas(m, boot(m));
  return { m, world: attachDevice(m, a.world, "dev1", a.ioas), ioas: a.ioas };
}

describe("IOMMU_IOAS_MAP", () => {
  it("maps VMM memory: device DMA to the returned IOVA is ok and lands in the process's anonymous memory at user_va", () => {
    const { m, world, ioas } = setup();
    const mapped = mapUserOk(m, world, { ioas, length: 0x10000n });
    const d = dma(m, mapped.world, "dev1", mapped.iova + 0x3000n, "write");
    expect(d.outcome).toBe("ok");
    expect(d.detail).toBe(`vmm.anon+0x${(USER_VA + 0x3000n).toString(16)}`);
  });

  it("the same user memory mapped twice reaches the same physical pages", () => {
    const { m, world, ioas } = setup();
    const a = mapUserOk(m, world, { ioas, length: PAGE });
    const b = mapUserOk(m, a.world, { ioas, length: PAGE });
    expect(dma(m, b.world, "dev1", a.iova).detail).toBe(dma(m, b.world, "dev1", b.iova).detail);
  });

  it("a read-only mapping faults device writes in the IOMMU", () => {
    const { m, world, ioas } = setup();
    const mapped = mapUserOk(m, world, { ioas, length: PAGE, flags: IOMMU_IOAS_MAP_READABLE });
    expect(dma(m, mapped.world, "dev1", mapped.iova, "read").outcome).toBe("ok");
    expect(dma(m, mapped.world, "dev1", mapped.iova, "write").outcome).toBe("fault");
  });

  it("after UNMAP the device's DMA faults and is never a violation", () => {
    const { m, world, ioas } = setup();
    const mapped = mapUserOk(m, world, { ioas, length: PAGE });
    const u = unmapOk(m, mapped.world, ioas, mapped.iova, PAGE);
    const d = dma(m, u.world, "dev1", mapped.iova);
    expect(d.outcome).toBe("fault");
    expect(d.world.violations.size).toBe(0);
  });

  it("unknown flags or a non-zero __reserved are EOPNOTSUPP", () => {
    const { m, world, ioas } = setup();
    expectErrno(world, mapUser(m, world, { ioas, length: PAGE, flags: 0x10 | RW }), "EOPNOTSUPP");
    expectErrno(world, mapUser(m, world, { ioas, length: PAGE, reserved: 1 }), "EOPNOTSUPP");
  });

  it("neither READABLE nor WRITEABLE is EINVAL; unknown IOAS ENOENT; length 0 EINVAL", () => {
    const { m, world, ioas } = setup();
    expectErrno(world, mapUser(m, world, { ioas, length: PAGE, flags: 0 }), "EINVAL");
    expectErrno(world, mapUser(m, world, { ioas: 5, length: PAGE }), "ENOENT");
    expectErrno(world, mapUser(m, world, { ioas, length: 0n }), "EINVAL");
  });

  it("user_va + length wrapping, or length >= ULONG_MAX, is EOVERFLOW", () => {
    const { m, world, ioas } = setup();
    expectErrno(
      world,
      mapUser(m, world, { ioas, userVa: U64_MAX - PAGE + 1n, length: 2n * PAGE }),
      "EOVERFLOW",
    );
    expectErrno(world, mapUser(m, world, { ioas, length: U64_MAX }), "EOVERFLOW");
  });

  it("a user address or length that is not page aligned is EINVAL", () => {
    const { m, world, ioas } = setup();
    expectErrno(
      world,
      mapUser(m, world, { ioas, userVa: USER_VA + 0x10n, length: PAGE }),
      "EINVAL",
    );
    expectErrno(world, mapUser(m, world, { ioas, length: 0x800n }), "EINVAL");
  });

  it("mapping user_va 0 with a domain is EFAULT: page 0 cannot be pinned", () => {
    const { m, world, ioas } = setup();
    expectErrno(world, mapUser(m, world, { ioas, userVa: 0n, length: 0x8000_0000n }), "EFAULT");
  });

  it("FIXED_IOVA maps exactly at the IOVA given", () => {
    const { m, world, ioas } = setup();
    expect(
      mapUserOk(m, world, { ioas, length: PAGE, iova: 0x4000_0000n, flags: FIXED | RW }).iova,
    ).toBe(0x4000_0000n);
  });
});
