import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { exploreScenario, loadScenario, readScenarioFile } from "../src/explore/explore.js";
import type { ExploreReport } from "../src/explore/explore.js";
import { scenarioFileSchema } from "../src/explore/scenario-file.js";
import { resolveProfile } from "../src/io/profile-option.js";
import type { ScenarioFile } from "../src/explore/scenario-file.js";
import { DEFAULT_MACHINE, machineDescriptionSchema } from "../src/replay/machine.js";
import type { MachineDescriptionInput } from "../src/replay/machine.js";
import { buildMachine, standardMachine, topologyOf } from "../src/scenarios/machine.js";
import { REPO_ROOT } from "./run-cli.js";

const SCENARIOS = join(REPO_ROOT, "rfc/scenarios");
const linux71 = resolveProfile("linux-7.1");

/** The drivers a machine registers, exporters then importers, in order. */
function driversOf(d: MachineDescriptionInput): { exporters: string[]; importers: string[] } {
  const m = buildMachine(linux71, machineDescriptionSchema.parse(d));
  return { exporters: [...m.exporters.keys()], importers: [...m.importers.keys()] };
}

/** A machine with every kind of device the description knows. */
const EVERY_DRIVER: MachineDescriptionInput = {
  devices: [
    { id: "vfio0", driver: "vfio-pci", bars: [{ index: 0, size: 0x100_0000 }] },
    { id: "gpu0", driver: "gpu", vram: "0x1000000", sriov: { vfs: ["gpu0vf0"] } },
    { id: "gpu0vf0" },
    { id: "nic0", driver: "rdma", umem: ["pinned", "odp"], exportBar: 0x10_0000 },
    { id: "nic1", driver: "rdma" },
  ],
  kvm: {},
  reference: { exporter: { name: "mock", selftestHook: true }, importer: false },
};

/** Explores an in-memory scenario file's text. */
function exploreText(yaml: string, profile?: string): ExploreReport {
  const file = scenarioFileSchema.parse(parse(yaml, { intAsBigInt: false }));
  return exploreScenario(loadScenario(file, profile === undefined ? {} : { profile }));
}

/** Each expectation's verdict, keyed by its text. */
function verdicts(r: ExploreReport): Record<string, boolean | null> {
  return Object.fromEntries(r.expectations.map((e) => [`${e.kind} ${e.expr}`, e.holds]));
}

describe("the machine description names each device's driver", () => {
  it("a description without the new fields builds the machine it built before: vfio-pci, the reference exporter, iommufd and the reference importer", () => {
    const before = standardMachine(linux71);
    const now = buildMachine(linux71, DEFAULT_MACHINE);
    expect([...now.exporters.keys()]).toEqual(["vfio-pci", "ref-exporter"]);
    expect([...now.importers.keys()]).toEqual(["iommufd", "ref-importer"]);
    expect([...before.exporters.keys()]).toEqual([...now.exporters.keys()]);
    expect(now.topology).toEqual(before.topology);
    expect(DEFAULT_MACHINE.kvm).toBeUndefined();
    expect(DEFAULT_MACHINE.reference).toEqual({ exporter: {}, importer: {} });
  });

  it("a GPU, RDMA NICs, a KVM VM and named reference drivers each register the driver that models them", () => {
    expect(driversOf(EVERY_DRIVER)).toEqual({
      exporters: ["vfio-pci", "gpu", "rdma", "mock"],
      importers: ["iommufd", "kvm", "rdma-odp", "rdma-pinned"],
    });
    // A NIC that names no umem kind registers ODP MRs; no GPU, no NIC BAR: no such exporter.
    expect(driversOf({ devices: [{ id: "nic1", driver: "rdma" }] })).toEqual({
      exporters: ["vfio-pci", "ref-exporter"],
      importers: ["iommufd", "rdma-odp", "ref-importer"],
    });
  });

  it("a GPU's VRAM BAR and a NIC's exported BAR are regions of the topology, placed like BARs", () => {
    const t = topologyOf(machineDescriptionSchema.parse(EVERY_DRIVER));
    const mmio = t.regions.filter((r) => r.kind !== "ram");
    expect(mmio.map((r) => [r.id, r.kind, r.device, r.base, r.size])).toEqual([
      ["vfio0.bar0", "bar", "vfio0", 0x40_0000_0000n, 0x100_0000n],
      ["gpu0.vram", "vram", "gpu0", 0x40_0100_0000n, 0x100_0000n],
      ["nic0.bar0", "bar", "nic0", 0x40_0200_0000n, 0x10_0000n],
    ]);
  });

  it.each([
    ["VRAM on a function that is not a GPU", { devices: [{ id: "a", vram: 0x1000 }] }, "vram"],
    ["a GPU without VRAM", { devices: [{ id: "a", driver: "gpu" }] }, "vram"],
    [
      "a VRAM size that is not a power of two",
      { devices: [{ id: "a", driver: "gpu", vram: 0x3000 }] },
      "vram",
    ],
    [
      "SR-IOV VFs that are not devices of the machine",
      { devices: [{ id: "a", driver: "gpu", vram: 0x1000, sriov: { vfs: ["b"] } }] },
      "sriov.vfs.0",
    ],
    [
      "a umem kind on a function that is not a NIC",
      { devices: [{ id: "a", umem: "odp" }] },
      "umem",
    ],
    ["an unknown umem kind", { devices: [{ id: "a", driver: "rdma", umem: "dynamic" }] }, "umem"],
    [
      "an exported BAR on a vfio-pci function",
      { devices: [{ id: "a", driver: "vfio-pci", exportBar: 0x1000 }] },
      "exportBar",
    ],
    ["an unknown driver", { devices: [{ id: "a", driver: "nvme" }] }, "driver"],
    ["an option KVM does not have", { devices: [{ id: "a" }], kvm: { vms: 2 } }, "kvm"],
    [
      "a reference driver with a built-in driver's name",
      { devices: [{ id: "a" }], reference: { importer: { name: "iommufd" } } },
      "reference.importer.name",
    ],
    [
      "reference drivers sharing a name",
      { devices: [{ id: "a" }], reference: { exporter: { name: "x" }, importer: { name: "x" } } },
      "reference.importer.name",
    ],
  ])("%s is refused, naming the field", (_what, raw, field) => {
    const r = machineDescriptionSchema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join(".")).join("\n")).toContain(field);
  });

  it("reference: false for a driver leaves it out of the machine", () => {
    expect(
      driversOf({ devices: [{ id: "a" }], reference: { exporter: false, importer: false } }),
    ).toEqual({ exporters: ["vfio-pci"], importers: ["iommufd"] });
  });
});

describe("scenarios on described machines", () => {
  const NIC_EXPORTS = `
name: nic-exports
profile: PROFILE
machine:
  devices:
    - { id: nic0, driver: rdma, exportBar: 0x100000, switch: sw0 }
    - { id: dev1, switch: sw0 }
  switches: [{ id: sw0, hostBridge: hb0 }]
init:
  - { op: export, exporter: rdma, owner: nic0, args: { size: 0x10000 }, as: buf0 }
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, arg: { flags: 0 }, as: ioas0 }
  - { event: attach, device: dev1, ioas: ioas0.out_ioas_id }
threads:
  app:
    - { fd: iommufd, ioctl: IOMMU_IOAS_MAP_FILE, arg: { flags: [READABLE],
        ioas_id: ioas0.out_ioas_id, fd: buf0, start: 0, length: 0x10000 } }
expect:
  - forall: app[0] == EOPNOTSUPP
`;

  it("an RDMA NIC's uverbs dma-buf is not a VFIO one, so iommufd's MAP_FILE refuses it with EOPNOTSUPP", () => {
    const r = exploreText(NIC_EXPORTS.replace("PROFILE", "linux-7.1"));
    expect(r.expectations.map((e) => e.holds)).toEqual([true]);
  });

  /** A scenario file of rfc/scenarios with its machine's vfio options replaced. */
  function withVfio(name: string, vfio: { closeOrder: "disable-then-cleanup" }): ScenarioFile {
    const file = readScenarioFile(join(SCENARIOS, `${name}.yaml`));
    if (file.machine === "default") throw new Error(`${name} runs on the default machine`);
    return { ...file, machine: { ...file.machine, vfio } };
  }

  it("under the old close order (vfio.closeOrder: disable-then-cleanup) a running guest's store reaches the disabled BAR through KVM's stage-2: kvm-close-order's counterexample", () => {
    const file = withVfio("kvm-close-order", { closeOrder: "disable-then-cleanup" });
    const r = exploreScenario(loadScenario(file));
    const first = r.expectations[0];
    expect(first?.expr).toBe("no-violation");
    expect(first?.holds).toBe(false);
    expect(first?.witness?.length).toBeLessThanOrEqual(12);
    const reached = first?.witness?.find((s) => s.thread === "vcpu0");
    expect(reached?.events.some((e) => e.kind === "dma" && e.outcome === "violation")).toBe(true);
  });

  it("under linux-6.19 (disable before cleanup) the running guest's device reaches the disabled BAR: close-order-running-guest fails no-violation", () => {
    const r = exploreScenario(
      loadScenario(readScenarioFile(join(SCENARIOS, "close-order-running-guest.yaml")), {
        profile: "linux-6.19",
      }),
    );
    expect(verdicts(r)["forall no-violation"]).toBe(false);
    expect(verdicts(r)["forall vmm[0] == ok"]).toBe(true);
  });

  it.each([
    ["proposal-converters", "ok"],
    ["linux-6.19", "EOPNOTSUPP"],
    ["linux-7.1.0", "EOPNOTSUPP"],
    ["linux-7.1", "EOPNOTSUPP"],
    ["linux-7.2", "EOPNOTSUPP"],
    ["proposal-vfio-dmabuf-mmap", "EOPNOTSUPP"],
    ["rfc-mapping-types-v1", "EINVAL"],
  ])(
    "iommufd cannot follow a GPU BO's move: under %s its MAP_FILE is %s (gpu-movable-needs-pin-for-iommufd)",
    (profile, outcome) => {
      const file = readScenarioFile(join(SCENARIOS, "gpu-movable-needs-pin-for-iommufd.yaml"));
      const r = exploreScenario(
        loadScenario(
          { ...file, expect: [{ forall: `spdk[0] == ${outcome}` }, { forall: "no-violation" }] },
          { profile },
        ),
      );
      expect(r.expectations.map((e) => e.holds)).toEqual([true, true]);
    },
  );
});
