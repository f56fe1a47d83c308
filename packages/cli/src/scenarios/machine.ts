import {
  defineMachine,
  referenceExporter,
  referenceImporter,
  topologySchema,
} from "@dmabuf-ref/core";
import type {
  ExporterDriver,
  ImporterDriver,
  IommuGeometryConfig,
  Machine,
  Profile,
  Topology,
} from "@dmabuf-ref/core";
import { gpuExporter, rdmaExporter, vfioPciExporter } from "@dmabuf-ref/exporters";
import type { VfioCloseOrder } from "@dmabuf-ref/exporters";
import {
  iommufdImporter,
  kvmImporter,
  rdmaOdpImporter,
  rdmaPinnedImporter,
  rdmaPinnedRevocableImporter,
  vfioType1Importer,
} from "@dmabuf-ref/importers";
import type { IommufdConfig, RdmaImporter } from "@dmabuf-ref/importers";
import type { PluginHardwareSpec } from "../io/plugin.js";
import { NO_PLUGINS } from "../io/load-plugin.js";
import type { PluginSet } from "../io/load-plugin.js";
import { UsageError } from "../io/usage-error.js";
import { DEFAULT_MACHINE, rdmaUmemKindSchema } from "../replay/machine.js";
import type { DeviceDescription, MachineDescription, RdmaUmemKind } from "../replay/machine.js";

/** CPU physical base of vfio0's BAR0 (16 MiB MMIO). */
export const VFIO0_BAR0 = 0x40_0000_0000n;

/** CPU physical base of RAM (`ram0`). */
const RAM_BASE = 0x1_0000_0000n;
/** Where the BAR window starts when RAM ends below it. */
const BAR_WINDOW = 0x40_0000_0000n;

const alignUp = (v: bigint, a: bigint): bigint => ((v + a - 1n) / a) * a;

/**
 * The MMIO a function decodes, in the order it is placed: a vfio-pci
 * function's BARs (`<device>.bar<index>`), a GPU's VRAM BAR
 * (`<device>.vram`), an RDMA NIC's exported BAR (`<device>.bar0`).
 */
function mmioOf(
  dev: DeviceDescription,
): { id: string; kind: "bar" | "vram"; size: bigint; device: string }[] {
  const bars = dev.bars.map((b) => ({
    id: `${dev.id}.bar${b.index}`,
    kind: "bar" as const,
    // An empty BAR decodes nothing; its region is one page no export can reach.
    size: b.size ?? 0x1000n,
    device: dev.id,
  }));
  const vram =
    dev.vram === undefined
      ? []
      : [{ id: `${dev.id}.vram`, kind: "vram" as const, size: dev.vram, device: dev.id }];
  const nicBar =
    dev.exportBar === undefined
      ? []
      : [{ id: `${dev.id}.bar0`, kind: "bar" as const, size: dev.exportBar, device: dev.id }];
  return [...bars, ...vram, ...nicBar];
}

/**
 * The topology a {@link MachineDescription} describes: `ram0` of the given
 * size at 4 GiB; each BAR a region `<device>.bar<index>` (a GPU's VRAM
 * `<device>.vram`, an RDMA NIC's exported BAR `<device>.bar0`), placed from
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
    mmioOf(dev).map((r) => {
      const base = alignUp(next, r.size);
      next = base + r.size;
      return { ...r, base };
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
  /** The `--load` plugins, whose hardware and drivers the machine gets too. */
  readonly plugins?: PluginSet;
}

/**
 * The machine a replay or scenario file's `machine:` describes (and, from
 * {@link DEFAULT_MACHINE}, the one the scenarios run on): the topology of
 * {@link topologyOf}; one vfio-pci driver for the functions bound to it,
 * each in the `vfio_device_set` of its IOMMU group (a group of its own by
 * default) with its BARs; the GPU exporter for the `gpu` functions (VRAM
 * `<id>.vram`, system placement in `ram0`); the RDMA exporter for the
 * `rdma` NICs that export a BAR, and one umem importer per kind the NICs
 * register (`rdma-odp`, `rdma-pinned`, `rdma-pinned-revocable`); iommufd;
 * KVM's importer when a VM runs (`kvm:`); VFIO's type1 backend
 * (`vfio-type1`) when the description has `type1:`; and, unless left out, the
 * reference exporter on `ram0` and its importer (a kernel-memory dma-buf
 * source; with `selftestHook` it also has the iommufd selftest mock's
 * private hook, kernel-model §3.3 step 4 / §3.6); then the `--load`
 * plugins' hardware and drivers ({@link definePluginMachine}). Every
 * driver comes from its package's own constructor. Its initial world is
 * `boot(m)`.
 *
 * @param profile - the rules in force.
 * @param d - the validated description.
 * @param opts - whether the reference exporter has the selftest hook, and
 *   vfio-pci options that override the profile's (each overrides the
 *   description's).
 * @returns the machine.
 */
export function buildMachine(
  profile: Profile,
  d: MachineDescription,
  opts: MachineOptions = {},
): Machine {
  const closeOrder = opts.closeOrder ?? d.vfio.closeOrder;
  const krefRearm = opts.krefRearm ?? d.vfio.krefRearm;
  const vfio = vfioPciExporter({
    ...(closeOrder === undefined ? {} : { closeOrder }),
    ...(krefRearm === undefined ? {} : { krefRearm }),
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
  const exporters: ExporterDriver[] = [vfio];
  const gpus = d.devices.filter((dev) => dev.driver === "gpu");
  if (gpus.length > 0)
    exporters.push(
      gpuExporter({
        devices: gpus.map((dev) => ({
          id: dev.id,
          vram: `${dev.id}.vram`,
          system: "ram0",
          ...(dev.sriov === undefined ? {} : { sriov: { vfs: [...dev.sriov.vfs] } }),
        })),
      }),
    );
  const nics = d.devices.filter((dev) => dev.driver === "rdma" && dev.exportBar !== undefined);
  if (nics.length > 0)
    exporters.push(
      rdmaExporter({ devices: nics.map((dev) => ({ id: dev.id, bar: `${dev.id}.bar0` })) }),
    );
  const ref = d.reference;
  if (ref.exporter !== false)
    exporters.push(
      referenceExporter({
        ...(ref.exporter.name === undefined ? {} : { name: ref.exporter.name }),
        region: "ram0",
        selftestHook: opts.selftestHook ?? ref.exporter.selftestHook === true,
      }),
    );
  const importers: ImporterDriver[] = [iommufdImporter(iommufdConfigOf(d))];
  if (d.kvm !== undefined) importers.push(kvmImporter());
  if (d.type1 !== undefined) importers.push(vfioType1Importer(iommufdConfigOf(d)));
  const kinds = umemKindsOf(d);
  // Fixed order, so two descriptions listing the same kinds build the same machine.
  for (const kind of rdmaUmemKindSchema.options)
    if (kinds.has(kind)) importers.push(UMEM_IMPORTERS[kind]());
  if (ref.importer !== false)
    importers.push(
      referenceImporter(ref.importer.name === undefined ? {} : { name: ref.importer.name }),
    );
  return definePluginMachine(
    { profile, topology: topologyOf(d), exporters, importers },
    opts.plugins ?? NO_PLUGINS,
  );
}

/** Each umem kind's importer constructor (kernel-model §5.2). */
const UMEM_IMPORTERS: Readonly<Record<RdmaUmemKind, () => RdmaImporter>> = {
  odp: rdmaOdpImporter,
  pinned: rdmaPinnedImporter,
  "pinned-revocable": rdmaPinnedRevocableImporter,
};

/**
 * The umem kinds the RDMA NICs register (a NIC that names none: `odp`).
 *
 * @param d - the validated description.
 * @returns the kinds.
 */
function umemKindsOf(d: MachineDescription): Set<RdmaUmemKind> {
  const kinds = new Set<RdmaUmemKind>();
  for (const dev of d.devices) {
    if (dev.driver !== "rdma") continue;
    const u = dev.umem ?? "odp";
    for (const k of typeof u === "string" ? [u] : u) kinds.add(k);
  }
  return kinds;
}

/**
 * iommufd's per-device domain settings from the devices' `iommu`
 * descriptions (page sizes as `pgsize_bitmap`, aperture, reserved regions).
 *
 * @param d - the validated description.
 * @returns the importer's configuration.
 */
function iommufdConfigOf(d: MachineDescription): IommufdConfig & IommuGeometryConfig {
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

/**
 * A machine from its parts plus what the `--load` plugins add: each
 * plugin's hardware merged into the topology (a device without a switch
 * gets `<id>.sw` below the machine's first host bridge) and each plugin
 * driver built for the profile, after the built-in drivers.
 *
 * @param desc - the built-in machine's profile, topology and drivers.
 * @param plugins - the loaded plugins.
 * @returns the machine.
 * @throws {@link UsageError} (exit 2) naming the plugin when its hardware
 *   clashes with the machine's, a driver factory throws or names its
 *   driver otherwise, or two drivers share a name.
 */
export function definePluginMachine(
  desc: {
    readonly profile: Profile;
    readonly topology: Topology;
    readonly exporters: readonly ExporterDriver[];
    readonly importers: readonly ImporterDriver[];
  },
  plugins: PluginSet,
): Machine {
  if (plugins.modules.length === 0) return defineMachine(desc);
  const topology = plugins.hardware.reduce(
    (t, h) => withHardware(t, h.plugin, h.hardware),
    desc.topology,
  );
  const build = <D extends { readonly name: string }>(
    d: { readonly name: string; readonly plugin: string; driver(p: Profile): D },
    role: "exporters" | "importers",
  ): D => {
    let driver: D;
    try {
      driver = d.driver(desc.profile);
    } catch (e) {
      throw new UsageError(
        `plugin ${d.plugin}: ${role} ${d.name}: driver(${desc.profile.id}) threw: ` +
          (e instanceof Error ? e.message : String(e)),
      );
    }
    if (driver.name !== d.name)
      throw new UsageError(
        `plugin ${d.plugin}: ${role} ${d.name}: driver(${desc.profile.id}) built a driver named ${driver.name}`,
      );
    return driver;
  };
  const exporters = [...desc.exporters, ...plugins.exporters.map((e) => build(e, "exporters"))];
  const importers = [...desc.importers, ...plugins.importers.map((i) => build(i, "importers"))];
  try {
    return defineMachine({ profile: desc.profile, topology, exporters, importers });
  } catch (e) {
    // Two drivers of one name: a file's renamed reference driver and a plugin's.
    throw new UsageError(`--load: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * A topology with one plugin's hardware added, every id new and every
 * region clear of the machine's.
 */
function withHardware(t: Topology, plugin: string, h: PluginHardwareSpec): Topology {
  const clash = (what: string, id: string, why: string): UsageError =>
    new UsageError(`plugin ${plugin}: hardware.${what} ${id}: ${why}`);
  const ids = new Set([
    ...t.regions.map((r) => r.id),
    ...t.devices.map((d) => d.id),
    ...t.switches.map((s) => s.id),
    ...t.hostBridges.map((b) => b.id),
  ]);
  const fresh = (what: string, id: string): void => {
    if (ids.has(id)) throw clash(what, id, "the machine already has this id");
    ids.add(id);
  };
  h.hostBridges.forEach((b) => {
    fresh("hostBridges", b.id);
  });
  const bridges = [...t.hostBridges, ...h.hostBridges];
  const firstBridge = bridges[0]?.id ?? "hb0";
  h.switches.forEach((s) => {
    fresh("switches", s.id);
    if (!bridges.some((b) => b.id === s.hostBridge))
      throw clash("switches", s.id, `no host bridge ${s.hostBridge}`);
  });
  const ownSwitches = h.devices
    .filter((d) => d.switch === undefined)
    .map((d) => ({ id: `${d.id}.sw`, hostBridge: firstBridge, acsRedirect: false }));
  const switches = [...t.switches, ...h.switches, ...ownSwitches];
  h.devices.forEach((d) => {
    fresh("devices", d.id);
    if (d.switch !== undefined && !switches.some((s) => s.id === d.switch))
      throw clash("devices", d.id, `no switch ${d.switch}`);
  });
  ownSwitches.forEach((s) => {
    fresh("switches", s.id);
  });
  const devices = [
    ...t.devices,
    ...h.devices.map((d) => ({ ...d, switch: d.switch ?? `${d.id}.sw` })),
  ];
  h.regions.forEach((r) => {
    fresh("regions", r.id);
    if (r.device !== undefined && !devices.some((d) => d.id === r.device))
      throw clash("regions", r.id, `no device ${r.device}`);
    const over = t.regions.find((x) => r.base < x.base + x.size && x.base < r.base + r.size);
    if (over !== undefined) throw clash("regions", r.id, `overlaps the machine's ${over.id}`);
  });
  return topologySchema.parse({
    regions: [...t.regions, ...h.regions],
    devices,
    switches,
    hostBridges: bridges,
  });
}
