/**
 * The GPU exporter's hypothetical `kvm-pfn` (Xu Yilun's get_pfn, kernel-model
 * §5.1; offered only where the GPU offers PAL, §4.4): get_pfn over the BO's
 * current placement, VRAM as non-cacheable MMIO, system pages as RAM; a
 * move invalidates and the next get_pfn sees the new placement. The RDMA
 * exporter never offers it.
 */
import { describe, expect, it } from "vitest";
import {
  defineProfile,
  kvmPfn,
  linux619,
  linux71,
  mustAtt,
  offersOf,
  payloadAs,
  proposalConverters,
  rfcMappingTypesV1,
  runScript,
} from "@dmabuf-ref/core";
import type { Encoded, Machine, Profile, World } from "@dmabuf-ref/core";
import { gpuPrivOf } from "@dmabuf-ref/exporters";
import { VRAM, exportBuf, makeWorld } from "./setup.js";
import { kvmAttach, kvmGetPfn, kvmLikeImporter } from "../support/kvm-like.js";

const RAM0 = 0x1_0000_0000n;
const SIZE = 0x10000n;

function world(profile: Profile = proposalConverters): { m: Machine; w: World } {
  return makeWorld(profile, false, [kvmLikeImporter]);
}

function bo(m: Machine, w: World, placement: "vram" | "system"): { world: World; buf: number } {
  return exportBuf(m, w, "gpu", "gpu0", { size: SIZE, placement });
}

function offerData(m: Machine, w: World, buf: number): [string, unknown][] {
  return offersOf(m, w, buf).map((o) => [o.type.id, o.data]);
}

function kvmMapped(
  m: Machine,
  w: World,
  buf: number,
): { world: World; att: number; payload: Encoded<unknown> | undefined } {
  const a = kvmAttach(m, w, buf);
  if (a.status !== "done" || a.created === undefined) throw new Error("KVM-like attach failed");
  const r = kvmGetPfn(m, a.world, buf, a.created);
  if (r.errno !== undefined) throw new Error(`get_pfn: ${r.errno}`);
  return { world: r.world, att: a.created, payload: r.payload };
}

describe("the GPU's hypothetical kvm-pfn offer (kernel-model §5.1, §4.4)", () => {
  it("under proposal-converters the GPU offers [pal, kvm-pfn]: MMIO for VRAM, not for system pages", () => {
    const { m, w } = world();
    const v = bo(m, w, "vram");
    expect(offerData(m, v.world, v.buf)).toEqual([
      ["pal", { provider: "gpu0" }],
      ["kvm-pfn", { mmio: true }],
    ]);
    const s = bo(m, v.world, "system");
    expect(offerData(m, s.world, s.buf)).toEqual([
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
      const { m, w } = world(profile);
      const v = bo(m, w, "vram");
      expect(offerData(m, v.world, v.buf).map(([id]) => id)).not.toContain("kvm-pfn");
    }
  });

  it("under rfc-mapping-types-v1 KVM's attach of a GPU dma-buf fails in negotiation with EINVAL", () => {
    const { m, w } = world(rfcMappingTypesV1);
    const v = bo(m, w, "vram");
    const r = kvmAttach(m, v.world, v.buf);
    expect(r.status === "failed" ? r.error.errno : r.status).toBe("EINVAL");
    expect(r.world).toBe(v.world);
  });

  it("the RDMA exporter offers no kvm-pfn under any profile: KVM's attach fails with EINVAL", () => {
    for (const profile of [rfcMappingTypesV1, proposalConverters]) {
      const { m, w } = world(profile);
      const e = exportBuf(m, w, "rdma", "nic0", { size: SIZE, offset: 0n });
      const r = kvmAttach(m, e.world, e.buf);
      expect(r.status === "failed" ? r.error.errno : r.status).toBe("EINVAL");
    }
  });
});

describe("the GPU's hypothetical get_pfn (kernel-model §5.1, §1.2)", () => {
  it("get_pfn of a VRAM BO is its VRAM range as write-combined MMIO, never write-back", () => {
    const { m, w } = world();
    const v = bo(m, w, "vram");
    const mapped = kvmMapped(m, v.world, v.buf);
    expect(payloadAs(kvmPfn, mapped.payload)).toEqual({
      ranges: [{ paddr: VRAM, len: SIZE }],
      mmio: true,
      cache: "write-combine",
    });
    expect(mustAtt(mapped.world, mapped.att).mapping?.grants).toEqual([]);
  });

  it("get_pfn of a system-page BO is RAM, write-back", () => {
    const { m, w } = world();
    const s = bo(m, w, "system");
    expect(payloadAs(kvmPfn, kvmMapped(m, s.world, s.buf).payload)).toEqual({
      ranges: [{ paddr: RAM0, len: SIZE }],
      mmio: false,
      cache: "write-back",
    });
  });

  it("an evicted BO's move invalidates KVM, and the next get_pfn answers the new system placement", () => {
    const { m, w } = world();
    const v = bo(m, w, "vram");
    const mapped = kvmMapped(m, v.world, v.buf);
    const run = runScript(m, mapped.world, [
      { kind: "driver", driver: "gpu", action: { op: "evict", buf: v.buf } },
    ]);
    expect(run.events.some((e) => e.kind === "invalidate" && e.att === mapped.att)).toBe(true);
    expect(mustAtt(run.world, mapped.att).mapping).toBeNull();
    const phys = gpuPrivOf(run.world, v.buf).phys;
    const again = kvmGetPfn(m, run.world, v.buf, mapped.att);
    expect(payloadAs(kvmPfn, again.payload)).toEqual({
      ranges: [{ paddr: phys, len: SIZE }],
      mmio: false,
      cache: "write-back",
    });
    expect(phys).not.toBe(VRAM);
    expect([...again.world.violations.values()]).toEqual([]);
  });
});
