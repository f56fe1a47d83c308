/**
 * VFIO type1's VFIO_IOMMU_MAP_DMA / VFIO_IOMMU_UNMAP_DMA
 * (drivers/vfio/vfio_iommu_type1.c): the checks in vfio_dma_do_map's
 * order, a BAR mmap (VM_PFNMAP) followed to its raw PFNs, ordinary memory
 * pinned, and no lifetime link between a fished mapping and the BAR: once
 * the BAR's owner resets it, the device's DMA through type1's mapping is a
 * violation (seeds 000, 001).
 */
import { describe, expect, it } from "vitest";
import {
  U64_MAX,
  boot,
  defineMachine,
  linux71,
  mmOp,
  referenceExporter,
  regionNamed,
  setRegionStatus,
  step,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import type * as z from "zod";
import {
  VFIO_TYPE1,
  iommufdImporter,
  vfioType1ActionSchema,
  vfioType1Importer,
  vfioType1StateOf,
} from "../src/index.js";
import { topology } from "./iommufd/fixtures.js";

const BAR0 = 0x40_0000_0000n;
const LEN = 0x20_0000n;
const IOVA = 0x10_0000n;

/** vfio0's BARs; dev1 behind the IOMMU (P2P to vfio0 through hb0); dev2 with no IOMMU; type1 and iommufd. */
function makeMachine(): Machine {
  return defineMachine({
    profile: linux71,
    // The iommufd tests' machine: vfio0's BARs, dev1 behind the IOMMU, dev2 with none.
    topology,
    exporters: [referenceExporter({ region: "ram0" })],
    importers: [iommufdImporter(), vfioType1Importer()],
  });
}

function type1(m: Machine, w: World, action: z.input<typeof vfioType1ActionSchema>): StepOutcome {
  return step(m, w, { kind: "driver", driver: VFIO_TYPE1, action });
}

/** `VFIO_IOMMU_MAP_DMA` of LEN bytes at `vaddr` for dev1 at IOVA. */
function mapBarDma(m: Machine, w: World, vaddr: bigint): StepOutcome {
  return type1(m, w, {
    op: "VFIO_IOMMU_MAP_DMA",
    device: "dev1",
    vaddr,
    iova: IOVA,
    size: LEN,
  });
}

function mustDone(r: StepOutcome): World {
  if (r.status !== "done") throw new Error(r.status === "failed" ? r.error.message : r.status);
  return r.world;
}

/** mmap(2) of vfio0's BAR0 (or `length` bytes of it) in the VMM; returns the address. */
function mmapBar(m: Machine, w: World, length = LEN): { world: World; addr: bigint } {
  const r = step(m, w, mmOp({ op: "mmap", fd: "vfio0", offset: 0n, length }));
  if (r.status !== "done" || r.returned === undefined) throw new Error("mmap failed");
  return { world: r.world, addr: BigInt(r.returned.ret) };
}

function dma(m: Machine, w: World, device: string, addr: bigint): string {
  const r = step(m, w, { kind: "dma", device, addr, len: 0x1000n, dir: "write" });
  if (r.status !== "done") throw new Error("dma did not run");
  const e = r.events.find((x) => x.kind === "dma");
  if (e?.kind !== "dma") throw new Error("no dma event");
  return e.outcome;
}

function expectErrno(w: World, r: StepOutcome, errno: string): void {
  expect(r.status).toBe("failed");
  if (r.status === "failed") expect(r.error.errno).toBe(errno);
  // A failed call changes nothing.
  expect(r.world).toBe(w);
}

/** The world after the BAR's owner reset or released it (what a close, FLR or unbind does to the region). */
function resetBar(w: World): World {
  const found = regionNamed(w, "vfio0.bar0");
  if (found === undefined) throw new Error("no BAR");
  return setRegionStatus(w, found[0], "inaccessible");
}

/** A world with the BAR mmapped and fished into dev1's domain at IOVA. */
function fished(m: Machine): { world: World; addr: bigint } {
  const b = mmapBar(m, boot(m));
  const world = mustDone(
    type1(m, b.world, {
      op: "VFIO_IOMMU_MAP_DMA",
      device: "dev1",
      vaddr: b.addr,
      iova: IOVA,
      size: LEN,
    }),
  );
  return { world, addr: b.addr };
}

describe("VFIO_IOMMU_MAP_DMA follows a VM_PFNMAP BAR mmap to its raw PFNs", () => {
  it("maps the BAR's PFNs at the IOVA asked for, pins nothing, and grants with no attachment", () => {
    const m = makeMachine();
    const { world } = fished(m);
    const [d] = vfioType1StateOf(m, world).dmas;
    expect(d?.chunks).toEqual([{ iova: IOVA, phys: BAR0, len: LEN }]);
    expect(d?.pinned).toEqual([]);
    const grants = (d?.grants ?? []).map((g) => world.grants.get(g));
    expect(grants.map((g) => g?.att)).toEqual([null]);
    expect(dma(m, world, "dev1", IOVA)).toBe("ok");
  });

  it("has no lifetime link: after munmap and the BAR's reset the device's DMA is a violation", () => {
    const m = makeMachine();
    const f = fished(m);
    const unmapped = mustDone(step(m, f.world, mmOp({ op: "munmap", addr: f.addr, length: LEN })));
    // Nothing told type1: its mapping is still there.
    expect(vfioType1StateOf(m, unmapped).dmas).toHaveLength(1);
    expect(dma(m, unmapped, "dev1", IOVA)).toBe("ok");
    expect(dma(m, resetBar(unmapped), "dev1", IOVA)).toBe("violation");
  });

  it("refuses a BAR whose fault handler refuses (memory off or mid-reset) with EFAULT", () => {
    const m = makeMachine();
    const b = mmapBar(m, boot(m));
    const w = resetBar(b.world);
    const r = mapBarDma(m, w, b.addr);
    expectErrno(w, r, "EFAULT");
  });

  it("refuses a write mapping of a read-only BAR mmap with EFAULT, and maps it read-only", () => {
    const m = makeMachine();
    const r0 = step(
      m,
      boot(m),
      mmOp({ op: "mmap", fd: "vfio0", offset: 0n, length: LEN, prot: ["READ"] }),
    );
    if (r0.status !== "done" || r0.returned === undefined) throw new Error("mmap failed");
    const addr = BigInt(r0.returned.ret);
    const args = {
      op: "VFIO_IOMMU_MAP_DMA" as const,
      device: "dev1",
      vaddr: addr,
      iova: IOVA,
      size: LEN,
    };
    expectErrno(r0.world, type1(m, r0.world, args), "EFAULT");
    const ro = mustDone(type1(m, r0.world, { ...args, flags: ["READ"] }));
    expect(dma(m, ro, "dev1", IOVA)).toBe("fault");
  });
});

describe("VFIO_IOMMU_MAP_DMA pins ordinary memory", () => {
  it("pins anonymous memory, maps it, and UNMAP_DMA releases it and removes the mapping", () => {
    const m = makeMachine();
    const vaddr = 0x7f00_0000_0000n;
    const w = mustDone(
      type1(m, boot(m), { op: "VFIO_IOMMU_MAP_DMA", device: "dev1", vaddr, iova: IOVA, size: LEN }),
    );
    const [d] = vfioType1StateOf(m, w).dmas;
    expect(d?.pinned.map((p) => p.region)).toEqual(["vmm.anon"]);
    expect(dma(m, w, "dev1", IOVA)).toBe("ok");
    const u = mustDone(
      type1(m, w, { op: "VFIO_IOMMU_UNMAP_DMA", device: "dev1", iova: IOVA, size: LEN }),
    );
    expect(vfioType1StateOf(m, u).dmas).toEqual([]);
    expect(u.grants.size).toBe(boot(m).grants.size);
    expect(dma(m, u, "dev1", IOVA)).toBe("fault");
  });

  it("refuses a munmapped range with EFAULT (GUP finds nothing, and it is no VM_PFNMAP VMA)", () => {
    const m = makeMachine();
    const b = mmapBar(m, boot(m));
    const w = mustDone(step(m, b.world, mmOp({ op: "munmap", addr: b.addr, length: LEN })));
    const r = mapBarDma(m, w, b.addr);
    expectErrno(w, r, "EFAULT");
  });
});

describe("VFIO_IOMMU_MAP_DMA checks in vfio_dma_do_map's order, each failure changing nothing", () => {
  const m = makeMachine();
  const f = fished(m);
  const w = f.world;
  const base = {
    op: "VFIO_IOMMU_MAP_DMA" as const,
    device: "dev1",
    vaddr: f.addr,
    iova: 0x1000_0000n,
    size: LEN,
  };

  it("a device behind no IOMMU is in no type1 container: ENOTTY before anything else", () => {
    expectErrno(w, type1(m, w, { ...base, device: "dev2", size: 0n }), "ENOTTY");
  });
  it("size 0 is EINVAL before the overflow check", () => {
    expectErrno(w, type1(m, w, { ...base, size: 0n, iova: U64_MAX }), "EINVAL");
  });
  it("iova + size - 1 past U64_MAX is EOVERFLOW, before the alignment check", () => {
    expectErrno(
      w,
      type1(m, w, { ...base, iova: U64_MAX - 0xfffn + 1n, size: 0x2001n }),
      "EOVERFLOW",
    );
  });
  it("vaddr + size - 1 past U64_MAX is EOVERFLOW", () => {
    expectErrno(w, type1(m, w, { ...base, vaddr: U64_MAX - 0xfffn, size: 0x2000n }), "EOVERFLOW");
  });
  it("neither READ nor WRITE is EINVAL, before the alignment check", () => {
    expectErrno(w, type1(m, w, { ...base, flags: [], iova: 0x123n }), "EINVAL");
  });
  it("size, iova or vaddr not aligned to the smallest IOMMU page is EINVAL", () => {
    expectErrno(w, type1(m, w, { ...base, size: 0x800n }), "EINVAL");
    expectErrno(w, type1(m, w, { ...base, iova: 0x1000_0800n }), "EINVAL");
    expectErrno(w, type1(m, w, { ...base, vaddr: f.addr + 0x800n }), "EINVAL");
  });
  it("an overlap with an existing mapping is EEXIST, before the IOVA range check", () => {
    expectErrno(w, type1(m, w, { ...base, iova: IOVA + 0x1000n }), "EEXIST");
  });
  it("an IOVA in a reserved region (the MSI window) is EINVAL, before the pages are looked up", () => {
    expectErrno(
      w,
      type1(m, w, { ...base, vaddr: 0x1000_0000n - 0x1000n, iova: 0xfee0_0000n, size: 0x1000n }),
      "EINVAL",
    );
  });
});

describe("VFIO_IOMMU_UNMAP_DMA", () => {
  const m = makeMachine();
  const { world: w } = fished(m);
  const unmap = { op: "VFIO_IOMMU_UNMAP_DMA" as const, device: "dev1", iova: IOVA, size: LEN };

  it("refuses an unaligned iova or size, and a size of 0, with EINVAL", () => {
    expectErrno(w, type1(m, w, { ...unmap, iova: IOVA + 0x10n }), "EINVAL");
    expectErrno(w, type1(m, w, { ...unmap, size: 0n }), "EINVAL");
  });
  it("refuses a range that splits a mapping with EINVAL (type1v2)", () => {
    expectErrno(w, type1(m, w, { ...unmap, size: 0x1000n }), "EINVAL");
  });
  it("unmaps exactly the mappings inside the range; the device's DMA then faults", () => {
    const u = mustDone(type1(m, w, unmap));
    expect(vfioType1StateOf(m, u).dmas).toEqual([]);
    expect(dma(m, u, "dev1", IOVA)).toBe("fault");
  });
});
