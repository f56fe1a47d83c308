import {
  VFIO_DEVICE_FEATURE_GET,
  driverOpsOf,
  encodeDmaBufFeature,
  err,
  fail,
  ok,
  provideSymbol,
  stepOf,
  vfioIommufdMapSymbol,
} from "@dmabuf-ref/core";
import type { ExportStep, Machine, Result, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { vfioAct } from "./act.js";
import { VFIO_ACTION_MODELS, vfioCandidates, vfioPciActionSchema } from "./actions.js";
import { vfioAttach, vfioPin } from "./attach.js";
import { vfioPciConfigSchema } from "./config.js";
import type { VfioPciConfig, VfioPciConfigInput, VfioPciExporter } from "./config.js";
import { vfioExportArgsSchema } from "./export-args.js";
import { featureDmaBuf } from "./feature-dma-buf.js";
import { vfioMap, vfioPrivatePhys, vfioUnmap } from "./map.js";
import { vfioOffers } from "./offers.js";
import { privOf } from "./priv.js";
import { pendingOps } from "./runner.js";
import { VFIO_PCI_SLICES } from "./slices.js";
import { VFIO_IOCTL_MODELS, vfioIoctlActionSchema, vfioIoctlStep } from "./uapi.js";
import { vfioProfileOptions } from "./profile-options.js";

function exportBuf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  owner: string,
  args: unknown,
): Result<ExportStep> {
  const parsed = vfioExportArgsSchema.safeParse(args);
  if (!parsed.success) {
    return err(
      "EINVAL",
      () => `bad vfio-pci export arguments: ${parsed.error.issues[0]?.message ?? ""}`,
    );
  }
  const a = parsed.data;
  const argp =
    "argp" in a
      ? a.argp
      : encodeDmaBufFeature({
          flags: VFIO_DEVICE_FEATURE_GET,
          data: { region_index: a.region_index, open_flags: a.open_flags, flags: a.flags },
          ranges: a.ranges,
        });
  const r = featureDmaBuf(m, w, config, owner, argp, a.process);
  return match(r)
    .returnType<Result<ExportStep>>()
    .with({ status: "failed" }, (x) => fail(x.error))
    .with({ status: "blocked" }, (x) =>
      err("EBUSY", () => `${x.reason} (the kernel sleeps; a core export cannot block)`),
    )
    .with({ status: "done" }, (x) => {
      const fd = x.returned?.ret ?? 0;
      return fd === 0
        ? err("EINVAL", "PROBE creates no dma-buf")
        : ok({ world: x.world, events: x.events, buf: fd });
    })
    .exhaustive();
}

/**
 * The vfio-pci dma-buf exporter (drivers/vfio/pci/vfio_pci_dmabuf.c,
 * kernel-facts §2): PCI BAR MMIO exported as dma-bufs through
 * `VFIO_DEVICE_FEATURE_DMA_BUF`, revoked by FLR, `VFIO_DEVICE_RESET`,
 * `PCI_COMMAND.MEMORY` cleared, hot reset, D3hot and low power, restored at
 * the end of each path iff memory is enabled, and revoked for good on close.
 *
 * @remarks
 * Callbacks per profile: `attach` refuses without P2P, when revoked, and
 * (7.1) when not revocable; `pin` fails in 6.19 and is a no-op in 7.1; `map`
 * refuses when revoked and when not P2P reachable; the offers follow the
 * profile's types (§2.7, §4.3, §4.4); revoke waits for unmaps iff
 * `the vfio-pci option `waitsForUnmap``. Device state, operations and VMAs
 * live in the driver's typed slices (`slices`: devices, operations, VMAs), buffer state
 * in `priv` ({@link VfioDmaBufPriv}). Multi-stage operations advance through
 * `pending` (drive them with core's `runScript`).
 *
 * Close runs `vfio_pci_core_disable()` then `vfio_pci_dma_buf_cleanup()` as
 * in 7.1: in the window between them the BAR is reset while importers still
 * map it, and a device whose IOMMU still translates to the BAR reaches
 * memory that does not decode: the oracle reports `access-after-revoke`,
 * the use-after-reset that Matt Evans' reordering fixes
 * (`closeOrder: "cleanup-then-disable"` models the fix).
 *
 * @param input - the devices and options (validated with zod; a bad config throws).
 * @returns the exporter driver.
 *
 * @example
 * ```ts
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({ profile: linux71, topology, exporters: [vfio], importers });
 * const world = boot(m);
 * ```
 */
export function vfioPciExporter(input: VfioPciConfigInput): VfioPciExporter {
  const config = vfioPciConfigSchema.parse(input);
  return {
    name: config.name,
    vfio: config,
    slices: VFIO_PCI_SLICES,
    export: (m, w, owner, args) => exportBuf(m, w, config, owner, args),
    revokeWaitsForUnmap: (m) => vfioProfileOptions(m.profile).waitsForUnmap,
    offers: (m, w, buf) => vfioOffers(m.profile, privOf(w, buf).provider),
    attach: vfioAttach,
    pin: (m, w) => vfioPin(m, w),
    unpin: (_m, w) => ({ world: w, events: [] }),
    map: vfioMap,
    unmap: vfioUnmap,
    symbols: [provideSymbol(vfioIommufdMapSymbol, vfioPrivatePhys)],
    release: (_m, w) => ({ world: w, events: [] }),
    pending: (m, w) => pendingOps(m, w, config),
    ops: [
      ...driverOpsOf(vfioIoctlActionSchema, VFIO_IOCTL_MODELS, vfioIoctlStep),
      ...driverOpsOf(vfioPciActionSchema, VFIO_ACTION_MODELS, (m, w, action) =>
        stepOf(w, vfioAct(m, w, config, action)),
      ),
    ],
    candidates: () => vfioCandidates(config),
  };
}
