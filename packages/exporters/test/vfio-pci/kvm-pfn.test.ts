/**
 * VFIO's `kvm-pfn` offer and its `get_pfn` (Xu Yilun's KVM RFC,
 * kernel-model §5.1, §4.3): where the profile has the type VFIO offers it
 * last, answers the buffer's BAR ranges as uncached MMIO, refuses with
 * ENODEV while revoked, and keeps its attach rules for KVM's attachment.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import {
  attachRevocable,
  boot,
  defineMachine,
  exporterOf,
  kvmPfn,
  linux619,
  linux71,
  mustAtt,
  mustBuf,
  payloadAs,
  proposalConverters,
  referenceImporter,
  rfcMappingTypesV1,
} from "@dmabuf-ref/core";
import type { Machine, Profile, VfioRegionDmaRange, World } from "@dmabuf-ref/core";
import { vfioPciExporter } from "@dmabuf-ref/exporters";
import { BAR0, exportVfio, palImporter, runActs, topology } from "./setup.js";
import {
  KVM_LIKE,
  kvmAttach,
  kvmGetPfn,
  kvmLikeImporter,
  kvmLikeNoInvalidate,
} from "../support/kvm-like.js";

const PAGE = 0x1000n;

/**
 * vfio0 with BAR0 on the vfio-pci test topology, KVM-like, PAL and SGT
 * importers, and the world the machine boots into.
 */
function kvmWorld(profile: Profile = rfcMappingTypesV1): { m: Machine; w: World } {
  const vfio = vfioPciExporter({
    devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
  });
  const importers = [kvmLikeImporter, kvmLikeNoInvalidate, palImporter, referenceImporter()];
  const m = defineMachine({ profile, topology, exporters: [vfio], importers });
  return { m, w: boot(m) };
}

function attached(
  m: Machine,
  w: World,
  buf: number,
  importer = KVM_LIKE,
): { world: World; att: number } {
  const r = kvmAttach(m, w, buf, importer);
  if (r.status !== "done" || r.created === undefined) {
    throw new Error(`attach: ${r.status === "failed" ? r.error.errno : r.status}`);
  }
  return { world: r.world, att: r.created };
}

describe("VFIO offers kvm-pfn where the profile has the type (kernel-model §5.1)", () => {
  it("VFIO offers kvm-pfn {mmio: true} last under rfc-mapping-types-v1 and proposal-converters", () => {
    for (const profile of [rfcMappingTypesV1, proposalConverters]) {
      const { m, w } = kvmWorld(profile);
      const e = exportVfio(m, w);
      const offers = exporterOf(m, mustBuf(e.world, e.buf)).offers(m, e.world, e.buf);
      expect(offers.at(-1)).toMatchObject({ type: kvmPfn, data: { mmio: true } });
      expect(offers.filter((o) => o.type === kvmPfn)).toHaveLength(1);
    }
  });

  it("where the profile has no kvm-pfn type (linux-6.19, linux-7.1) VFIO does not offer it", () => {
    for (const profile of [linux619, linux71]) {
      const { m, w } = kvmWorld(profile);
      const e = exportVfio(m, w);
      const offers = exporterOf(m, mustBuf(e.world, e.buf)).offers(m, e.world, e.buf);
      expect(offers.some((o) => o.type.id === kvmPfn.id)).toBe(false);
    }
  });

  it("offering kvm-pfn changes no other importer's match: iommufd still gets pal, an SGT importer sgt", () => {
    const { m, w } = kvmWorld();
    const e = exportVfio(m, w);
    const run = runActs(m, e.world, [
      { kind: "attach", buf: e.buf, importer: palImporter.name, device: "dev1", dynamic: true },
      { kind: "attach", buf: e.buf, importer: "ref-importer", device: "dev1", dynamic: true },
    ]);
    const [p, s] = run.results.map((r) => r.created);
    if (p === undefined || s === undefined) throw new Error("attach failed");
    expect(mustAtt(run.world, p).mapType).toBe("pal");
    expect(mustAtt(run.world, s).mapType).toBe("sgt");
  });
});

describe("VFIO's attach rules hold for KVM's attachment (kernel-model §2.3, §5.1)", () => {
  it("KVM's dynamic dev=NULL attachment with allow_peer2peer and invalidate is revocable, so VFIO accepts it", () => {
    const { m, w } = kvmWorld();
    const e = exportVfio(m, w);
    const a = attached(m, e.world, e.buf);
    const att = mustAtt(a.world, a.att);
    expect(att).toMatchObject({ device: null, dynamic: true, peer2peer: true, mapType: "kvm-pfn" });
    expect(attachRevocable(att)).toBe(true);
  });

  it("a kvm-pfn importer without an invalidate callback is refused with EOPNOTSUPP: not revocable", () => {
    const { m, w } = kvmWorld();
    const e = exportVfio(m, w);
    const r = kvmAttach(m, e.world, e.buf, kvmLikeNoInvalidate.name);
    expect(r.status === "failed" ? r.error.errno : r.status).toBe("EOPNOTSUPP");
    expect(r.world).toBe(e.world);
  });

  it("KVM's attach of a revoked VFIO dma-buf fails with ENODEV", () => {
    const { m, w } = kvmWorld();
    const off = runActs(m, w, [
      { op: "config-write-command", device: "vfio0", memory: false },
    ]).world;
    const e = exportVfio(m, off);
    const r = kvmAttach(m, e.world, e.buf);
    expect(r.status === "failed" ? r.error.errno : r.status).toBe("ENODEV");
  });
});

describe("VFIO's get_pfn (kernel-model §5.1)", () => {
  it("get_pfn on a revoked VFIO dma-buf is ENODEV (KVM turns it into EIO) and maps nothing", () => {
    const { m, w } = kvmWorld();
    const e = exportVfio(m, w);
    const a = attached(m, e.world, e.buf);
    const off = runActs(m, a.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
    ]).world;
    const r = kvmGetPfn(m, off, e.buf, a.att);
    expect(r.errno).toBe("ENODEV");
    expect(mustAtt(r.world, a.att).mapping).toBeNull();
  });

  it("VFIO never hands KVM its MMIO as cacheable: get_pfn is uncached MMIO", () => {
    const { m, w } = kvmWorld();
    const e = exportVfio(m, w);
    const a = attached(m, e.world, e.buf);
    const r = kvmGetPfn(m, a.world, e.buf, a.att);
    expect(payloadAs(kvmPfn, r.payload)).toMatchObject({ mmio: true, cache: "uncached" });
    expect(mustAtt(r.world, a.att).mapping?.grants).toEqual([]);
  });

  const layout = fc
    .array(
      fc.record({ gap: fc.integer({ min: 0, max: 16 }), pages: fc.integer({ min: 1, max: 64 }) }),
      { minLength: 1, maxLength: 4 },
    )
    .chain((pieces) => fc.tuple(fc.constant(pieces), fc.boolean()));

  test.prop([layout])(
    "get_pfn answers the buffer's BAR ranges in the order userspace gave them",
    ([pieces, reversed]) => {
      let at = 0n;
      const ranges: VfioRegionDmaRange[] = pieces.map((p) => {
        const offset = at + BigInt(p.gap) * PAGE;
        const length = BigInt(p.pages) * PAGE;
        at = offset + length;
        return { offset, length };
      });
      if (reversed) ranges.reverse();
      const { m, w } = kvmWorld();
      const e = exportVfio(m, w, ranges);
      const a = attached(m, e.world, e.buf);
      const got = payloadAs(kvmPfn, kvmGetPfn(m, a.world, e.buf, a.att).payload);
      expect(got.ranges).toEqual(ranges.map((r) => ({ paddr: BAR0 + r.offset, len: r.length })));
      expect(got.mmio).toBe(true);
      expect(got.cache).toBe("uncached");
    },
  );
});
