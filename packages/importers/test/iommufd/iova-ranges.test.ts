/**
 * IOMMU_IOAS_IOVA_RANGES (kernel-model §3.1): the allowed IOVA ranges are
 * the holes of the reserved tree; num_iovas in/out; EMSGSIZE when too small
 * (after copying the struct back); out_iova_alignment.
 */
import { describe, expect, it } from "vitest";
import { U64_MAX, boot, iommuIoasIovaRanges, iommuIovaRange } from "@dmabuf-ref/core";
import { IOMMUFD_APERTURE_LAST, IOMMUFD_MSI_WINDOW } from "../../src/index.js";
import { allocIoas, attachDevice, done, expectErrno, iovaRanges, makeMachine } from "./fixtures.js";

describe("IOMMU_IOAS_IOVA_RANGES", () => {
  it("with no domain the whole 0..U64_MAX is allowed and out_iova_alignment is 1", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const r = done(iovaRanges(m, a.world, a.ioas, 4));
    expect(r.world).toBe(a.world);
    const out = iommuIoasIovaRanges.decode(r.returned.out);
    expect(out.num_iovas).toBe(1);
    expect(out.out_iova_alignment).toBe(1n);
    expect(r.returned.written?.map((x) => iommuIovaRange.decode(x.bytes))).toEqual([
      { start: 0n, last: U64_MAX },
    ]);
  });

  it("an attached device leaves two ranges: below and above the MSI window, up to the aperture", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    const r = done(iovaRanges(m, w, a.ioas, 2));
    expect(iommuIoasIovaRanges.decode(r.returned.out).num_iovas).toBe(2);
    expect(r.returned.written?.map((x) => x.addr)).toEqual([0x7000_0000n, 0x7000_0010n]);
    expect(r.returned.written?.map((x) => iommuIovaRange.decode(x.bytes))).toEqual([
      { start: 0n, last: IOMMUFD_MSI_WINDOW.start - 1n },
      { start: IOMMUFD_MSI_WINDOW.last + 1n, last: IOMMUFD_APERTURE_LAST },
    ]);
  });

  it("num_iovas too small is EMSGSIZE, with the needed count copied back", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    const r = iovaRanges(m, w, a.ioas, 1);
    expectErrno(w, r, "EMSGSIZE");
    if (r.status !== "failed" || r.returned?.out === undefined)
      throw new Error("no struct copied back");
    expect(r.returned.ret).toBe(0);
    expect(iommuIoasIovaRanges.decode(r.returned.out).num_iovas).toBe(2);
    expect(r.returned.written).toHaveLength(1);
  });

  it("a non-zero __reserved is EOPNOTSUPP; an unknown IOAS is ENOENT", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    expectErrno(a.world, iovaRanges(m, a.world, a.ioas, 1, 1), "EOPNOTSUPP");
    expectErrno(a.world, iovaRanges(m, a.world, 9, 1), "ENOENT");
  });
});
