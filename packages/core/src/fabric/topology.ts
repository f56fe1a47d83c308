import * as z from "zod";
import { deviceIdSchema, u64Schema } from "../schemas.js";

/** What kind of memory a region is. */
export const regionKindSchema = z.enum(["ram", "bar", "vram"]);

/**
 * A physical memory region of the simulated machine: system RAM, a PCI BAR
 * (MMIO) or GPU VRAM (which the GPU exposes through a BAR).
 *
 * @remarks
 * DESIGN §3.5. `busOffset` is what `pci_p2pdma_bus_addr_map()` adds to a
 * CPU physical address to get the address a peer on the same switch must
 * use (kernel-model §1.4, BUS_ADDR). Sizes are ranges, never pages.
 */
export const regionSchema = z.object({
  /** Region name, e.g. "vfio0.bar0". */
  id: z.string().min(1),
  /** RAM, BAR MMIO or VRAM. */
  kind: regionKindSchema,
  /** CPU physical base address. */
  base: u64Schema,
  /** Size in bytes. */
  size: u64Schema,
  /** Bus address minus CPU physical address, for P2P without the IOMMU. */
  busOffset: u64Schema.default(0n),
  /** The device whose BAR or VRAM this is (absent for RAM). */
  device: deviceIdSchema.optional(),
});

/** A physical region (see {@link regionSchema}). */
export type Region = z.output<typeof regionSchema>;

/** A PCIe switch: devices below the same switch can reach each other's BARs by bus address. */
export const switchSchema = z.object({
  /** Switch name. */
  id: z.string().min(1),
  /** The host bridge (root complex) above the switch. */
  hostBridge: z.string().min(1),
  /** ACS P2P Request Redirect: peer traffic is forced up through the IOMMU. */
  acsRedirect: z.boolean().default(false),
});

/** A PCIe switch (see {@link switchSchema}). */
export type PciSwitch = z.output<typeof switchSchema>;

/** A host bridge and whether it forwards peer-to-peer traffic between its ports. */
export const hostBridgeSchema = z.object({
  /** Host bridge name. */
  id: z.string().min(1),
  /** True when P2P through this root complex works (the p2pdma whitelist). */
  p2p: z.boolean(),
});

/** A host bridge (see {@link hostBridgeSchema}). */
export type HostBridge = z.output<typeof hostBridgeSchema>;

/** A device that can initiate DMA or own BARs. */
export const fabricDeviceSchema = z.object({
  /** Device name, e.g. "vfio0" or "nic0". */
  id: deviceIdSchema,
  /** The switch the device sits below. */
  switch: z.string().min(1),
  /** Behind an IOMMU: its DMA-API domain translates every DMA it issues. */
  iommu: z.boolean().default(true),
});

/** A device (see {@link fabricDeviceSchema}). */
export type FabricDevice = z.output<typeof fabricDeviceSchema>;

/**
 * The static part of the simulated machine: regions, devices and the PCI
 * topology. What changes at run time (region state, IOMMU domains) lives in
 * the World.
 */
export const topologySchema = z.object({
  /** Physical memory regions. */
  regions: z.array(regionSchema),
  /** PCI devices. */
  devices: z.array(fabricDeviceSchema),
  /** PCIe switches. */
  switches: z.array(switchSchema),
  /** Host bridges. */
  hostBridges: z.array(hostBridgeSchema),
});

/** The static machine (see {@link topologySchema}). */
export type Topology = z.output<typeof topologySchema>;

/**
 * `enum pci_p2pdma_map_type`, as `pci_p2pdma_map_type(provider, client)`
 * answers (kernel-model §1.4): by bus address below a common switch,
 * through the host bridge (mapped with an IOVA), or not supported.
 *
 * @kernel drivers/pci/p2pdma.c pci_p2pdma_map_type
 */
export type P2PMapType = "bus-addr" | "thru-host-bridge" | "not-supported";

/**
 * How a client device reaches a provider device's MMIO.
 *
 * @param topology - the machine.
 * @param provider - the device owning the BAR.
 * @param client - the device issuing the DMA.
 * @returns the map type.
 */
export function p2pMapType(topology: Topology, provider: string, client: string): P2PMapType {
  const dev = (id: string): FabricDevice | undefined => topology.devices.find((d) => d.id === id);
  const sw = (id: string): PciSwitch | undefined => topology.switches.find((s) => s.id === id);
  const p = dev(provider);
  const c = dev(client);
  if (p === undefined || c === undefined) return "not-supported";
  const ps = sw(p.switch);
  const cs = sw(c.switch);
  if (ps === undefined || cs === undefined) return "not-supported";
  if (ps.id === cs.id && !ps.acsRedirect) return "bus-addr";
  if (ps.hostBridge !== cs.hostBridge) return "not-supported";
  const hb = topology.hostBridges.find((h) => h.id === ps.hostBridge);
  return hb?.p2p === true ? "thru-host-bridge" : "not-supported";
}

/**
 * `pci_p2pdma_distance()`: 0 for the device itself, 1 below a common switch,
 * 2 through the host bridge, -1 unreachable.
 *
 * @param topology - the machine.
 * @param provider - the device owning the BAR.
 * @param client - the device issuing the DMA.
 * @returns the distance.
 * @kernel drivers/pci/p2pdma.c pci_p2pdma_distance
 */
export function p2pDistanceIn(topology: Topology, provider: string, client: string): number {
  if (provider === client) return 0;
  switch (p2pMapType(topology, provider, client)) {
    case "bus-addr":
      return 1;
    case "thru-host-bridge":
      return 2;
    case "not-supported":
      return -1;
  }
}

/**
 * The region containing `[addr, addr + len)`, if one does.
 *
 * @param topology - the machine.
 * @param addr - CPU physical address.
 * @param len - length in bytes.
 * @returns the region, or undefined.
 */
export function regionAt(topology: Topology, addr: bigint, len: bigint): Region | undefined {
  return topology.regions.find((r) => addr >= r.base && addr + len <= r.base + r.size);
}

/**
 * Anything that carries the machine's hardware: a `Machine`, or just its
 * topology where no driver is needed (core's converters run with only
 * this). Fabric functions take it so they need nothing else of the machine.
 */
export interface Hardware {
  /** The static hardware. */
  readonly topology: Topology;
}
