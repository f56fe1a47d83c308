import { describe, expect, it } from "vitest";
import {
  access,
  boot,
  defineMachine,
  dmaMapRanges,
  linux71,
  p2pDistanceIn,
  p2pMapType,
  setRegionStatus,
  topologySchema,
} from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";

/**
 * Two switches under one P2P-capable host bridge, one under a bridge that
 * does not forward P2P, and an ACS-redirecting switch:
 *   hb0: sw0 (gpu0 BAR, nic0), sw1 (nic1), swacs (gpu1 BAR, nic2; ACS redirect)
 *   hb1 (no P2P): sw2 (nic3)
 */
const topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x1000_0000n },
    {
      id: "gpu0.bar2",
      kind: "vram",
      base: 0x40_0000_0000n,
      size: 0x100_0000n,
      busOffset: 0x1000_0000n,
      device: "gpu0",
    },
    {
      id: "gpu1.bar0",
      kind: "bar",
      base: 0x50_0000_0000n,
      size: 0x10_0000n,
      busOffset: 0n,
      device: "gpu1",
    },
  ],
  devices: [
    { id: "gpu0", switch: "sw0" },
    { id: "nic0", switch: "sw0" },
    { id: "nic1", switch: "sw1" },
    { id: "gpu1", switch: "swacs" },
    { id: "nic2", switch: "swacs" },
    { id: "nic3", switch: "sw2" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
    { id: "swacs", hostBridge: "hb0", acsRedirect: true },
    { id: "sw2", hostBridge: "hb1" },
  ],
  hostBridges: [
    { id: "hb0", p2p: true },
    { id: "hb1", p2p: false },
  ],
});

const m = defineMachine({ profile: linux71, topology, exporters: [], importers: [] });

function world(): World {
  return boot(m);
}

describe("PCI topology: pci_p2pdma_map_type (kernel-model §1.4)", () => {
  it("same switch is BUS_ADDR, through the host bridge is THRU_HOST_BRIDGE, else not supported", () => {
    expect(p2pMapType(topology, "gpu0", "nic0")).toBe("bus-addr");
    expect(p2pMapType(topology, "gpu0", "nic1")).toBe("thru-host-bridge");
    expect(p2pMapType(topology, "gpu1", "nic2")).toBe("thru-host-bridge"); // ACS redirect
    expect(p2pMapType(topology, "gpu0", "nic3")).toBe("not-supported"); // another root complex
    expect(p2pMapType(topology, "gpu0", "nobody")).toBe("not-supported");
  });

  it("pci_p2pdma_distance is 0 to itself, >= 0 when reachable and < 0 when not", () => {
    expect(p2pDistanceIn(topology, "gpu0", "gpu0")).toBe(0);
    expect(p2pDistanceIn(topology, "gpu0", "nic0")).toBeGreaterThanOrEqual(0);
    expect(p2pDistanceIn(topology, "gpu0", "nic1")).toBeGreaterThan(
      p2pDistanceIn(topology, "gpu0", "nic0"),
    );
    expect(p2pDistanceIn(topology, "gpu0", "nic3")).toBeLessThan(0);
  });
});

describe("DMA-mapping MMIO for an importer (dma_buf_phys_vec_to_sgt, kernel-model §1.4)", () => {
  const bar = { paddr: 0x40_0000_0000n, len: 0x20_0000n };

  it("BUS_ADDR uses CPU physical + the bus offset and no IOVA", () => {
    const r = dmaMapRanges(m, world(), "nic0", [bar], { att: null, write: true });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.entries).toEqual([{ dmaAddress: 0x40_1000_0000n, length: 0x20_0000n }]);
    expect(r.value.iova).toEqual([]);
  });

  it("THRU_HOST_BRIDGE maps an IOVA in the importing device's domain", () => {
    const r = dmaMapRanges(m, world(), "nic1", [bar], { att: null, write: true });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.iova).toHaveLength(1);
    expect(r.value.entries[0]?.dmaAddress).toBe(r.value.iova[0]?.iova);
  });

  it("an unreachable importer gets EINVAL and the world is untouched", () => {
    const w = world();
    const r = dmaMapRanges(m, w, "nic3", [bar], { att: null, write: true });
    expect(r.ok ? "ok" : r.error.errno).toBe("EINVAL");
  });
});

describe("the oracle: access(device, addr, len, dir) (DESIGN §3.5)", () => {
  it("a granted P2P access by bus address reaches the BAR without the IOMMU", () => {
    const mapped = dmaMapRanges(m, world(), "nic0", [{ paddr: 0x40_0000_0000n, len: 0x1000n }], {
      att: null,
      write: true,
    });
    if (!mapped.ok) throw new Error(mapped.error.message);
    const r = access(m, mapped.value.world, "nic0", 0x40_1000_0000n, 64n, "write");
    expect(r.outcome).toBe("ok");
    expect(r.events[0]).toMatchObject({ kind: "dma", outcome: "ok", detail: "gpu0.bar2+0x0" });
  });

  it("an IOVA with no IOMMU mapping is a fault, not a violation", () => {
    const r = access(m, world(), "nic1", 0xdead_0000n, 64n, "read");
    expect(r.outcome).toBe("fault");
    expect(r.world.violations.size).toBe(0);
  });

  it("reaching memory nobody granted is a violation (PFN fishing)", () => {
    // nic0 reaches the BAR by bus address with no mapping ever made.
    const r = access(m, world(), "nic0", 0x40_1000_0000n, 64n, "read");
    expect(r.outcome).toBe("violation");
    expect([...r.world.violations.values()][0]).toMatchObject({ kind: "no-grant", actor: "nic0" });
  });

  it("a grant from before a reset is stale: reaching the reset memory is a violation", () => {
    const mapped = dmaMapRanges(m, world(), "nic0", [{ paddr: 0x40_0000_0000n, len: 0x1000n }], {
      att: null,
      write: true,
    });
    if (!mapped.ok) throw new Error(mapped.error.message);
    let w = mapped.value.world;
    for (const [id, r] of w.regions.entries()) {
      // A reset: the BAR stops decoding, then comes back with new contents.
      if (r.id === "gpu0.bar2")
        w = setRegionStatus(setRegionStatus(w, id, "inaccessible"), id, "live");
    }
    const r = access(m, w, "nic0", 0x40_1000_0000n, 64n, "read");
    expect(r.outcome).toBe("violation");
    expect([...r.world.violations.values()][0]).toMatchObject({ kind: "stale-grant" });
  });

  it("reaching memory while it is inaccessible (mid-FLR, memory disabled) is a violation", () => {
    const mapped = dmaMapRanges(m, world(), "nic0", [{ paddr: 0x40_0000_0000n, len: 0x1000n }], {
      att: null,
      write: true,
    });
    if (!mapped.ok) throw new Error(mapped.error.message);
    let w = mapped.value.world;
    for (const [id, r] of w.regions.entries()) {
      if (r.id === "gpu0.bar2")
        w = { ...w, regions: w.regions.set(id, { ...r, status: "inaccessible" }) };
    }
    const r = access(m, w, "nic0", 0x40_1000_0000n, 64n, "write");
    expect(r.outcome).toBe("violation");
    expect([...r.world.violations.values()][0]).toMatchObject({ kind: "access-after-revoke" });
  });

  it("no physical memory at the address is a fault", () => {
    const noIommu = topologySchema.parse({
      ...topology,
      devices: [{ id: "raw", switch: "sw0", iommu: false }],
    });
    const raw = defineMachine({
      profile: linux71,
      topology: noIommu,
      exporters: [],
      importers: [],
    });
    const w = boot(raw);
    expect(access(raw, w, "raw", 0x10n, 8n, "read").outcome).toBe("fault");
  });
});
