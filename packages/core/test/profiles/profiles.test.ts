/**
 * The built-in profiles (kernel-model §8.1): which kernel commits each
 * encodes, how the 2026 kernels differ from one another, where Matt Evans'
 * mmap series lives, and the registry's order.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DEFAULT_PROFILE_ID,
  PROFILES,
  defineProfile,
  findProfile,
  linux619,
  linux710,
  linux71,
  linux72,
  proposalConverters,
  proposalVfioDmabufMmap,
  rfcMappingTypesV1,
} from "@dmabuf-ref/core";

const HEX12 = /^[0-9a-f]{12}$/;

const vfio = (p: { drivers: Readonly<Record<string, Readonly<Record<string, unknown>>>> }) =>
  p.drivers["vfio-pci"] ?? {};

describe("the profile registry", () => {
  it("lists the released kernels oldest first, then the proposals", () => {
    expect(PROFILES.map((p) => p.id)).toEqual([
      "linux-6.19",
      "linux-7.1.0",
      "linux-7.1",
      "linux-7.2",
      "rfc-mapping-types-v1",
      "proposal-converters",
      "proposal-vfio-dmabuf-mmap",
    ]);
  });

  it("the default profile is linux-7.1 (7.1.5 and later), and every id finds its profile", () => {
    expect(DEFAULT_PROFILE_ID).toBe("linux-7.1");
    for (const p of PROFILES) expect(findProfile(p.id)).toBe(p);
    expect(findProfile("linux-7.0")).toBeUndefined();
  });
});

describe("the commits a profile encodes", () => {
  it("every profile's commits are 12-digit lower-case hex ids, without duplicates", () => {
    for (const p of PROFILES) {
      for (const c of p.commits) expect(c, p.id).toMatch(HEX12);
      expect(new Set(p.commits).size, p.id).toBe(p.commits.length);
    }
  });

  it("defineProfile refuses a commit that is not a 12-digit abbreviated hash", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !HEX12.test(s)),
        (bad) => {
          expect(() => defineProfile({ ...linux71, id: "x", commits: [bad] })).toThrow(
            /12-digit abbreviated hash/,
          );
        },
      ),
    );
  });

  it("linux-6.19 predates every fix the model distinguishes: no commits", () => {
    expect(linux619.commits).toEqual([]);
  });

  it("7.1.0 has cleanup before disable, the kref re-arm and the BAR check; 7.1.5 adds iommufd's release fixes", () => {
    const v71 = ["d97708701434", "c64a647c84f3", "702809dabdec", "05f2a68b407a"];
    const iommufdFixes = ["e745cd2c749e", "f2d70dbd3dce"];
    expect(linux710.commits).toEqual(expect.arrayContaining(v71));
    for (const c of iommufdFixes) expect(linux710.commits).not.toContain(c);
    expect(linux71.commits).toEqual(expect.arrayContaining([...v71, ...iommufdFixes]));
    expect(linux71.commits.filter((c) => !linux710.commits.includes(c)).sort()).toEqual(
      [...iommufdFixes].sort(),
    );
  });

  it("a proposal lists the commits of the kernel it is based on (linux-7.1)", () => {
    for (const p of [rfcMappingTypesV1, proposalConverters, proposalVfioDmabufMmap]) {
      expect(p.commits, p.id).toEqual(linux71.commits);
    }
  });
});

describe("how the 2026 profiles differ", () => {
  it("linux-7.2 equals linux-7.1 in rules, drivers, mapping types and commits, under its own id", () => {
    expect(linux72.id).not.toBe(linux71.id);
    expect(linux72.rules).toEqual(linux71.rules);
    expect(linux72.drivers).toEqual(linux71.drivers);
    expect(linux72.mappingTypes).toEqual(linux71.mappingTypes);
    expect(linux72.converters).toEqual(linux71.converters);
    expect(linux72.commits).toEqual(linux71.commits);
  });

  it("linux-7.1.0 differs from linux-7.1 only in iommufd's release (no resv on unpin, pages destroyed before detach)", () => {
    expect(linux710.rules).toEqual(linux71.rules);
    expect({ ...linux710.drivers, iommufd: undefined }).toEqual({
      ...linux71.drivers,
      iommufd: undefined,
    });
    expect(linux710.drivers["iommufd"]).toEqual({
      pins: true,
      releaseUnpinsUnderResv: false,
      releaseDetachesFirst: false,
    });
    expect(linux71.drivers["iommufd"]).toEqual({
      pins: true,
      releaseUnpinsUnderResv: true,
      releaseDetachesFirst: true,
    });
  });

  it("linux-6.19 closes with disable then cleanup and has no BAR resource check; 7.1 and later clean up first and check", () => {
    expect(vfio(linux619)).toMatchObject({
      closeOrder: "disable-then-cleanup",
      barResourceCheck: false,
    });
    for (const p of [linux710, linux71, linux72]) {
      expect(vfio(p), p.id).toMatchObject({
        closeOrder: "cleanup-then-disable",
        barResourceCheck: true,
        krefRearm: true,
      });
    }
  });

  it("every profile states the same vfio-pci options", () => {
    const keys = Object.keys(vfio(linux71)).sort();
    for (const p of PROFILES) expect(Object.keys(vfio(p)).sort(), p.id).toEqual(keys);
  });
});

describe("Matt Evans' mmap series lives in proposal-vfio-dmabuf-mmap only", () => {
  it("proposal-converters has no dma-buf mmap, no REVOKE and no MEMATTR", () => {
    expect(vfio(proposalConverters)).toMatchObject({
      dmabufMmap: false,
      userRevoke: false,
      memattr: false,
      unrevokeInvalidates: true,
    });
  });

  it("proposal-vfio-dmabuf-mmap is linux-7.1 plus mmap, REVOKE (13), MEMATTR (14) and an un-revoke without invalidate", () => {
    expect(vfio(proposalVfioDmabufMmap)).toEqual({
      ...vfio(linux71),
      dmabufMmap: true,
      userRevoke: true,
      memattr: true,
      unrevokeInvalidates: false,
    });
    expect(proposalVfioDmabufMmap.rules).toEqual(linux71.rules);
    expect({ ...proposalVfioDmabufMmap.drivers, "vfio-pci": undefined }).toEqual({
      ...linux71.drivers,
      "vfio-pci": undefined,
    });
  });

  it("no other profile has the dma-buf mmap", () => {
    const withMmap = PROFILES.filter((p) => vfio(p)["dmabufMmap"] === true).map((p) => p.id);
    expect(withMmap).toEqual(["proposal-vfio-dmabuf-mmap"]);
  });
});
