/**
 * Shared set-up for the vfio-pci tests: a machine with two VFIO functions in
 * one dev_set, DMA-capable peers, the vfio-pci exporter and a few importers
 * (the reference revocable importer, a pinned one with no invalidate, and
 * private-interconnect / PAL importers standing in for iommufd).
 */
import { expect } from "vitest";
import {
  accept,
  boot,
  defineMachine,
  encodeDmaBufFeature,
  importerHolder,
  isPayloadOf,
  linux71,
  pal,
  referenceImporter,
  runScript,
  sgt,
  step,
  topologySchema,
  VFIO_DEVICE_FEATURE_GET,
  vfioIommufdPrivate,
} from "@dmabuf-ref/core";
import type {
  ImporterDriver,
  Machine,
  Profile,
  ScriptEntry,
  StepOutcome,
  TraceEvent,
  VfioRegionDmaRange,
  World,
} from "@dmabuf-ref/core";
import { O_CLOEXEC, O_RDWR, vfioPciExporter } from "@dmabuf-ref/exporters";
import type { VfioCloseOrder, VfioPciAction } from "@dmabuf-ref/exporters";

export const MiB = 0x10_0000n;
export const BAR0 = 0x40_0000_0000n;
export const BAR0_SIZE = 16n * MiB;
export const BAR0_BUS_OFFSET = 0x1000_0000_0000n;
export const BAR2 = 0x40_0100_0000n;
export const BAR2_SIZE = 0x1_0000n;
export const BAR4 = 0x50_0000_0000n;
export const BAR4_SIZE = 8n * 1024n * MiB;

/**
 * vfio0 (BAR0 16 MiB with a bus offset, BAR2 64 KiB, BAR3 without a p2pdma
 * provider, BAR4 8 GiB) and vfio1 share dev_set "set0" below sw0; vfio2 has
 * no get_dmabuf_phys. dev0 sits below sw0 too (bus address), dev1 below sw1
 * (through the host bridge, IOVA), dev3 below another host bridge
 * (unreachable).
 */
export const topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x4000_0000n },
    {
      id: "vfio0.bar0",
      kind: "bar",
      base: BAR0,
      size: BAR0_SIZE,
      busOffset: BAR0_BUS_OFFSET,
      device: "vfio0",
    },
    { id: "vfio0.bar2", kind: "bar", base: BAR2, size: BAR2_SIZE, device: "vfio0" },
    { id: "vfio0.bar3", kind: "bar", base: 0x40_0200_0000n, size: 0x1000n, device: "vfio0" },
    { id: "vfio0.bar4", kind: "bar", base: BAR4, size: BAR4_SIZE, device: "vfio0" },
    { id: "vfio1.bar0", kind: "bar", base: 0x41_0000_0000n, size: MiB, device: "vfio1" },
    { id: "vfio2.bar0", kind: "bar", base: 0x42_0000_0000n, size: MiB, device: "vfio2" },
  ],
  devices: [
    { id: "vfio0", switch: "sw0" },
    { id: "vfio1", switch: "sw0" },
    { id: "vfio2", switch: "sw0" },
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
  name: "rdma-pinned",
  allowPeer2peer: true,
  accepts: (_m, _w, req) => [
    accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, "rdma"),
  ],
};

/** iommufd as 6.19/7.1 has it: the private interconnect only. */
export const privateImporter: ImporterDriver = {
  name: "iommufd",
  allowPeer2peer: true,
  accepts: () => [accept(vfioIommufdPrivate, {}, "iommufd")],
  invalidateMappings: (_m, world) => ({ world, events: [] }),
};

/** iommufd as the Feb 2026 RFC has it: PAL only. */
export const palImporter: ImporterDriver = {
  name: "iommufd-pal",
  allowPeer2peer: true,
  accepts: () => [accept(pal, {}, "iommufd")],
  invalidateMappings: (_m, world) => ({ world, events: [] }),
};

export const VFIO = "vfio-pci";

/** The options of {@link makeWorld}. */
export interface WorldOptions {
  readonly profile?: Profile;
  readonly closeOrder?: VfioCloseOrder;
  readonly krefRearm?: boolean;
  readonly dmabufConfigured?: boolean;
  /** What vfio_pci_core_enable() stored for some of vfio0's BARs (default: claimed). */
  readonly claimed?: Readonly<Partial<Record<number, "ENODEV" | "EBUSY" | "ENOMEM">>>;
}

/**
 * A fresh machine on {@link topology} with vfio-pci and the test importers,
 * and the world it boots into.
 */
export function makeWorld(opts: WorldOptions = {}): { m: Machine; w: World } {
  const vfio = vfioPciExporter({
    ...(opts.closeOrder === undefined ? {} : { closeOrder: opts.closeOrder }),
    ...(opts.krefRearm === undefined ? {} : { krefRearm: opts.krefRearm }),
    ...(opts.dmabufConfigured === undefined ? {} : { dmabufConfigured: opts.dmabufConfigured }),
    devices: [
      {
        id: "vfio0",
        devSet: "set0",
        bars: [
          { index: 0, region: "vfio0.bar0" },
          { index: 2, region: "vfio0.bar2" },
          { index: 3, region: "vfio0.bar3", p2pProvider: false },
          { index: 4, region: "vfio0.bar4" },
        ].map((b) => ({ ...b, claimed: opts.claimed?.[b.index] ?? true })),
      },
      { id: "vfio1", devSet: "set0", bars: [{ index: 0, region: "vfio1.bar0" }] },
      { id: "vfio2", dmabuf: false, bars: [{ index: 0, region: "vfio2.bar0" }] },
    ],
  });
  const importers = [referenceImporter(), pinnedImporter, privateImporter, palImporter];
  const m = defineMachine({
    profile: opts.profile ?? linux71,
    topology,
    exporters: [vfio],
    importers,
  });
  return { m, w: boot(m) };
}

/** The bytes of a GET of VFIO_DEVICE_FEATURE_DMA_BUF. */
export function dmaBufRequest(
  ranges: readonly VfioRegionDmaRange[],
  bar = 0,
  extra: { flags?: number; open_flags?: number; nr_ranges?: number; argsz?: number } = {},
): Uint8Array {
  return encodeDmaBufFeature({
    flags: VFIO_DEVICE_FEATURE_GET,
    ...(extra.argsz === undefined ? {} : { argsz: extra.argsz }),
    data: {
      region_index: bar,
      open_flags: extra.open_flags ?? O_RDWR | O_CLOEXEC,
      flags: extra.flags ?? 0,
      ...(extra.nr_ranges === undefined ? {} : { nr_ranges: extra.nr_ranges }),
    },
    ranges,
  });
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_FEATURE, argp)` as the vfio-pci driver's
 * `VFIO_DEVICE_FEATURE` op through core's `step` (the ioctl's fields
 * validated by the op's schema, a refusal's world the input world).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param argp - the ioctl argument's bytes.
 * @param device - the device whose fd is used.
 * @param process - the calling process; the op's default ("vmm") when left out.
 * @returns the step's outcome (`returned.ret` the dma-buf fd, 0 for PROBE).
 */
export function featureIoctl(
  m: Machine,
  w: World,
  argp: Uint8Array,
  device = "vfio0",
  process?: string,
): StepOutcome {
  const action = { op: "VFIO_DEVICE_FEATURE", device, argp };
  return step(m, w, {
    kind: "driver",
    driver: VFIO,
    action: process === undefined ? action : { ...action, process },
  });
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_RESET)` as the vfio-pci driver's
 * `VFIO_DEVICE_RESET` op through core's `step`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param device - the device whose fd is used.
 * @param process - the calling process; the op's default ("vmm") when left out.
 * @returns the step's outcome (`returned.ret` 0; the ioctl's event comes when the reset ends).
 */
export function resetIoctl(m: Machine, w: World, device = "vfio0", process?: string): StepOutcome {
  const action = { op: "VFIO_DEVICE_RESET", device };
  return step(m, w, {
    kind: "driver",
    driver: VFIO,
    action: process === undefined ? action : { ...action, process },
  });
}

/** Exports a VFIO dma-buf that must succeed; returns the world and the buffer id. */
export function exportVfio(
  m: Machine,
  w: World,
  ranges: readonly VfioRegionDmaRange[] = [{ offset: 0n, length: 0x10000n }],
  device = "vfio0",
  bar = 0,
): { world: World; buf: number } {
  const r = featureIoctl(m, w, dmaBufRequest(ranges, bar), device);
  if (r.status !== "done") {
    throw new Error(`export failed: ${r.status === "failed" ? r.error.errno : r.reason}`);
  }
  if (r.returned === undefined) throw new Error("export returned no fd");
  return { world: r.world, buf: r.returned.ret };
}

/** A core op running one vfio-pci action. */
export function vfioOp(action: VfioPciAction | Record<string, unknown>): ScriptEntry {
  return { kind: "driver", driver: VFIO, action };
}

/** Runs vfio-pci actions (and any other ops) with core's scheduler. */
export function runActs(
  m: Machine,
  w: World,
  entries: readonly (ScriptEntry | VfioPciAction)[],
): ReturnType<typeof runScript> {
  return runScript(
    m,
    w,
    entries.map((e) => (typeof e === "function" || "kind" in e ? e : vfioOp(e))),
  );
}

/** One action stepped once (no settling). */
export function actOnce(m: Machine, w: World, action: unknown): ReturnType<typeof step> {
  return step(m, w, { kind: "driver", driver: VFIO, action });
}

/** A dynamic attachment of `importer` for `device`, mapped under resv. */
export function attachMapped(
  m: Machine,
  w: World,
  buf: number,
  device = "dev1",
  importer = "ref-importer",
): { world: World; att: number; dma: bigint } {
  const att = runScript(m, w, [{ kind: "attach", buf, importer, device, dynamic: true }]);
  const id = att.results[0]?.created;
  if (id === undefined) throw new Error(`attach failed: ${att.results[0]?.error?.errno ?? "?"}`);
  const holder = importerHolder(importer, id);
  const run = runScript(m, att.world, [
    { kind: "lock", buf, holder },
    { kind: "map", att: id, holder },
    { kind: "unlock", buf, holder },
  ]);
  expect(run.results.map((r) => r.error?.errno ?? r.status)).toEqual(["done", "done", "done"]);
  const payload = run.world.atts.get(id)?.mapping?.payload;
  const dma = isPayloadOf(sgt, payload) ? (payload.value.entries[0]?.dmaAddress ?? -1n) : -1n;
  return { world: run.world, att: id, dma };
}

/** The dma outcomes of a trace. */
export function dmaOutcomes(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));
}

/** A buffer's revoke state. */
export function revokedOf(w: World, buf: number): string | undefined {
  return w.bufs.get(buf)?.revoked;
}

/** A region's status by name. */
export function regionStatus(w: World, name: string): string | undefined {
  for (const r of w.regions.values()) if (r.id === name) return r.status;
  return undefined;
}

/** One scheduler step: the first task step or driver pending op that runs (the world itself when none). */
export function settleOne(m: Machine, w: World): World {
  for (const [id] of w.tasks.entries()) {
    const r = step(m, w, { kind: "task", task: id });
    if (r.status === "done") return r.world;
  }
  for (const d of [...m.exporters.values(), ...m.importers.values()]) {
    for (const op of d.pending?.(m, w) ?? []) {
      const r = step(m, w, op);
      if (r.status === "done") return r.world;
    }
  }
  return w;
}
