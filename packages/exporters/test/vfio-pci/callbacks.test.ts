/**
 * VFIO's dma_buf_ops per profile (kernel-model §2.3, §2.4, §2.7, §4.3,
 * §4.4): offers, attach, pin, map, unmap and the private interconnect.
 */
import { describe, expect, it } from "vitest";
import {
  defineProfile,
  exporterOf,
  importerHolder,
  linux619,
  linux71,
  mustBuf,
  offersOf,
  pal,
  payloadAs,
  privatePhys,
  proposalConverters,
  rfcMappingTypesV1,
  runScript,
  sgt,
  step,
} from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { SG_ENTRY_MAX, vfioProfileOptions } from "@dmabuf-ref/exporters";
import {
  BAR0,
  BAR0_BUS_OFFSET,
  BAR4,
  BAR4_SIZE,
  attachMapped,
  exportVfio,
  makeWorld,
  runActs,
} from "./setup.js";

function attach(
  m: Machine,
  w: World,
  buf: number,
  importer: string,
  device: string | null = "dev1",
  dynamic = true,
): ReturnType<typeof step> {
  return step(m, w, { kind: "attach", buf, importer, device, dynamic });
}

function errnoOf(r: ReturnType<typeof step>): string {
  return r.status === "failed" ? r.error.errno : r.status;
}

function offerIds(m: Machine, w: World, buf: number): string[] {
  return offersOf(m, w, buf).map((o) => o.type.id);
}

describe("offers per profile (kernel-model §2.7, §4.3, §4.4)", () => {
  it("linux-6.19 and linux-7.1 offer [vfio-iommufd-private, sgt]: the private interconnect first", () => {
    for (const profile of [linux619, linux71]) {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      expect(offerIds(m, e.world, e.buf)).toEqual(["vfio-iommufd-private", "sgt"]);
    }
  });

  it("rfc-mapping-types-v1 offers [pal, sgt, kvm-pfn] with the device as provider, P2P required, and the BAR as MMIO", () => {
    const { m, w } = makeWorld({ profile: rfcMappingTypesV1 });
    const e = exportVfio(m, w);
    const offers = exporterOf(m, mustBuf(e.world, e.buf)).offers(m, e.world, e.buf);
    expect(offers.map((o) => [o.type.id, o.data])).toEqual([
      ["pal", { provider: "vfio0" }],
      ["sgt", { requiresP2P: true, p2pDevice: "vfio0" }],
      ["kvm-pfn", { mmio: true }],
    ]);
  });

  it("proposal-converters offers [pal, kvm-pfn]: VFIO is PAL-only (plus KVM's get_pfn) when core converts PAL->SGT", () => {
    const { m, w } = makeWorld({ profile: proposalConverters });
    const e = exportVfio(m, w);
    expect(offerIds(m, e.world, e.buf)).toEqual(["pal", "kvm-pfn"]);
  });
});

describe("attach (kernel-model §2.3)", () => {
  it("a static importer's attach fails with EOPNOTSUPP: VFIO needs peer2peer", () => {
    for (const profile of [linux619, linux71]) {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      const r = attach(m, e.world, e.buf, "ref-importer", "dev1", false);
      expect(errnoOf(r)).toBe("EOPNOTSUPP");
      expect(r.world).toBe(e.world);
    }
  });

  it("with mapping types a static importer (SGT without P2P) matches nothing: EINVAL from negotiation", () => {
    for (const profile of [rfcMappingTypesV1, proposalConverters]) {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      const r = attach(m, e.world, e.buf, "ref-importer", "dev1", false);
      expect(errnoOf(r)).toBe("EINVAL");
      expect(r.world).toBe(e.world);
    }
  });

  it("attach of a revoked VFIO dmabuf fails with ENODEV", () => {
    const { m, w } = makeWorld();
    const off = runActs(m, w, [{ op: "config-write-command", device: "vfio0", memory: false }]);
    const e = exportVfio(m, off.world);
    expect(errnoOf(attach(m, e.world, e.buf, "ref-importer"))).toBe("ENODEV");
  });

  it("under linux-7.1 a dynamic importer without invalidate_mappings is refused with EOPNOTSUPP", () => {
    const { m, w } = makeWorld({ profile: linux71 });
    const e = exportVfio(m, w);
    expect(errnoOf(attach(m, e.world, e.buf, "rdma-pinned"))).toBe("EOPNOTSUPP");
  });

  it("under linux-6.19 a non-revocable importer attaches, and its dma_buf_pin fails with EOPNOTSUPP", () => {
    const { m, w } = makeWorld({ profile: linux619 });
    const e = exportVfio(m, w);
    const a = attach(m, e.world, e.buf, "rdma-pinned");
    if (a.status !== "done" || a.created === undefined) throw new Error("attach failed");
    const holder = importerHolder("rdma-pinned", a.created);
    const run = runScript(m, a.world, [
      { kind: "lock", buf: e.buf, holder },
      { kind: "pin", att: a.created, holder },
    ]);
    expect(run.results[1]?.error?.errno).toBe("EOPNOTSUPP");
  });

  it("under linux-7.1 VFIO's pin is a no-op that succeeds", () => {
    const { m, w } = makeWorld({ profile: linux71 });
    const e = exportVfio(m, w);
    const a = attach(m, e.world, e.buf, "iommufd");
    if (a.status !== "done" || a.created === undefined) throw new Error("attach failed");
    const holder = importerHolder("iommufd", a.created);
    const run = runScript(m, a.world, [
      { kind: "lock", buf: e.buf, holder },
      { kind: "pin", att: a.created, holder },
    ]);
    expect(run.results.map((r) => r.status)).toEqual(["done", "done"]);
    expect(run.world.atts.get(a.created)?.pins).toBe(1);
  });
});

describe("map and unmap (kernel-model §1.4, §2.3)", () => {
  it("map of a revoked VFIO dmabuf fails with ENODEV", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    const a = attach(m, e.world, e.buf, "ref-importer");
    if (a.status !== "done" || a.created === undefined) throw new Error("attach failed");
    const holder = importerHolder("ref-importer", a.created);
    const run = runActs(m, a.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { kind: "lock", buf: e.buf, holder },
      { kind: "map", att: a.created, holder },
    ]);
    expect(run.results[2]?.error?.errno).toBe("ENODEV");
  });

  it("under linux-6.19 every map of a VFIO dmabuf fails with EOPNOTSUPP (pin-on-map without MOVE_NOTIFY)", () => {
    const { m, w } = makeWorld({ profile: linux619 });
    const e = exportVfio(m, w);
    const a = attach(m, e.world, e.buf, "ref-importer");
    if (a.status !== "done" || a.created === undefined) throw new Error("attach failed");
    const holder = importerHolder("ref-importer", a.created);
    const run = runScript(m, a.world, [
      { kind: "lock", buf: e.buf, holder },
      { kind: "map", att: a.created, holder },
    ]);
    expect(run.results[1]?.error?.errno).toBe("EOPNOTSUPP");
  });

  it("map for a device that cannot reach the BAR peer to peer fails with EINVAL (no negotiation: the map refuses)", () => {
    const { m, w } = makeWorld({ profile: linux71 });
    const e = exportVfio(m, w);
    const a = attach(m, e.world, e.buf, "ref-importer", "dev3");
    if (a.status !== "done" || a.created === undefined) throw new Error("attach failed");
    const holder = importerHolder("ref-importer", a.created);
    const locked = runScript(m, a.world, [{ kind: "lock", buf: e.buf, holder }]).world;
    const r = step(m, locked, { kind: "map", att: a.created, holder });
    expect(errnoOf(r)).toBe("EINVAL");
    expect(r.world).toBe(locked);
  });

  it("under rfc-mapping-types-v1 an unreachable SGT importer fails the attach in negotiation (EINVAL)", () => {
    const { m, w } = makeWorld({ profile: rfcMappingTypesV1 });
    const e = exportVfio(m, w);
    expect(errnoOf(attach(m, e.world, e.buf, "ref-importer", "dev3"))).toBe("EINVAL");
  });

  it("a peer below the host bridge gets one IOVA per range; a peer below the same switch gets the bus address", () => {
    const ranges = [
      { offset: 0x4000n, length: 0x2000n },
      { offset: 0n, length: 0x1000n },
    ];
    const { m, w } = makeWorld();
    const e = exportVfio(m, w, ranges);
    const far = attachMapped(m, e.world, e.buf, "dev1");
    const mapping = far.world.atts.get(far.att)?.mapping;
    expect(mapping?.iova.length).toBe(2);
    expect(mapping?.grants.length).toBe(2);
    const near = attachMapped(m, far.world, e.buf, "dev0");
    const payload = payloadAs(sgt, near.world.atts.get(near.att)?.mapping?.payload);
    expect(payload).toEqual({
      entries: [
        { dmaAddress: BAR0 + 0x4000n + BAR0_BUS_OFFSET, length: 0x2000n },
        { dmaAddress: BAR0 + BAR0_BUS_OFFSET, length: 0x1000n },
      ],
    });
    expect(near.world.atts.get(near.att)?.mapping?.iova).toEqual([]);
  });

  it("an sg entry is capped at ALIGN_DOWN(UINT_MAX, PAGE_SIZE)", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w, [{ offset: 0n, length: BAR4_SIZE }], "vfio0", 4);
    const mapped = attachMapped(m, e.world, e.buf, "dev0");
    const payload = payloadAs(sgt, mapped.world.atts.get(mapped.att)?.mapping?.payload);
    expect(payload.entries.map((x) => x.length)).toEqual([
      SG_ENTRY_MAX,
      SG_ENTRY_MAX,
      BAR4_SIZE - 2n * SG_ENTRY_MAX,
    ]);
    expect(payload.entries[1]?.dmaAddress).toBe(BAR4 + SG_ENTRY_MAX);
  });

  it("unmap gives the IOVA back and ends the grants", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    const mapped = attachMapped(m, e.world, e.buf, "dev1");
    const holder = importerHolder("ref-importer", mapped.att);
    const run = runScript(m, mapped.world, [
      { kind: "lock", buf: e.buf, holder },
      { kind: "unmap", att: mapped.att, holder },
      { kind: "unlock", buf: e.buf, holder },
    ]);
    expect(run.world.grants.size).toBe(0);
    expect([...run.world.domains.values()].every((d) => d.mappings.size === 0)).toBe(true);
  });

  it("under rfc-mapping-types-v1 a PAL importer gets the phys_vec list and no grant", () => {
    const { m, w } = makeWorld({ profile: rfcMappingTypesV1 });
    const e = exportVfio(m, w, [{ offset: 0x2000n, length: 0x1000n }]);
    const mapped = attachMapped(m, e.world, e.buf, "dev1", "iommufd-pal");
    const mapping = mapped.world.atts.get(mapped.att)?.mapping;
    expect(payloadAs(pal, mapping?.payload)).toEqual({
      phys: [{ paddr: BAR0 + 0x2000n, len: 0x1000n }],
    });
    expect(mapping?.grants).toEqual([]);
    expect(mapping?.iova).toEqual([]);
  });

  it("under proposal-converters an SGT importer is reached through pal->sgt", () => {
    const { m, w } = makeWorld({ profile: proposalConverters });
    const e = exportVfio(m, w);
    const mapped = attachMapped(m, e.world, e.buf, "dev1");
    const a = mapped.world.atts.get(mapped.att);
    expect(a).toMatchObject({ mapType: "sgt", converter: "pal->sgt" });
    expect(a?.mapping?.grants.length).toBe(1);
  });

  it("map of the private interconnect type fails with EOPNOTSUPP: iommufd never calls map_dma_buf", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    const a = attach(m, e.world, e.buf, "iommufd");
    if (a.status !== "done" || a.created === undefined) throw new Error("attach failed");
    expect(a.world.atts.get(a.created)?.mapType).toBe("vfio-iommufd-private");
    const holder = importerHolder("iommufd", a.created);
    const run = runScript(m, a.world, [
      { kind: "lock", buf: e.buf, holder },
      { kind: "map", att: a.created, holder },
    ]);
    expect(run.results[1]?.error?.errno).toBe("EOPNOTSUPP");
  });

  it("revoke waits for every unmap iff the profile says so of vfio-pci (waitsForUnmap)", () => {
    for (const profile of [linux619, linux71, rfcMappingTypesV1, proposalConverters]) {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      const driver = exporterOf(m, mustBuf(e.world, e.buf));
      expect(driver.revokeWaitsForUnmap?.(m)).toBe(vfioProfileOptions(profile).waitsForUnmap);
    }
  });
});

describe("the private VFIO->iommufd interconnect (kernel-model §2.7)", () => {
  function privateAttached(
    m: Machine,
    w: World,
    ranges = [{ offset: 0x1000n, length: 0x3000n }],
  ): {
    world: World;
    att: number;
    holder: string;
    buf: number;
  } {
    const e = exportVfio(m, w, ranges);
    const a = attach(m, e.world, e.buf, "iommufd", null);
    if (a.status !== "done" || a.created === undefined) throw new Error("attach failed");
    const holder = importerHolder("iommufd", a.created);
    const world = runScript(m, a.world, [{ kind: "lock", buf: e.buf, holder }]).world;
    return { world, att: a.created, holder, buf: e.buf };
  }

  it("returns the one range of a single-range dma-buf and counts no mapping", () => {
    const { m, w } = makeWorld();
    const p = privateAttached(m, w);
    expect(privatePhys(m, p.world, p.att, p.holder)).toEqual({
      ok: true,
      value: [{ paddr: BAR0 + 0x1000n, len: 0x3000n }],
    });
    expect(p.world.atts.get(p.att)?.mapping).toBeNull();
  });

  it("nr_ranges != 1 fails with EOPNOTSUPP", () => {
    const { m, w } = makeWorld();
    const p = privateAttached(m, w, [
      { offset: 0n, length: 0x1000n },
      { offset: 0x2000n, length: 0x1000n },
    ]);
    expect(privatePhys(m, p.world, p.att, p.holder)).toMatchObject({
      ok: false,
      error: { errno: "EOPNOTSUPP" },
    });
  });

  it("a revoked VFIO dmabuf fails with ENODEV", () => {
    const { m, w } = makeWorld();
    const p = privateAttached(m, w);
    const unlocked = runScript(m, p.world, [
      { kind: "unlock", buf: p.buf, holder: p.holder },
    ]).world;
    const off = runActs(m, unlocked, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { kind: "lock", buf: p.buf, holder: p.holder },
    ]).world;
    expect(privatePhys(m, off, p.att, p.holder)).toMatchObject({
      ok: false,
      error: { errno: "ENODEV" },
    });
  });
});

describe("a profile states vfio-pci's options as data that the driver validates", () => {
  it("options that do not fit the driver's schema (a misspelt key) are refused, naming the profile", () => {
    const typo = defineProfile({
      ...linux71,
      id: "typo",
      drivers: {
        ...linux71.drivers,
        "vfio-pci": { ...linux71.drivers["vfio-pci"], waitForUnmap: true },
      },
    });
    expect(() => vfioProfileOptions(typo)).toThrow(
      /profile typo states no valid options for vfio-pci/,
    );
    const none = defineProfile({ ...linux71, id: "none", drivers: {} });
    expect(() => vfioProfileOptions(none)).toThrow(/profile none/);
  });
});
