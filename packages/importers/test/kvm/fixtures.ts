/**
 * Shared set-up for the KVM and RDMA tests: a machine with RAM, a VFIO
 * device's BAR and a NIC behind the IOMMU; worlds with the VFIO-like BAR
 * exporter, core's reference exporter, KVM and the three RDMA importers.
 */
import {
  defineMachine,
  linux71,
  referenceExporter,
  runScript,
  step,
  topologySchema,
} from "@dmabuf-ref/core";
import type { Machine, Profile, Topology, World } from "@dmabuf-ref/core";
import {
  kvmImporter,
  rdmaOdpImporter,
  rdmaPinnedImporter,
  rdmaPinnedRevocableImporter,
} from "../../src/index.js";
import { vfioBar } from "./vfio-bar-exporter.js";
import type { VfioBarArgs } from "./vfio-bar-exporter.js";

/** 4 KiB. */
export const PAGE = 0x1000n;
/** 2 MiB. */
export const MIB2 = 0x20_0000n;

/** 1 GiB of RAM, vfio0 with a 16 MiB BAR0 on sw0, nic0 behind the IOMMU on sw1. */
export const topology: Topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x4000_0000n },
    { id: "vfio0.bar0", kind: "bar", base: 0x40_0000_0000n, size: 0x100_0000n, device: "vfio0" },
  ],
  devices: [
    { id: "vfio0", switch: "sw0" },
    { id: "nic0", switch: "sw1" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/**
 * The machine of these tests: the topology above with every driver of
 * these tests. Its initial world is `boot(m)`.
 *
 * @param profile - the profile (default linux-7.1).
 */
export function makeMachine(profile: Profile = linux71): Machine {
  return defineMachine({
    profile,
    topology,
    exporters: [vfioBar, referenceExporter({ region: "ram0" })],
    importers: [
      kvmImporter(),
      rdmaOdpImporter(),
      rdmaPinnedImporter(),
      rdmaPinnedRevocableImporter(),
    ],
  });
}

/** Exports a VFIO-like buffer over BAR0 (default: 2 MiB at offset 0). */
export function exportVfio(
  m: Machine,
  w: World,
  args: VfioBarArgs = { region: "vfio0.bar0", length: MIB2 },
): { world: World; buf: number } {
  const r = step(m, w, { kind: "export", exporter: "vfio-bar", owner: "vfio0", args });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { world: r.world, buf: r.created };
}

/** Exports a buffer of core's reference exporter (RAM, no pin op, revocable). */
export function exportRam(m: Machine, w: World, size = 0x4000n): { world: World; buf: number } {
  const r = step(m, w, { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size } });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { world: r.world, buf: r.created };
}

/** Runs the exporter's revoke sequence (temporary, an FLR) until it settles. */
export function revoke(m: Machine, w: World, buf: number): ReturnType<typeof runScript> {
  return runScript(m, w, [{ kind: "revoke", buf, permanent: false, by: "FLR" }], "vfio0");
}

/** Runs the exporter's un-revoke sequence until it settles. */
export function unrevoke(m: Machine, w: World, buf: number): World {
  return runScript(m, w, [{ kind: "unrevoke", buf, by: "FLR" }], "vfio0").world;
}
