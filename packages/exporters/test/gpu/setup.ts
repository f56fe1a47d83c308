/**
 * Shared set-up for the GPU and RDMA exporter tests: a GPU with VRAM (and an
 * SR-IOV VF), an RDMA NIC with a BAR, DMA-capable peers and test importers.
 */
import {
  accept,
  actionOp,
  boot,
  defineMachine,
  importerHolder,
  linux71,
  referenceImporter,
  sgt,
  step,
  topologySchema,
} from "@dmabuf-ref/core";
import type { ImporterDriver, Machine, Op, Profile, World } from "@dmabuf-ref/core";
import { gpuExporter, iovInterconnect, rdmaExporter } from "@dmabuf-ref/exporters";
import type { gpuActionSchema } from "@dmabuf-ref/exporters";

export const VRAM = 0x60_0000_0000n;
export const VRAM_BUS_OFFSET = 0x1000_0000_0000n;
export const NIC_BAR = 0x70_0000_0000n;

/** gpu0 (+ VF gpu0vf1), nic0 and dev0 below sw0; dev1 below sw1 (host bridge); dev3 unreachable. */
export const topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x100_0000n },
    {
      id: "gpu0.vram",
      kind: "vram",
      base: VRAM,
      size: 0x100_0000n,
      busOffset: VRAM_BUS_OFFSET,
      device: "gpu0",
    },
    { id: "nic0.bar0", kind: "bar", base: NIC_BAR, size: 0x10_0000n, device: "nic0" },
  ],
  devices: [
    { id: "gpu0", switch: "sw0" },
    { id: "gpu0vf1", switch: "sw0" },
    { id: "nic0", switch: "sw0" },
    { id: "dev0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
    { id: "dev3", switch: "sw9" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
    { id: "sw9", hostBridge: "hb1" },
  ],
  hostBridges: [
    { id: "hb0", p2p: true },
    { id: "hb1", p2p: true },
  ],
});

/** A dynamic importer with no invalidate_mappings (the RDMA pinned importer). */
export const pinnedImporter: ImporterDriver = {
  name: "pinned",
  allowPeer2peer: true,
  accepts: (_m, _w, req) => [
    accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, "rdma"),
  ],
};

/** A PF-side importer of the IOV interconnect (kernel-model §4.1). */
export const iovImporter: ImporterDriver = {
  name: "iov",
  allowPeer2peer: true,
  accepts: (_m, _w, req) => [accept(iovInterconnect, { device: req.device }, "xe")],
  invalidateMappings: (_m, world) => ({ world, events: [] }),
};

/**
 * A fresh machine with the gpu and rdma exporters, the test importers and
 * any `extra` importers (e.g. a KVM-like one), and the world it boots into.
 */
export function makeWorld(
  profile: Profile = linux71,
  sriov = false,
  extra: readonly ImporterDriver[] = [],
): { m: Machine; w: World } {
  const gpu = gpuExporter({
    devices: [
      {
        id: "gpu0",
        vram: "gpu0.vram",
        system: "ram0",
        ...(sriov ? { sriov: { vfs: ["gpu0vf1"] } } : {}),
      },
    ],
  });
  const rdma = rdmaExporter({ devices: [{ id: "nic0", bar: "nic0.bar0" }] });
  const importers = [referenceImporter(), pinnedImporter, iovImporter, ...extra];
  const m = defineMachine({ profile, topology, exporters: [gpu, rdma], importers });
  return { m, w: boot(m) };
}

/** The GPU driver's ops, typed by its actions. */
const gpuOp = actionOp<typeof gpuActionSchema>("gpu");

/** `ttm_bo_evict()` of a BO: the GPU's `evict` op. */
export function evict(buf: number): Op {
  return gpuOp({ op: "evict", buf });
}

/** `ttm_bo_validate()` of a BO into a placement: the GPU's `migrate` op. */
export function migrate(buf: number, to: "vram" | "system"): Op {
  return gpuOp({ op: "migrate", buf, to });
}

/** The outcome of a step that must be done. */
export function mustDo(r: ReturnType<typeof step>): { world: World; created: number | undefined } {
  if (r.status !== "done") {
    throw new Error(`step ${r.status}: ${r.status === "failed" ? r.error.errno : r.reason}`);
  }
  return { world: r.world, created: r.created };
}

/**
 * Exports with bad arguments and checks the kernel's rule for bad input:
 * the step fails and the world is the same object.
 *
 * @returns the errno (or the status when the export did not fail).
 */
export function exportRefusal(exporter: string, owner: string, args: unknown): string {
  const { m, w } = makeWorld();
  const r = step(m, w, { kind: "export", exporter, owner, args });
  if (r.world !== w) throw new Error(`the refused ${exporter} export changed the world`);
  return errnoOf(r);
}

/** The errno of a failed step, or its status. */
export function errnoOf(r: ReturnType<typeof step>): string {
  return r.status === "failed" ? r.error.errno : r.status;
}

/** Exports a buffer that must succeed. */
export function exportBuf(
  m: Machine,
  w: World,
  exporter: string,
  owner: string,
  args: unknown,
): { world: World; buf: number } {
  const r = mustDo(step(m, w, { kind: "export", exporter, owner, args }));
  if (r.created === undefined) throw new Error("export created nothing");
  return { world: r.world, buf: r.created };
}

/** Attaches (must succeed). */
export function attach(
  m: Machine,
  w: World,
  buf: number,
  importer: string,
  device: string,
  dynamic = true,
): { world: World; att: number } {
  const r = mustDo(step(m, w, { kind: "attach", buf, importer, device, dynamic }));
  if (r.created === undefined) throw new Error("attach created nothing");
  return { world: r.world, att: r.created };
}

/** Maps a dynamic attachment under resv as its importer does: lock, map, unlock. */
export function lockedMap(
  m: Machine,
  w: World,
  buf: number,
  att: number,
  importer: string,
): ReturnType<typeof step> {
  const holder = importerHolder(importer, att);
  const locked = mustDo(step(m, w, { kind: "lock", buf, holder })).world;
  const mapped = step(m, locked, { kind: "map", att, holder });
  if (mapped.status !== "done") return mapped;
  return step(m, mapped.world, { kind: "unlock", buf, holder });
}
