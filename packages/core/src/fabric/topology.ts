import * as z from "zod";
import { deviceIdSchema, u64Schema } from "../schemas.js";

/**
 * What kind of memory a region is.
 *
 * @category Fabric and oracle
 */
export const regionKindSchema = z.enum(["ram", "bar", "vram"]);

/**
 * A physical memory region of the simulated machine: system RAM, a PCI BAR
 * (MMIO) or GPU VRAM (which the GPU exposes through a BAR).
 *
 * @remarks
 * DESIGN §3.5. `busOffset` is what `pci_p2pdma_bus_addr_map()` adds to a
 * CPU physical address to get the address a peer on the same switch must
 * use (kernel-model §1.4, BUS_ADDR). Sizes are ranges, never pages.
 *
 * @category Fabric and oracle
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

/**
 * A physical region (see {@link regionSchema}).
 *
 * @category Fabric and oracle
 */
export type Region = z.output<typeof regionSchema>;

/**
 * A PCIe switch: devices below the same switch can reach each other's BARs by bus address.
 *
 * @category Fabric and oracle
 */
export const switchSchema = z.object({
  /** Switch name. */
  id: z.string().min(1),
  /** The host bridge (root complex) above the switch. */
  hostBridge: z.string().min(1),
  /** ACS P2P Request Redirect: peer traffic is forced up through the IOMMU. */
  acsRedirect: z.boolean().default(false),
});

/**
 * A PCIe switch (see {@link switchSchema}).
 *
 * @category Fabric and oracle
 */
export type PciSwitch = z.output<typeof switchSchema>;

/**
 * A host bridge and whether it forwards peer-to-peer traffic between its ports.
 *
 * @category Fabric and oracle
 */
export const hostBridgeSchema = z.object({
  /** Host bridge name. */
  id: z.string().min(1),
  /** True when P2P through this root complex works (the p2pdma whitelist). */
  p2p: z.boolean(),
});

/**
 * A host bridge (see {@link hostBridgeSchema}).
 *
 * @category Fabric and oracle
 */
export type HostBridge = z.output<typeof hostBridgeSchema>;

/**
 * A device that can initiate DMA or own BARs.
 *
 * @category Fabric and oracle
 */
export const fabricDeviceSchema = z.object({
  /** Device name, e.g. "vfio0" or "nic0". */
  id: deviceIdSchema,
  /** The switch the device sits below. */
  switch: z.string().min(1),
  /** Behind an IOMMU: its DMA-API domain translates every DMA it issues. */
  iommu: z.boolean().default(true),
});

/**
 * A device (see {@link fabricDeviceSchema}).
 *
 * @category Fabric and oracle
 */
export type FabricDevice = z.output<typeof fabricDeviceSchema>;

/**
 * The static part of the simulated machine: regions, devices and the PCI
 * topology. What changes at run time (region state, IOMMU domains) lives in
 * the World.
 *
 * @category Fabric and oracle
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

/**
 * The static machine (see {@link topologySchema}).
 *
 * @category Fabric and oracle
 */
export type Topology = z.output<typeof topologySchema>;

/**
 * `enum pci_p2pdma_map_type`, as `pci_p2pdma_map_type(provider, client)`
 * answers (kernel-model §1.4): by bus address below a common switch,
 * through the host bridge (mapped with an IOVA), or not supported.
 *
 * @kernel drivers/pci/p2pdma.c pci_p2pdma_map_type
 *
 * @category Fabric and oracle
 */
export type P2PMapType = "bus-addr" | "thru-host-bridge" | "not-supported";

/**
 * How a client device reaches a provider device's MMIO.
 *
 * @param topology - the machine.
 * @param provider - the device owning the BAR.
 * @param client - the device issuing the DMA.
 * @returns the map type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { p2pMapType, referenceTopology } from "@dmabuf-ref/core";
 *
 * // dev0 and dev2 sit below sw0; dev1 below sw1; both switches under hb0, which forwards P2P.
 * assert.equal(p2pMapType(referenceTopology, "dev0", "dev2"), "bus-addr");
 * assert.equal(p2pMapType(referenceTopology, "dev0", "dev1"), "thru-host-bridge");
 * assert.equal(p2pMapType(referenceTopology, "dev0", "nic9"), "not-supported");
 * ```
 * @category Fabric and oracle
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { p2pDistanceIn, referenceTopology } from "@dmabuf-ref/core";
 *
 * assert.equal(p2pDistanceIn(referenceTopology, "dev0", "dev0"), 0);
 * assert.equal(p2pDistanceIn(referenceTopology, "dev0", "dev2"), 1); // common switch
 * assert.equal(p2pDistanceIn(referenceTopology, "dev0", "dev1"), 2); // through hb0
 * assert.equal(p2pDistanceIn(referenceTopology, "dev0", "nic9"), -1);
 * ```
 * @category Fabric and oracle
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { regionAt, topologySchema } from "@dmabuf-ref/core";
 *
 * // A VFIO device with a 16 MiB BAR 0 at 0x80_0000_0000.
 * const topology = topologySchema.parse({
 *   regions: [
 *     { id: "vfio0.bar0", kind: "bar", base: 0x80_0000_0000n, size: 0x100_0000n, device: "vfio0" },
 *   ],
 *   devices: [{ id: "vfio0", switch: "sw0" }],
 *   switches: [{ id: "sw0", hostBridge: "hb0" }],
 *   hostBridges: [{ id: "hb0", p2p: true }],
 * });
 * assert.equal(regionAt(topology, 0x80_0000_1000n, 0x1000n)?.id, "vfio0.bar0");
 * // A range running past the BAR's end lies in no region.
 * assert.equal(regionAt(topology, 0x80_00ff_f000n, 0x2000n), undefined);
 * ```
 * @category Fabric and oracle
 */
export function regionAt(topology: Topology, addr: bigint, len: bigint): Region | undefined {
  return topology.regions.find((r) => addr >= r.base && addr + len <= r.base + r.size);
}

/**
 * Anything that carries the machine's hardware: a `Machine`, or just its
 * topology where no driver is needed (core's converters run with only
 * this). Fabric functions take it so they need nothing else of the machine.
 *
 * @category Fabric and oracle
 */
export interface Hardware {
  /** The static hardware. */
  readonly topology: Topology;
}
