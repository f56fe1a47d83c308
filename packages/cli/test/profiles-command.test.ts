import { describe, expect, it } from "vitest";
import { json, runCli } from "./run-cli.js";

describe("dmabuf-ref profiles", () => {
  it("lists the four built-in profiles, then the SR-IOV extension profile, as JSON", () => {
    const run = runCli("profiles", "--json");
    expect(run.status).toBe(0);
    const profiles = json(run) as {
      id: string;
      mappingTypes: string[];
      converters: string[];
      rules: Record<string, unknown>;
      drivers: Record<string, Record<string, unknown>>;
    }[];
    expect(profiles.map((p) => p.id)).toEqual([
      "linux-6.19",
      "linux-7.1",
      "rfc-mapping-types-v1",
      "proposal-converters",
      "rfc-mapping-types-v1-iov",
    ]);
    const byId = new Map(profiles.map((p) => [p.id, p]));
    expect(byId.get("linux-6.19")?.rules).toMatchObject({ dynamicImportersMoveCapable: false });
    expect(byId.get("linux-6.19")?.drivers["vfio-pci"]).toMatchObject({ pin: "eopnotsupp" });
    expect(byId.get("linux-7.1")?.drivers["vfio-pci"]).toMatchObject({ pin: "noop" });
    expect(byId.get("linux-7.1")?.drivers["iommufd"]).toEqual({
      pins: true,
      releaseUnpinsUnderResv: true,
      releaseDetachesFirst: true,
    });
    expect(byId.get("rfc-mapping-types-v1")?.mappingTypes).toContain("pal");
    expect(byId.get("proposal-converters")?.converters).toEqual(["pal->sgt", "pal->iommu-domain"]);
    expect(byId.get("rfc-mapping-types-v1-iov")?.mappingTypes).toEqual([
      "sgt",
      "pal",
      "kvm-pfn",
      "iov-interconnect",
    ]);
  });

  it("--profile takes the extension profile a driver package defines", () => {
    const run = runCli("matrix", "--profile", "rfc-mapping-types-v1-iov", "--json");
    expect(run.status).toBe(0);
    expect(json(run)).toHaveLength(15);
  });

  it("prints a readable text listing by default", () => {
    const run = runCli("profiles");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("linux-7.1 - Linux 7.1");
    expect(run.stdout).toContain("converters: pal->sgt, pal->iommu-domain");
  });
});

describe("dmabuf-ref help", () => {
  it.each([
    [[]],
    [["profiles"]],
    [["negotiate"]],
    [["uapi"]],
    [["uapi", "layout"]],
    [["uapi", "ioctl"]],
    [["demo"]],
    [["scenario"]],
  ])("every command's --help exits 0 and shows an example (%j)", (args) => {
    const run = runCli(...args, "--help");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("Example:");
  });

  it("an unknown command or option exits 2", () => {
    expect(runCli("frobnicate").status).toBe(2);
    expect(runCli("profiles", "--yaml").status).toBe(2);
  });
});
