import { topologySchema } from "../fabric/topology.js";
import type { Topology } from "../fabric/topology.js";
import type { Profile } from "../profiles/profile.js";
import { linux71 } from "../profiles/linux-7.1.js";
import { defineMachine } from "../machine/machine.js";
import type { ExporterDriver, ImporterDriver, Machine } from "../machine/machine.js";
import { referenceExporter } from "./exporter.js";
import { referenceImporter } from "./importer.js";

/**
 * A small machine for examples and tests: 1 GiB of RAM (`ram0`), one host
 * bridge that forwards P2P, and three DMA-capable devices: `dev0` and
 * `dev1` behind the IOMMU on different switches, and `dev2` with no IOMMU
 * (its DMA addresses are physical).
 *
 * @category Drivers
 */
export const referenceTopology: Topology = topologySchema.parse({
  regions: [{ id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x4000_0000n }],
  devices: [
    { id: "dev0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
    { id: "dev2", switch: "sw0", iommu: false },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/**
 * A machine on {@link referenceTopology} with the reference exporter
 * (`ref-exporter`, allocating from `ram0`) and the reference importer
 * (`ref-importer`), plus any further drivers. Boot it with
 * {@link boot} for its initial world.
 *
 * @param opts - profile (default linux-7.1) and extra drivers.
 * @returns the machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, linux619, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * assert.deepEqual([...m.exporters.keys()], ["ref-exporter"]);
 * assert.deepEqual([...m.importers.keys()], ["ref-importer"]);
 * assert.deepEqual(
 *   m.topology.devices.map((d) => d.id),
 *   ["dev0", "dev1", "dev2"],
 * );
 * assert.equal(boot(m).bufs.size, 0);
 * assert.equal(referenceMachine({ profile: linux619 }).profile, linux619);
 * ```
 *
 * @category Drivers
 */
export function referenceMachine(
  opts: {
    readonly profile?: Profile;
    readonly exporters?: readonly ExporterDriver[];
    readonly importers?: readonly ImporterDriver[];
  } = {},
): Machine {
  return defineMachine({
    profile: opts.profile ?? linux71,
    topology: referenceTopology,
    exporters: [referenceExporter({ region: "ram0" }), ...(opts.exporters ?? [])],
    importers: [referenceImporter(), ...(opts.importers ?? [])],
  });
}
