/**
 * `iopt->iova_alignment` (kernel-model §3.1, §7.20; io_pagetable.c
 * `iopt_table_add_domain`, `iopt_check_iova_alignment`,
 * `iopt_calculate_iova_alignment`): 1 with no domain, raised by a domain's
 * smallest page, checked against the areas already there, recomputed when
 * a domain goes or large pages are switched off.
 */
import { describe, expect, it } from "vitest";
import {
  IOMMU_OPTION,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  boot,
  defineMachine,
  iommuIoasIovaRanges,
  iommuIovaRange,
  iommuOption,
  linux71,
  referenceExporter,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { iommufdImporter, iommufdStateOf } from "../../src/index.js";
import {
  FIXED,
  PAGE,
  RW,
  USER_VA,
  allocIoas,
  attachDevice,
  attachDeviceStep,
  detachDeviceStep,
  done,
  expectErrno,
  ioctl,
  iovaRanges,
  makeMachine,
  mapUser,
  mapUserOk,
  topology,
} from "./fixtures.js";
import { vfioTest } from "./vfio-test-exporter.js";

/** A machine whose domains for dev0 have these page sizes (dev1 keeps 4 KiB | 2 MiB | 1 GiB). */
function machineWithPages(dev0: bigint): Machine {
  return defineMachine({
    profile: linux71,
    topology,
    exporters: [vfioTest, referenceExporter({ region: "ram0" })],
    importers: [iommufdImporter({ devicePgsizeBitmaps: { dev0 } })],
  });
}

/** A machine whose dev0 gets selftest-mock-like domains: 2 KiB pages, aperture 16 MiB..2 GiB, no reserved regions. */
function mockLikeMachine(): Machine {
  return defineMachine({
    profile: linux71,
    topology,
    exporters: [vfioTest, referenceExporter({ region: "ram0" })],
    importers: [
      iommufdImporter({
        devicePgsizeBitmaps: { dev0: 0x800n },
        deviceApertures: { dev0: { start: 1n << 24n, last: (1n << 31n) - 1n } },
        deviceReservedRegions: { dev0: [] },
      }),
    ],
  });
}

function alignmentOf(m: Machine, w: World, ioas: number): bigint {
  return iommuIoasIovaRanges.decode(done(iovaRanges(m, w, ioas, 8)).returned.out)
    .out_iova_alignment;
}

function option(m: Machine, w: World, ioas: number, op: number, val64 = 0n): StepOutcome {
  return ioctl(
    m,
    w,
    IOMMU_OPTION,
    iommuOption.encode({
      size: iommuOption.size,
      option_id: IOMMU_OPTION_HUGE_PAGES,
      op,
      __reserved: 0,
      object_id: ioas,
      val64,
    }),
  );
}

describe("iova_alignment of an IOAS", () => {
  it("is 1 with no domain, so any length maps at any IOVA (the selftests map 1..8191 bytes)", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    expect(alignmentOf(m, a.world, a.ioas)).toBe(1n);
    let w = a.world;
    for (const length of [1n, 2n, 3n, 0x7ffn, 0x1fffn]) {
      w = mapUserOk(m, w, { ioas: a.ioas, length }).world;
    }
    const odd = mapUserOk(m, w, { ioas: a.ioas, length: 5n, iova: 0x9_0003n, flags: FIXED | RW });
    expect(odd.iova).toBe(0x9_0003n);
  });

  it("attaching a 4 KiB domain raises it to 4096, reported by IOMMU_IOAS_IOVA_RANGES", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    expect(alignmentOf(m, w, a.ioas)).toBe(PAGE);
  });

  it("with a domain, a FIXED_IOVA or a length that is not a multiple of it is EINVAL", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    expectErrno(
      w,
      mapUser(m, w, { ioas: a.ioas, length: PAGE, iova: 0x10_0800n, flags: FIXED | RW }),
      "EINVAL",
    );
    expectErrno(w, mapUser(m, w, { ioas: a.ioas, length: 0x1800n }), "EINVAL");
  });

  it("attaching a domain that an existing area does not conform to is EADDRINUSE and changes nothing", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const mapped = mapUserOk(m, a.world, { ioas: a.ioas, length: 3n });
    const r = attachDeviceStep(m, mapped.world, "dev1", a.ioas);
    expectErrno(mapped.world, r, "EADDRINUSE");
    expect(alignmentOf(m, mapped.world, a.ioas)).toBe(1n);
  });

  it("a domain whose smallest page is larger than PAGE_SIZE is EINVAL", () => {
    const m = machineWithPages(0x2000n | 0x20_0000n);
    const a = allocIoas(m, boot(m));
    expectErrno(a.world, attachDeviceStep(m, a.world, "dev0", a.ioas), "EINVAL");
  });

  it("falls back to 1 when the last domain goes", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    const r = detachDeviceStep(m, w, "dev1");
    if (r.status !== "done") throw new Error(r.status);
    expect(iommufdStateOf(m, r.world).ioas[0]?.domains).toEqual([]);
    expect(alignmentOf(m, r.world, a.ioas)).toBe(1n);
  });

  it("is PAGE_SIZE with large pages disabled (IOMMU_OPTION HUGE_PAGES 0), back to 1 when enabled", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const off = done(option(m, a.world, a.ioas, IOMMU_OPTION_OP_SET, 0n));
    expect(alignmentOf(m, off.world, a.ioas)).toBe(PAGE);
    const got = done(option(m, off.world, a.ioas, IOMMU_OPTION_OP_GET));
    expect(iommuOption.decode(got.returned.out).val64).toBe(0n);
    const on = done(option(m, off.world, a.ioas, IOMMU_OPTION_OP_SET, 1n));
    expect(alignmentOf(m, on.world, a.ioas)).toBe(1n);
  });

  it("disabling large pages over a sub-page area is EADDRINUSE; over areas in a domain EINVAL", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const small = mapUserOk(m, a.world, { ioas: a.ioas, length: 3n });
    expectErrno(small.world, option(m, small.world, a.ioas, IOMMU_OPTION_OP_SET, 0n), "EADDRINUSE");
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    const mapped = mapUserOk(m, w, { ioas: a.ioas, length: PAGE, userVa: USER_VA });
    expectErrno(mapped.world, option(m, mapped.world, a.ioas, IOMMU_OPTION_OP_SET, 0n), "EINVAL");
  });

  it("a domain's aperture and page size shape the IOAS: ranges, alignment and placement follow them", () => {
    const m = mockLikeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev0", a.ioas);
    const r = done(iovaRanges(m, w, a.ioas, 4));
    const out = iommuIoasIovaRanges.decode(r.returned.out);
    expect([out.num_iovas, out.out_iova_alignment]).toEqual([1, 0x800n]);
    expect(r.returned.written?.map((x) => iommuIovaRange.decode(x.bytes))).toEqual([
      { start: 1n << 24n, last: (1n << 31n) - 1n },
    ]);
    expect(mapUserOk(m, w, { ioas: a.ioas, length: 0x800n }).iova).toBe(1n << 24n);
  });

  it("an area outside the new domain's aperture makes the attach EADDRINUSE", () => {
    const m = mockLikeMachine();
    const a = allocIoas(m, boot(m));
    const mapped = mapUserOk(m, a.world, {
      ioas: a.ioas,
      length: PAGE,
      iova: 0x1000n,
      flags: FIXED | RW,
    });
    expectErrno(mapped.world, attachDeviceStep(m, mapped.world, "dev0", a.ioas), "EADDRINUSE");
  });
});
