import { p2pDistanceIn } from "@dmabuf-ref/core";
import { describe, expect, it } from "vitest";
import { DEFAULT_MACHINE, machineDescriptionSchema } from "../src/replay/machine.js";
import { standardTopology, topologyOf } from "../src/scenarios/machine.js";
import { outcomes, replayText, result } from "./replay-support.js";

const TWO_FUNCTIONS = `
machine:
  ram: 0x100000000
  devices:
    - id: gpu0
      driver: vfio-pci
      bars: [{ index: 0, size: 0x1000000 }, { index: 2, size: 0x10000000 }]
      group: 7
      switch: sw0
    - { id: gpu0_audio, driver: vfio-pci, bars: [{ index: 0, size: 0x4000 }], group: 7, switch: sw0 }
    - { id: solo, driver: vfio-pci, bars: [{ index: 0, size: 0x4000 }] }
    - { id: nic0, switch: sw1 }
  switches: [{ id: sw0, hostBridge: hb0 }, { id: sw1, hostBridge: hb0 }]
  hostBridges: [{ id: hb0, p2p: true }]
`;

const exportOf = (device: string, as: string): string => `
  - fd: ${device}
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [GET], feature: DMA_BUF, data: { region_index: 0, dma_ranges: [{ offset: 0, length: 0x4000 }] } }
    as: ${as}
`;

describe("the replay's machine description", () => {
  it("the default machine is built by the same builder as the scenarios' standard machine", () => {
    expect(topologyOf(DEFAULT_MACHINE)).toEqual(standardTopology);
    expect(standardTopology.regions.map((r) => [r.id, r.base, r.size])).toEqual([
      ["ram0", 0x1_0000_0000n, 0x4000_0000n],
      ["vfio0.bar0", 0x40_0000_0000n, 0x100_0000n],
      ["vfio0.bar2", 0x40_0100_0000n, 0x1_0000n],
    ]);
  });

  it("a description that names no devices keeps the default machine's devices, switches and host bridge", () => {
    const d = machineDescriptionSchema.parse({
      ram: 0x8000_0000,
      reference: { exporter: { selftestHook: true } },
    });
    expect(d.devices).toEqual(DEFAULT_MACHINE.devices);
    expect(d.switches).toEqual(DEFAULT_MACHINE.switches);
    expect(d.hostBridges).toEqual(DEFAULT_MACHINE.hostBridges);
    expect(d.ram).toBe(0x8000_0000n);
    expect(machineDescriptionSchema.parse({})).toEqual(DEFAULT_MACHINE);
    // The iommufd selftest's mock on the default machine, in one line.
    const run = replayText(`machine: { reference: { exporter: { selftestHook: true } } }
calls:
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: IOMMU_TEST_OP_DMABUF_GET, dmabuf_get: { length: 0x4000 } }
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_INFO }
`);
    expect(outcomes(run)).toEqual(["ok", "ok"]);
  });

  it("BARs are placed in the order listed, each aligned to its size, above RAM", () => {
    const d = machineDescriptionSchema.parse({
      ram: "0x4000000000",
      devices: [
        {
          id: "a",
          driver: "vfio-pci",
          bars: [
            { index: 0, size: 0x4000 },
            { index: 1, size: 0x100_0000 },
          ],
        },
      ],
    });
    const bars = topologyOf(d).regions.filter((r) => r.kind === "bar");
    expect(bars.map((r) => [r.id, r.base])).toEqual([
      ["a.bar0", 0x80_0000_0000n],
      ["a.bar1", 0x80_0100_0000n],
    ]);
    for (const r of bars) expect(r.base % r.size).toBe(0n);
  });

  it("the switches and host bridges give the P2P distances", () => {
    const d = machineDescriptionSchema.parse({
      devices: [
        { id: "a", switch: "s0" },
        { id: "b", switch: "s0" },
        { id: "c", switch: "s1" },
        { id: "d", switch: "s2" },
      ],
      switches: [
        { id: "s0", hostBridge: "hb0" },
        { id: "s1", hostBridge: "hb0" },
        { id: "s2", hostBridge: "hb1" },
      ],
      hostBridges: [
        { id: "hb0", p2p: true },
        { id: "hb1", p2p: true },
      ],
    });
    const t = topologyOf(d);
    expect([
      p2pDistanceIn(t, "a", "b"),
      p2pDistanceIn(t, "a", "c"),
      p2pDistanceIn(t, "a", "d"),
    ]).toEqual([1, 2, -1]);
  });

  it.each([
    ["an unknown key", { devices: [{ id: "a" }], gpus: 1 }, "gpus"],
    ["an unknown device key", { devices: [{ id: "a", bar: 1 }] }, "bar"],
    [
      "a BAR size that is not a power of two",
      { devices: [{ id: "a", driver: "vfio-pci", bars: [{ index: 0, size: 0x3000 }] }] },
      "size",
    ],
    [
      "a BAR index twice",
      {
        devices: [
          {
            id: "a",
            driver: "vfio-pci",
            bars: [
              { index: 0, size: 0x1000 },
              { index: 0, size: 0x1000 },
            ],
          },
        ],
      },
      "bars",
    ],
    [
      "BARs on a function not bound to vfio-pci",
      { devices: [{ id: "a", bars: [{ index: 0, size: 0x1000 }] }] },
      "bars",
    ],
    ["a switch that does not exist", { devices: [{ id: "a", switch: "nope" }] }, "switch"],
    ["a device named iommufd", { devices: [{ id: "iommufd" }] }, "id"],
    ["a device listed twice", { devices: [{ id: "a" }, { id: "a" }] }, "id"],
    ["switches with no devices", { switches: [{ id: "sw9", hostBridge: "hb0" }] }, "devices"],
    ["host bridges with no devices", { hostBridges: [{ id: "hb9", p2p: false }] }, "devices"],
  ])("%s is refused, naming the field", (_what, raw, field) => {
    const r = machineDescriptionSchema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join(".") + " " + i.message).join("\n")).toContain(
      field,
    );
  });

  it.each([
    ["linux-7.1", ["ok", "ENODEV", "ENODEV"]],
    ["linux-6.19", ["ok", "ok", "ok"]],
  ])(
    "under %s an export from a BAR vfio-pci did not claim, or an empty one, gives %j",
    (profile, expected) => {
      const bar = (index: number): string =>
        `  - { fd: vfio0, ioctl: VFIO_DEVICE_FEATURE, arg: { flags: [GET], feature: DMA_BUF, data: { region_index: ${index}, dma_ranges: [{ offset: 0, length: 0x1000 }] } } }`;
      const run = replayText(
        `machine:
  devices:
    - id: vfio0
      driver: vfio-pci
      bars: [{ index: 0, size: 0x10000 }, { index: 2, size: 0x10000, claimed: false }, { index: 4, empty: true }]
calls:
${[0, 2, 4].map(bar).join("\n")}
`,
        profile,
      );
      expect(outcomes(run)).toEqual(expected);
    },
  );

  it("a hot reset revokes the dma-bufs of every function in the IOMMU group, and only those", () => {
    const map = (buf: string): string =>
      `  - { fd: iommufd, ioctl: IOMMU_IOAS_MAP_FILE, arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, fd: ${buf}, length: 0x4000 }, as: m${buf} }`;
    const dma = (buf: string): string =>
      `  - { event: dma, device: nic0, iova: m${buf}.iova, length: 64, dir: read }`;
    const run = replayText(`${TWO_FUNCTIONS}
calls:
${exportOf("gpu0", "b0")}
${exportOf("gpu0_audio", "b1")}
${exportOf("solo", "b2")}
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - { event: attach, device: nic0, ioas: ioas.out_ioas_id }
${["b0", "b1", "b2"].map(map).join("\n")}
  - { event: hot-reset, device: gpu0 }
${["b0", "b1", "b2"].map(dma).join("\n")}
`);
    expect(outcomes(run).every((o) => o === "ok")).toBe(true);
    expect(run.results.flatMap((r) => (r.dma === undefined ? [] : [r.dma]))).toEqual([
      "fault",
      "fault",
      "ok",
    ]);
  });

  it("a peer behind the IOMMU reaches a described function's BAR through a MAP_FILE of its dma-buf", () => {
    const run = replayText(`${TWO_FUNCTIONS}
calls:
${exportOf("gpu0", "b0")}
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - { event: attach, device: nic0, ioas: ioas.out_ioas_id }
  - { fd: iommufd, ioctl: IOMMU_IOAS_MAP_FILE, arg: { flags: [READABLE, WRITEABLE], ioas_id: ioas.out_ioas_id, fd: b0, length: 0x4000 }, as: m }
  - { event: dma, device: nic0, iova: m.iova, length: 64, dir: write }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(result(run, 4)).toMatchObject({
      dma: "ok",
      landed: { region: "gpu0.bar0", offset: 0n },
    });
  });

  it("a function not behind the IOMMU issues physical addresses: its DMA lands where it points, unmapped", () => {
    const run = replayText(`machine:
  devices:
    - { id: vfio0, driver: vfio-pci, bars: [{ index: 0, size: 0x10000 }], switch: sw0 }
    - { id: raw, iommu: false, switch: sw0 }
  switches: [{ id: sw0, hostBridge: hb0 }]
calls:
  - { event: dma, device: raw, iova: 0x4000000010, length: 16, dir: read }
`);
    // Nothing mapped it for the device: the oracle calls the access a violation.
    expect(result(run, 0)).toMatchObject({
      dma: "violation",
      landed: { region: "vfio0.bar0", offset: 0x10n },
    });
  });

  it.each([
    [false, ["ok", "ok", "blocks"], 1],
    [true, ["ok", "ok", "ok"], 0],
  ])(
    "vfio.krefRearm %s: a close after a memory-disable revoke gives %j (v7.1-rc underflowed the kref)",
    (rearm, expected, violations) => {
      const run = replayText(`machine:
  devices:
    - { id: vfio0, driver: vfio-pci, bars: [{ index: 0, size: 0x1000000 }] }
  vfio: { krefRearm: ${String(rearm)} }
calls:
${exportOf("vfio0", "buf0")}
  - { event: memory-disable, device: vfio0 }
  - { event: close, device: vfio0 }
`);
      expect(outcomes(run)).toEqual(expected);
      expect(run.violations).toHaveLength(violations);
    },
  );
});

describe("a device's IOMMU domains in the machine description", () => {
  const MOCK_DOMAIN = `
machine:
  devices:
    - { id: mock0, iommu: { pageSizes: [0x800], aperture: { start: 0x1000, last: 0xffffffff }, reserved: [] } }
calls:
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000000000, length: 0x800 }
  - { event: attach, device: mock0, ioas: ioas.out_ioas_id }
  - { fd: iommufd, ioctl: IOMMU_IOAS_IOVA_RANGES, arg: { ioas_id: ioas.out_ioas_id, num_iovas: 0, allowed_iovas: 0 }, as: r }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000001000, length: 0x400 }
`;

  it("attaching a device whose domain has 2 KiB pages raises the IOVA alignment to 2 KiB, and a length that is not a multiple of it fails EINVAL", () => {
    const run = replayText(MOCK_DOMAIN);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "EMSGSIZE", "EINVAL"]);
    expect(result(run, 3).out).toMatchObject({ num_iovas: 1, out_iova_alignment: 0x800n });
  });

  it("a page size that is not a power of two is a file error", () => {
    expect(() =>
      machineDescriptionSchema.parse({ devices: [{ id: "d", iommu: { pageSizes: [0x1800] } }] }),
    ).toThrow(/power of two/);
  });
});
