import {
  defineDriver,
  driverOpsOf,
  encodeDmaBufFeature,
  err,
  fail,
  ok,
  provideSymbol,
  VFIO_DEVICE_FEATURE_GET,
  vfioIommufdMapSymbol,
} from "@dmabuf-ref/core";
import type { DefinedDriver, ExportStep, Machine, Result, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { vfioActStep } from "./act.js";
import { VFIO_ACTION_MODELS, vfioCandidates, vfioPciActionSchema } from "./actions.js";
import { vfioPciConfigSchema } from "./config.js";
import type { VfioPciConfig, VfioPciConfigInput, VfioPciExporter } from "./config.js";
import { vfioExportArgsSchema } from "./export-args.js";
import { vfioOffers } from "./offers.js";
import { vfioDevicesSlice, vfioOpsSlice, vfioVmasSlice } from "./slices.js";
import type { VfioOpQueue, VfioVmaSpace } from "./slices.js";
import type { SliceDef } from "@dmabuf-ref/core";
import type { PTable } from "@dmabuf-ref/core/encoding";
import type { VfioDeviceState } from "./state.js";
import { vfioProfileOptions } from "./profile-options.js";
import { VFIO_IOCTL_MODELS, vfioIoctlActionSchema, vfioIoctlStep } from "./vfio_main.js";
import { pendingOps } from "./vfio_pci_core.js";
import { featureDmaBuf, privOf } from "./vfio_pci_dmabuf.js";
import { mmapChecks } from "./vfio_pci_dmabuf_mmap.js";
import { vfioAttach, vfioMap, vfioPin, vfioPrivatePhys, vfioUnmap } from "./vfio_pci_dmabuf_ops.js";

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
 * The vfio-pci driver's slices by name: devices, `memory_lock` operations, VMAs.
 *
 * @category Drivers
 */
// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
export type VfioPciSlices = {
  /** Per-device state (`struct vfio_pci_core_device`). */
  readonly devices: SliceDef<PTable<VfioDeviceState>>;
  /** The operations holding or waiting for `memory_lock`. */
  readonly operations: SliceDef<VfioOpQueue>;
  /** The CPU mappings of the driver's dma-bufs. */
  readonly vmas: SliceDef<VfioVmaSpace>;
};

/**
 * The vfio-pci dma-buf exporter (drivers/vfio/pci/vfio_pci_dmabuf.c,
 * kernel-model §2): PCI BAR MMIO exported as dma-bufs through
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
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   encodeDmaBufFeature,
 *   linux71,
 *   referenceTopology,
 *   topologySchema,
 *   VFIO_DEVICE_FEATURE_GET,
 * } from "@dmabuf-ref/core";
 * import {
 *   O_CLOEXEC,
 *   O_RDWR,
 *   vfioDeviceFeatureIoctl,
 *   vfioPciExporter,
 * } from "@dmabuf-ref/exporters";
 *
 * // vfio0 and its BAR 0 (16 MiB of MMIO at 256 GiB), added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "vfio0.bar0", kind: "bar", base: 0x4000000000n, size: 0x1000000n, device: "vfio0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "vfio0", switch: "sw0" }],
 * });
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({ profile: linux71, topology, exporters: [vfio], importers: [] });
 * const argp = encodeDmaBufFeature({
 *   flags: VFIO_DEVICE_FEATURE_GET,
 *   data: { region_index: 0, open_flags: O_RDWR | O_CLOEXEC, flags: 0 },
 *   ranges: [{ offset: 0x10000n, length: 0x10000n }],
 * });
 * const r = vfioDeviceFeatureIoctl(m, boot(m), "vfio0", argp);
 * assert.equal(r.status, "done");
 * // The new dma-buf's fd, which the model makes its id.
 * assert.equal(r.status === "done" ? r.returned?.ret : undefined, 1);
 * ```
 * @category Drivers
 */
export function vfioPciExporter(
  input: VfioPciConfigInput,
): VfioPciExporter & DefinedDriver<VfioPciSlices, typeof vfioPciActionSchema> {
  const config = vfioPciConfigSchema.parse(input);
  const driver = defineDriver({
    role: "exporter",
    name: config.name,
    slices: { devices: vfioDevicesSlice, operations: vfioOpsSlice, vmas: vfioVmasSlice },
    actions: {
      schema: vfioPciActionSchema,
      models: VFIO_ACTION_MODELS,
      run: (m, w, action) => vfioActStep(m, w, config, action),
    },
    // The device fd's ioctls: a union of their own, beside the events.
    ops: driverOpsOf(vfioIoctlActionSchema, VFIO_IOCTL_MODELS, vfioIoctlStep),
    callbacks: {
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
      // vfio_pci_core_mmap: only a BAR the function implements can be
      // mmapped (bar_mmap_supported); an empty BAR is EINVAL.
      mmapRegion: (_m, _w, device, index) => {
        const dev = config.devices.find((d) => d.id === device);
        if (dev === undefined) return undefined;
        const bar = dev.bars.find((b) => b.index === index);
        if (bar === undefined || bar.claimed === "ENODEV") {
          return err("EINVAL", () => `${device}: BAR ${index} is not implemented: no mmap`);
        }
        return ok(bar.region);
      },
      mmap: (m, w, buf, req) => {
        const r = mmapChecks(m, w, config, {
          process: req.process,
          buf,
          offset: req.offset,
          length: req.length,
          shared: true,
        });
        return r.ok ? ok(undefined) : r;
      },
      pending: (m, w) => pendingOps(m, w, config),
      candidates: () => vfioCandidates(config),
    },
  });
  return Object.freeze({ ...driver, vfio: config });
}
