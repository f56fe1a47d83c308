import { topologySchema } from "@dmabuf-ref/core";
import type { ImporterDriver, Machine, Profile, Topology } from "@dmabuf-ref/core";
import { gpuExporter, rdmaExporter, vfioPciExporter } from "@dmabuf-ref/exporters";
import type { VfioCloseOrder } from "@dmabuf-ref/exporters";
import {
  iommufdImporter,
  kvmImporter,
  rdmaOdpImporter,
  rdmaPinnedImporter,
  rdmaPinnedRevocableImporter,
} from "@dmabuf-ref/importers";
import { NO_PLUGINS } from "../io/load-plugin.js";
import type { PluginSet } from "../io/load-plugin.js";
import { definePluginMachine, standardTopology } from "../scenarios/machine.js";

/**
 * The matrix machine: the standard machine plus a GPU (`gpu0`, 16 MiB of
 * VRAM behind a BAR) and two RDMA NICs (`nic0` exports a BAR, `nic1`
 * imports), every device on its own switch under one P2P-capable host
 * bridge, so every pair is P2P-reachable through the host bridge (issue 5's
 * definition of a cell).
 */
export const matrixTopology: Topology = topologySchema.parse({
  ...standardTopology,
  regions: [
    ...standardTopology.regions,
    { id: "gpu0.vram", kind: "vram", base: 0x60_0000_0000n, size: 0x100_0000n, device: "gpu0" },
    { id: "nic0.bar0", kind: "bar", base: 0x70_0000_0000n, size: 0x10_0000n, device: "nic0" },
  ],
  devices: [
    ...standardTopology.devices,
    { id: "gpu0", switch: "sw2" },
    { id: "nic0", switch: "sw3" },
    { id: "nic1", switch: "sw4" },
  ],
  switches: [
    ...standardTopology.switches,
    { id: "sw2", hostBridge: "hb0" },
    { id: "sw3", hostBridge: "hb0" },
    { id: "sw4", hostBridge: "hb0" },
  ],
});

/**
 * A fresh matrix machine with every built-in driver, and the hardware and
 * drivers of the `--load` plugins.
 *
 * @param profile - the rules in force.
 * @param closeOrder - overrides vfio-pci's close order (absent: the profile's).
 * @param plugins - the loaded plugins (default none).
 * @returns the machine.
 */
export function matrixMachine(
  profile: Profile,
  closeOrder?: VfioCloseOrder,
  plugins: PluginSet = NO_PLUGINS,
): Machine {
  const exporters = [
    vfioPciExporter({
      ...(closeOrder === undefined ? {} : { closeOrder }),
      devices: [
        {
          id: "vfio0",
          bars: [
            { index: 0, region: "vfio0.bar0" },
            { index: 2, region: "vfio0.bar2" },
          ],
        },
      ],
    }),
    gpuExporter({ devices: [{ id: "gpu0", vram: "gpu0.vram", system: "ram0" }] }),
    rdmaExporter({ devices: [{ id: "nic0", bar: "nic0.bar0" }] }),
  ];
  const importers: ImporterDriver[] = [
    iommufdImporter(),
    kvmImporter(),
    rdmaOdpImporter(),
    rdmaPinnedImporter(),
    rdmaPinnedRevocableImporter(),
  ];
  return definePluginMachine({ profile, topology: matrixTopology, exporters, importers }, plugins);
}
