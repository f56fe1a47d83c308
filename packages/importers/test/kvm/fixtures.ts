/**
 * Shared set-up for the KVM and RDMA tests: a machine with RAM, a VFIO
 * device's BAR and a NIC behind the IOMMU; worlds with the VFIO-like BAR
 * exporter, core's reference exporter, KVM and the three RDMA importers;
 * KVM's entry points as driver ops through core's `step`.
 */
import {
  defineMachine,
  linux71,
  referenceExporter,
  runScript,
  actionOp,
  step,
  topologySchema,
} from "@dmabuf-ref/core";
import type { Machine, Profile, StepOutcome, Topology, World } from "@dmabuf-ref/core";
import type * as z from "zod";
import {
  KVM,
  kvmImporter,
  rdmaOdpImporter,
  rdmaPinnedImporter,
  rdmaPinnedRevocableImporter,
  kvmStateOf,
  stage2Covers,
} from "../../src/index.js";
import type {
  kvmActionSchema,
  KvmCacheAttr,
  KvmFaultArgs,
  KvmGuestAccessArgs,
  KvmMemslotArgs,
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

/** A KVM op as userspace or the guest issues it: a core `driver` op of KVM, run by `step`. */
export function kvmStep(
  m: Machine,
  w: World,
  action: z.input<typeof kvmActionSchema>,
): StepOutcome {
  return step(m, w, actionOp<typeof kvmActionSchema>(KVM)(action));
}

/** `KVM_SET_USER_MEMORY_REGION2` with a dma-buf: KVM's op through `step` (`created` is KVM's attachment). */
export function setMemslot(m: Machine, w: World, a: KvmMemslotArgs): StepOutcome {
  return kvmStep(m, w, { op: "KVM_SET_USER_MEMORY_REGION2", ...a });
}

/** A guest stage-2 / EPT fault: KVM's `guest-fault` op through `step`. */
export function guestFault(m: Machine, w: World, a: KvmFaultArgs): StepOutcome {
  return kvmStep(m, w, { op: "guest-fault", ...a });
}

/** A guest load or store: KVM's `guest-access` op through `step`. */
export function guestAccess(m: Machine, w: World, a: KvmGuestAccessArgs): StepOutcome {
  return kvmStep(m, w, { op: "guest-access", ...a });
}

/** What `get_pfn` answered for a GFN, as KVM installed it in the stage-2. */
export interface FaultAnswer {
  /** The host frame the GFN maps to. */
  readonly pfn: bigint;
  /** The order of the stage-2 block mapping it: the fault's max order when that fault installed it. */
  readonly maxOrder: number;
  /** The cache attribute. */
  readonly cache: KvmCacheAttr;
  /** True when the frame is device MMIO. */
  readonly mmio: boolean;
}

/**
 * The stage-2 entry of memslot `slot` that maps `gfn`, read as the fault's
 * answer: the PFN of the GFN in its block, the block's order, cache and MMIO.
 */
export function faultAnswer(m: Machine, w: World, slot: number, gfn: bigint): FaultAnswer {
  const e = kvmStateOf(m, w)
    .slots.find((s) => s.slot === slot)
    ?.stage2.find((x) => stage2Covers(x, gfn));
  if (e === undefined) throw new Error(`no stage-2 entry maps gfn 0x${gfn.toString(16)}`);
  return { pfn: e.pfn + (gfn - e.gfn), maxOrder: e.order, cache: e.cache, mmio: e.mmio };
}

/**
 * The verdict of a guest access, from its outcome: the oracle's verdict
 * (the last `dma` event's outcome), `"mmio-exit"` (a store to a read-only
 * slot, which KVM reports with a `KVM_EXIT_MMIO` note and no access), the
 * errno, or `"blocked"`.
 */
export function accessVerdict(r: StepOutcome): string {
  if (r.status === "failed") return r.error.errno;
  if (r.status === "blocked") return "blocked";
  const dma = r.events.filter((e) => e.kind === "dma").at(-1);
  if (dma?.kind === "dma") return dma.outcome;
  const exit = r.events.some(
    (e) => e.kind === "note" && e.actor === KVM && e.text.endsWith("KVM_EXIT_MMIO"),
  );
  if (exit) return "mmio-exit";
  throw new Error("a guest access that ran neither reached memory nor exited");
}
