/*
 * The UALink example as a `dmabuf-ref --load` plugin: its type, its
 * profile, the hardware its drivers need and the drivers themselves,
 * so every command of the CLI can name them:
 *
 *   pnpm dmabuf-ref matrix --load examples/ualink/plugin.ts --profile ualink-rfc
 */
import { definePlugin } from "@dmabuf-ref/cli";
import {
  ACCELERATOR,
  NIC,
  UALINK_EXPORTER,
  UALINK_IMPORTER,
  ualink,
  ualinkExporter,
  ualinkHardware,
  ualinkImporter,
  ualinkRfc,
} from "./src/index.js";

/** The plugin `--load examples/ualink/plugin.ts` reads. */
export const plugin = definePlugin({
  name: "ualink",
  mappingTypes: [ualink],
  profiles: [ualinkRfc],
  hardware: {
    regions: ualinkHardware.regions.map((r) => ({ ...r })),
    devices: ualinkHardware.devices.map((d) => ({ ...d })),
    switches: ualinkHardware.switches.map((s) => ({ ...s })),
  },
  exporters: [
    {
      name: UALINK_EXPORTER,
      // Under a profile that states no options for it (every built-in
      // one) the exporter takes its defaults.
      driver: (profile) => ualinkExporter({}, profile),
      matrix: { owner: ACCELERATOR, args: { size: 0x20_0000n } },
    },
  ],
  importers: [
    {
      name: UALINK_IMPORTER,
      driver: () => ualinkImporter(),
      matrix: { device: NIC },
    },
  ],
  scenarios: [new URL("./ualink-revoke.yaml", import.meta.url)],
});
