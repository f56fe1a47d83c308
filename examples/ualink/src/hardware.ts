/*
 * The UALink hardware the example's drivers run on, as core's topology
 * describes hardware: a UALink pod is modelled as a switch below which
 * an accelerator's memory is reached by fabric address, and the
 * accelerator's HBM as device memory whose bus window is its fabric
 * window. Core's DMA oracle (`access`) then routes a fabric address to
 * the HBM for a port on the same pod, with no host IOMMU in the path,
 * and judges it against the grants the exporter's map created.
 */
import { topologySchema } from "@dmabuf-ref/core";
import type { Topology } from "@dmabuf-ref/core";

/** The UALink fabric of the example (a fabric spans one or more pods). */
export const FABRIC = "ual0";
/** A second fabric, cabled to nothing the example exports. */
export const OTHER_FABRIC = "ual1";
/** The accelerator that exports its HBM. */
export const ACCELERATOR = "acc0";
/** The accelerator's HBM, carved into buffers by the exporter. */
export const HBM = "acc0.hbm";
/** The UALink-attached NIC on the accelerator's pod: the importing port. */
export const NIC = "unic0";
/** A UALink port cabled to {@link OTHER_FABRIC}. */
export const FAR_NIC = "unic1";
/** The pod switch of {@link FABRIC}: the accelerator and {@link NIC} sit below it. */
export const POD_SWITCH = "ual0.pod0";
/** The pod switch of {@link OTHER_FABRIC}. */
export const FAR_POD_SWITCH = "ual1.pod0";
/** The pod of the accelerator in {@link FABRIC}. */
export const POD = 0;

/**
 * Where the HBM lies in CPU physical space: at 16 TiB, clear of the
 * BARs and RAM any of the CLI's machines place (the plugin API's rule).
 */
export const HBM_BASE = 0x1000_0000_0000n;
/** 16 MiB of HBM: enough for the example's buffers, small enough to read in a trace. */
export const HBM_SIZE = 0x100_0000n;
/**
 * The first fabric address of the HBM: fabric addresses are the HBM's
 * physical addresses moved into the fabric's own window, so a trace
 * never confuses one with the other.
 */
export const FABRIC_BASE = 0x4000_0000_0000n;

/**
 * The UALink part of a machine, as `--load`'s `hardware` takes it and as
 * core's topology holds it: the HBM (device memory of the accelerator,
 * its bus offset the fabric window), the accelerator and two ports, and
 * the two pod switches below host bridge `hb0`.
 */
export const ualinkHardware = {
  regions: [
    {
      id: HBM,
      kind: "vram",
      base: HBM_BASE,
      size: HBM_SIZE,
      busOffset: FABRIC_BASE - HBM_BASE,
      device: ACCELERATOR,
    },
  ],
  devices: [
    { id: ACCELERATOR, switch: POD_SWITCH },
    { id: NIC, switch: POD_SWITCH },
    { id: FAR_NIC, switch: FAR_POD_SWITCH },
  ],
  switches: [
    { id: POD_SWITCH, hostBridge: "hb0" },
    { id: FAR_POD_SWITCH, hostBridge: "hb0" },
  ],
} as const;

/**
 * A small machine for the contract tests: the UALink hardware plus 1 GiB
 * of RAM (`ram0`, which the importer suite's contract exporter carves
 * from), the device `exp0` that owns those buffers, and a plain PCIe
 * function `pcie0` (the exporter suite's importing device: behind the
 * IOMMU on its own switch, so an SGT of the HBM reaches it through the
 * P2P-capable host bridge with an IOVA).
 */
export const ualinkTopology: Topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x4000_0000n },
    ...ualinkHardware.regions,
  ],
  devices: [
    { id: "exp0", switch: "sw0" },
    { id: "pcie0", switch: "sw1" },
    ...ualinkHardware.devices,
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
    ...ualinkHardware.switches,
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});
