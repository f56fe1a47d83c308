import { describe, expect, it } from "vitest";
import { json, runCli } from "./run-cli.js";

describe("dmabuf-ref profiles", () => {
  it("lists the seven built-in profiles, oldest kernel first, then the SR-IOV extension profile, as JSON", () => {
    const run = runCli("profiles", "--json");
    expect(run.status).toBe(0);
    const profiles = json(run) as {
      id: string;
      commits: string[];
      mappingTypes: string[];
      converters: string[];
      rules: Record<string, unknown>;
      drivers: Record<string, Record<string, unknown>>;
    }[];
    expect(profiles.map((p) => p.id)).toEqual([
      "linux-6.19",
      "linux-7.1.0",
      "linux-7.1",
      "linux-7.2",
      "rfc-mapping-types-v1",
      "proposal-converters",
      "proposal-vfio-dmabuf-mmap",
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
    expect(byId.get("linux-7.1.0")?.drivers["iommufd"]).toEqual({
      pins: true,
      releaseUnpinsUnderResv: false,
      releaseDetachesFirst: false,
    });
    expect(byId.get("linux-6.19")?.drivers["vfio-pci"]).toMatchObject({
      closeOrder: "disable-then-cleanup",
    });
    expect(byId.get("linux-7.1")?.drivers["vfio-pci"]).toMatchObject({
      closeOrder: "cleanup-then-disable",
    });
    expect(byId.get("proposal-vfio-dmabuf-mmap")?.drivers["vfio-pci"]).toMatchObject({
      dmabufMmap: true,
      userRevoke: true,
      memattr: true,
    });
    expect(byId.get("proposal-converters")?.drivers["vfio-pci"]).toMatchObject({
      dmabufMmap: false,
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

  it("each profile shows the kernel commits it encodes, as JSON", () => {
    const run = runCli("profiles", "--json");
    expect(run.status).toBe(0);
    const profiles = json(run) as { id: string; commits: string[] }[];
    const byId = new Map(profiles.map((p) => [p.id, p.commits]));
    for (const p of profiles) expect(p.commits.every((c) => /^[0-9a-f]{12}$/.test(c))).toBe(true);
    // 6.19 predates every fix the model distinguishes.
    expect(byId.get("linux-6.19")).toEqual([]);
    // Cleanup before disable, the kref re-arm and the BAR check are in 7.1.0 ...
    for (const id of ["linux-7.1.0", "linux-7.1", "linux-7.2"]) {
      expect(byId.get(id)).toEqual(
        expect.arrayContaining(["d97708701434", "c64a647c84f3", "702809dabdec", "05f2a68b407a"]),
      );
    }
    // ... iommufd's release fixes only from 7.1.5.
    expect(byId.get("linux-7.1.0")).not.toContain("e745cd2c749e");
    expect(byId.get("linux-7.1.0")).not.toContain("f2d70dbd3dce");
    expect(byId.get("linux-7.1")).toEqual(expect.arrayContaining(["e745cd2c749e", "f2d70dbd3dce"]));
    expect(byId.get("proposal-vfio-dmabuf-mmap")).toEqual(byId.get("linux-7.1"));
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
    expect(run.stdout).toContain("linux-7.1.0 - Linux 7.1.0 to 7.1.4");
    expect(run.stdout).toMatch(/linux-6\.19 - [^\n]*\n(?: {2}[^\n]*\n)*? {2}commits: none\n/);
    expect(run.stdout).toMatch(
      /linux-7\.1 - [^\n]*\n(?: {2}[^\n]*\n)*? {2}commits: [^\n]*d97708701434/,
    );
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
