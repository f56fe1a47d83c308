import {
  defineMachine,
  referenceExporter,
  referenceImporter,
  topologySchema,
} from "@dmabuf-ref/core";
import type { Machine, Profile, Topology } from "@dmabuf-ref/core";
import { vfioPciExporter } from "@dmabuf-ref/exporters";
import type { VfioCloseOrder } from "@dmabuf-ref/exporters";
import { iommufdImporter } from "@dmabuf-ref/importers";
import type { IommufdConfig } from "@dmabuf-ref/importers";
import { DEFAULT_MACHINE } from "../replay/machine.js";
import type { MachineDescription } from "../replay/machine.js";

/** CPU physical base of vfio0's BAR0 (16 MiB MMIO). */
export const VFIO0_BAR0 = 0x40_0000_0000n;

/** CPU physical base of RAM (`ram0`). */
const RAM_BASE = 0x1_0000_0000n;
/** Where the BAR window starts when RAM ends below it. */
const BAR_WINDOW = 0x40_0000_0000n;

const alignUp = (v: bigint, a: bigint): bigint => ((v + a - 1n) / a) * a;

/**
 * The topology a {@link MachineDescription} describes: `ram0` of the given
 * size at 4 GiB; each BAR a region `<device>.bar<index>`, placed from
 * 256 GiB (or the next 256 GiB boundary above RAM) upward in the order
 * listed, each aligned to its size as PCI assigns memory BARs; devices
 * without a switch get one of their own (`<device>.sw`) below `hb0`, which
 * forwards P2P unless host bridges are listed.
 *
 * @param d - the validated description.
 * @returns the topology.
 */
export function topologyOf(d: MachineDescription): Topology {
  let next = RAM_BASE + d.ram > BAR_WINDOW ? alignUp(RAM_BASE + d.ram, BAR_WINDOW) : BAR_WINDOW;
  const bars = d.devices.flatMap((dev) =>
    dev.bars.map((b) => {
      // An empty BAR decodes nothing; its region is one page no export can reach.
      const size = b.size ?? 0x1000n;
      const base = alignUp(next, size);
      next = base + size;
      return { id: `${dev.id}.bar${b.index}`, kind: "bar", base, size, device: dev.id };
    }),
  );
  const ownSwitches = d.devices
    .filter((dev) => dev.switch === undefined)
    .map((dev) => ({ id: `${dev.id}.sw`, hostBridge: d.hostBridges[0]?.id ?? "hb0" }));
  return topologySchema.parse({
    regions: [{ id: "ram0", kind: "ram", base: RAM_BASE, size: d.ram }, ...bars],
    devices: d.devices.map((dev) => ({
      id: dev.id,
      switch: dev.switch ?? `${dev.id}.sw`,
      iommu: dev.iommu !== false,
    })),
    switches: [...d.switches, ...ownSwitches],
    hostBridges: d.hostBridges.length === 0 ? [{ id: "hb0", p2p: true }] : d.hostBridges,
  });
}

/** What {@link buildMachine} can switch besides the description. */
export interface MachineOptions {
  /** The reference exporter has the iommufd selftest mock's private hook. */
  readonly selftestHook?: boolean;
  /**
   * vfio-pci's close order, overriding the profile's (to compare both
   * orders under one profile).
   */
  readonly closeOrder?: VfioCloseOrder;
  /**
   * vfio-pci's kref re-arm (c64a647c84f3), overriding the profile's;
   * `false` is the v7.1-rc underflow (`vfio-kref-rearm: false`).
   */
  readonly krefRearm?: boolean;
}

/**
 * The machine a replay file's `machine:` describes (and, from
 * {@link DEFAULT_MACHINE}, the one the scenarios run on): the topology of
 * {@link topologyOf}; one vfio-pci driver for the functions bound to it,
 * each in the `vfio_device_set` of its IOMMU group (a group of its own by
 * default) with its BARs; iommufd; and the reference exporter on `ram0`
 * and its importer (a kernel-memory dma-buf source; with `selftestHook` it
 * also has the iommufd selftest mock's private hook, kernel-model §3.3
 * step 4 / §3.6). Its initial world is `boot(m)`.
 *
 * @param profile - the rules in force.
 * @param d - the validated description.
 * @param opts - whether the reference exporter has the selftest hook, and
 *   vfio-pci options that override the profile's.
 * @returns the machine.
 */
export function buildMachine(
  profile: Profile,
  d: MachineDescription,
  opts: MachineOptions = {},
): Machine {
  const vfio = vfioPciExporter({
    ...(opts.closeOrder === undefined ? {} : { closeOrder: opts.closeOrder }),
    ...(opts.krefRearm === undefined ? {} : { krefRearm: opts.krefRearm }),
    devices: d.devices
      .filter((dev) => dev.driver === "vfio-pci")
      .map((dev) => ({
        id: dev.id,
        devSet: dev.group === undefined ? dev.id : `group${String(dev.group)}`,
        bars: dev.bars.map((b) => ({
          index: b.index,
          region: `${dev.id}.bar${b.index}`,
          // What vfio_pci_core_enable kept for the BAR (05f2a68b407a).
          claimed: b.empty ? ("ENODEV" as const) : b.claimed ? (true as const) : ("EBUSY" as const),
        })),
      })),
  });
  const ref = referenceExporter({ region: "ram0", selftestHook: opts.selftestHook === true });
  return defineMachine({
    profile,
    topology: topologyOf(d),
    exporters: [vfio, ref],
    importers: [iommufdImporter(iommufdConfigOf(d)), referenceImporter()],
  });
}

/**
 * iommufd's per-device domain settings from the devices' `iommu`
 * descriptions (page sizes as `pgsize_bitmap`, aperture, reserved regions).
 *
 * @param d - the validated description.
 * @returns the importer's configuration.
 */
function iommufdConfigOf(d: MachineDescription): IommufdConfig {
  const pgsize: Record<string, bigint> = {};
  const apertures: Record<string, { start: bigint; last: bigint }> = {};
  const reserved: Record<string, { start: bigint; last: bigint }[]> = {};
  for (const dev of d.devices) {
    if (typeof dev.iommu !== "object") continue;
    if (dev.iommu.pageSizes !== undefined)
      pgsize[dev.id] = dev.iommu.pageSizes.reduce((bits, size) => bits | size, 0n);
    if (dev.iommu.aperture !== undefined) apertures[dev.id] = dev.iommu.aperture;
    if (dev.iommu.reserved !== undefined) reserved[dev.id] = [...dev.iommu.reserved];
  }
  return {
    devicePgsizeBitmaps: pgsize,
    deviceApertures: apertures,
    deviceReservedRegions: reserved,
  };
}

/**
 * The machine the scenarios and `dmabuf-ref replay` run on (the README
 * documents it): 1 GiB of RAM; a VFIO PCI function `vfio0` with BAR0 =
 * 16 MiB and BAR2 = 64 KiB of MMIO, PCI memory enabled; a second device
 * `dev1` that initiates DMA, behind the IOMMU, P2P-reachable to `vfio0`
 * through the host bridge; 4 KiB pages.
 */
export const standardTopology: Topology = topologyOf(DEFAULT_MACHINE);

/**
 * The machine on {@link standardTopology}: {@link buildMachine} of
 * {@link DEFAULT_MACHINE}.
 *
 * @param profile - the rules in force.
 * @param opts - whether the reference exporter has the selftest hook.
 * @returns the machine.
 */
export function standardMachine(profile: Profile, opts: MachineOptions = {}): Machine {
  return buildMachine(profile, DEFAULT_MACHINE, opts);
}
