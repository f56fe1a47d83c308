import {
  defineMachine,
  referenceExporter,
  referenceImporter,
  topologySchema,
} from "@dmabuf-ref/core";
import type { Machine, Profile, Topology } from "@dmabuf-ref/core";
import { vfioPciExporter } from "@dmabuf-ref/exporters";
import { iommufdImporter } from "@dmabuf-ref/importers";

/** CPU physical base of vfio0's BAR0 (16 MiB MMIO). */
export const VFIO0_BAR0 = 0x40_0000_0000n;

/**
 * The machine the scenarios and `dmabuf-ref replay` run on (the README
 * documents it): 1 GiB of RAM; a VFIO PCI function `vfio0` with BAR0 =
 * 16 MiB and BAR2 = 64 KiB of MMIO, PCI memory enabled; a second device
 * `dev1` that initiates DMA, behind the IOMMU, P2P-reachable to `vfio0`
 * through the host bridge; 4 KiB pages.
 */
export const standardTopology: Topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x4000_0000n },
    { id: "vfio0.bar0", kind: "bar", base: VFIO0_BAR0, size: 0x100_0000n, device: "vfio0" },
    { id: "vfio0.bar2", kind: "bar", base: 0x40_0100_0000n, size: 0x1_0000n, device: "vfio0" },
  ],
  devices: [
    { id: "vfio0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/**
 * The machine on {@link standardTopology} with the vfio-pci exporter
 * (`vfio0`), iommufd, and the reference exporter and importer (a
 * kernel-memory dma-buf source; with `selftestHook` it also has the iommufd
 * selftest mock's private hook, kernel-facts §3.3 step 4 / §3.6). Its
 * initial world is `boot(m)`.
 *
 * @param profile - the rules in force.
 * @param opts - whether the reference exporter has the selftest hook.
 * @returns the machine.
 */
export function standardMachine(
  profile: Profile,
  opts: { readonly selftestHook?: boolean } = {},
): Machine {
  const vfio = vfioPciExporter({
    devices: [
      {
        id: "vfio0",
        bars: [
          { index: 0, region: "vfio0.bar0" },
          { index: 2, region: "vfio0.bar2" },
        ],
      },
    ],
  });
  const ref = referenceExporter({ region: "ram0", selftestHook: opts.selftestHook === true });
  return defineMachine({
    profile,
    topology: standardTopology,
    exporters: [vfio, ref],
    importers: [iommufdImporter(), referenceImporter()],
  });
}
