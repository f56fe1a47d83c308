/**
 * The GPU exporter's hypothetical `kvm-pfn` (Xu Yilun's get_pfn, kernel-facts
 * §5.1; offered only where the GPU offers PAL, §4.4): get_pfn over the BO's
 * current placement, VRAM as non-cacheable MMIO, system pages as RAM; a
 * move invalidates and the next get_pfn sees the new placement. The RDMA
 * exporter never offers it.
 */
import { describe, expect, it } from "vitest";
import {
  offersOf,
  defineProfile,
  kvmPfn,
  linux619,
  linux71,
  mustAtt,
  proposalConverters,
  rfcMappingTypesV1,
  runScript,
} from "@dmabuf-ref/core";
import type { Profile, World } from "@dmabuf-ref/core";
import { gpuPrivOf } from "@dmabuf-ref/exporters";
import { VRAM, exportBuf, makeWorld } from "./setup.js";
import { kvmAttach, kvmGetPfn, kvmLikeImporter } from "../support/kvm-like.js";

const RAM0 = 0x1_0000_0000n;
const SIZE = 0x10000n;

function world(profile: Profile = proposalConverters): World {
  return makeWorld(profile, false, [kvmLikeImporter]);
}

function bo(w: World, placement: "vram" | "system"): { world: World; buf: number } {
  return exportBuf(w, "gpu", "gpu0", { size: SIZE, placement });
}

function offerData(w: World, buf: number): [string, unknown][] {
  return offersOf(w, buf).map((o) => [o.type.id, o.data]);
}

function kvmMapped(w: World, buf: number): { world: World; att: number; payload: unknown } {
  const a = kvmAttach(w, buf);
  if (a.status !== "done" || a.created === undefined) throw new Error("KVM-like attach failed");
  const r = kvmGetPfn(a.world, buf, a.created);
  if (r.errno !== undefined) throw new Error(`get_pfn: ${r.errno}`);
  return { world: r.world, att: a.created, payload: r.payload };
}

describe("the GPU's hypothetical kvm-pfn offer (kernel-facts §5.1, §4.4)", () => {
  it("under proposal-converters the GPU offers [pal, kvm-pfn]: MMIO for VRAM, not for system pages", () => {
    const v = bo(world(), "vram");
    expect(offerData(v.world, v.buf)).toEqual([
      ["pal", { provider: "gpu0" }],
      ["kvm-pfn", { mmio: true }],
    ]);
    const s = bo(v.world, "system");
    expect(offerData(s.world, s.buf)).toEqual([
      ["pal", { provider: "gpu0" }],
      ["kvm-pfn", { mmio: false }],
    ]);
  });

  it("the GPU offers kvm-pfn only where it offers PAL and the profile has the type", () => {
    const noKvm = defineProfile({
      ...proposalConverters,
      id: "converters-without-kvm",
      mappingTypes: proposalConverters.mappingTypes.filter((t) => t !== kvmPfn),
    });
    for (const profile of [linux619, linux71, rfcMappingTypesV1, noKvm]) {
      const v = bo(world(profile), "vram");
      expect(offerData(v.world, v.buf).map(([id]) => id)).not.toContain("kvm-pfn");
    }
  });

  it("under rfc-mapping-types-v1 KVM's attach of a GPU dma-buf fails in negotiation with EINVAL", () => {
    const v = bo(world(rfcMappingTypesV1), "vram");
    const r = kvmAttach(v.world, v.buf);
    expect(r.status === "failed" ? r.error.errno : r.status).toBe("EINVAL");
    expect(r.world).toBe(v.world);
  });

  it("the RDMA exporter offers no kvm-pfn under any profile: KVM's attach fails with EINVAL", () => {
    for (const profile of [rfcMappingTypesV1, proposalConverters]) {
      const e = exportBuf(world(profile), "rdma", "nic0", { size: SIZE, offset: 0n });
      const r = kvmAttach(e.world, e.buf);
      expect(r.status === "failed" ? r.error.errno : r.status).toBe("EINVAL");
    }
  });
});

describe("the GPU's hypothetical get_pfn (kernel-facts §5.1, §1.2)", () => {
  it("get_pfn of a VRAM BO is its VRAM range as write-combined MMIO, never write-back", () => {
    const v = bo(world(), "vram");
    const m = kvmMapped(v.world, v.buf);
    expect(kvmPfn.payload.parse(m.payload)).toEqual({
      ranges: [{ paddr: VRAM, len: SIZE }],
      mmio: true,
      cache: "write-combine",
    });
    expect(mustAtt(m.world, m.att).mapping?.grants).toEqual([]);
  });

  it("get_pfn of a system-page BO is RAM, write-back", () => {
    const s = bo(world(), "system");
    expect(kvmPfn.payload.parse(kvmMapped(s.world, s.buf).payload)).toEqual({
      ranges: [{ paddr: RAM0, len: SIZE }],
      mmio: false,
      cache: "write-back",
    });
  });

  it("an evicted BO's move invalidates KVM, and the next get_pfn answers the new system placement", () => {
    const v = bo(world(), "vram");
    const m = kvmMapped(v.world, v.buf);
    const run = runScript(m.world, [
      { kind: "driver", driver: "gpu", action: { op: "evict", buf: v.buf } },
    ]);
    expect(run.events.some((e) => e.kind === "invalidate" && e.att === m.att)).toBe(true);
    expect(mustAtt(run.world, m.att).mapping).toBeNull();
    const phys = gpuPrivOf(run.world, v.buf).phys;
    const again = kvmGetPfn(run.world, v.buf, m.att);
    expect(kvmPfn.payload.parse(again.payload)).toEqual({
      ranges: [{ paddr: phys, len: SIZE }],
      mmio: false,
      cache: "write-back",
    });
    expect(phys).not.toBe(VRAM);
    expect([...again.world.violations.values()]).toEqual([]);
  });
});
