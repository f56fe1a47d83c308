import { defineDriver } from "@dmabuf-ref/core";
import type { DefinedImporter } from "@dmabuf-ref/core";
import { iommufdAccepts } from "./accepts.js";
import { IOMMUFD_OP_MODELS, iommufdAct, iommufdActionSchema, iommufdCandidates } from "./action.js";
import { iommufdConfigSchema, rememberConfig } from "./config.js";
import type { IommufdConfig } from "./config.js";
import { IOMMUFD } from "./constants.js";
import { iommufdPending, iommufdRevokeNotify } from "./pages-dmabuf.js";
import { IOMMUFD_STATE } from "./objects.js";
import type { IommufdSlices } from "./objects.js";

/**
 * The iommufd importer (drivers/iommu/iommufd, kernel-model §3): the model
 * of `iopt_dmabuf_attach_revoke_ops` (`allow_peer2peer = true`,
 * `invalidate_mappings = iopt_revoke_notify`) plus what iommufd accepts
 * under each profile and its uAPI actions. Register it under the name
 * `"iommufd"`; its state lives in the World's driver slices
 * (`ictx->objects`, the pages, and two small indexes).
 *
 * iommufd is a pinning importer that is revocable: it attaches dynamically
 * with the dummy global device, pins (7.1), takes the physical ranges
 * straight from the exporter, maps them into its own IOMMU domains, and on
 * invalidate unmaps them for good. It never calls `map_dma_buf` (except the
 * RFC's PAL map) and never owes an unmap. Its only `pending` work is the
 * late `dma_buf_detach` of the 6.19.0-7.1.4 release order
 * (`releaseDetachesFirst: false`, see `iommufdPending`).
 *
 * @param config - options (the page sizes of the domains it allocates).
 * @returns the importer driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE,
 *   iommuIoasAlloc, iommuIoasMapFile, boot, referenceExporter, referenceMachine, runScript,
 * } from "@dmabuf-ref/core";
 * import { iommufdImporter } from "@dmabuf-ref/importers";
 *
 * // iommufd's selftest mock exporter, iommufd, and dev0 behind the IOMMU.
 * const mock = referenceExporter({ name: "mock", region: "ram0", selftestHook: true });
 * const m = referenceMachine({ exporters: [mock], importers: [iommufdImporter()] });
 * const iommufd = (action: object) => ({ kind: "driver", driver: "iommufd", action }) as const;
 * const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
 * const run = runScript(m, boot(m), [
 *   { kind: "export", exporter: "mock", owner: "gpu", args: { size: 0x4000n } }, // dma-buf 1
 *   iommufd({ op: "ioctl", number: IOMMU_IOAS_ALLOC,
 *     buffer: iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 }) }),
 *   iommufd({ op: "attach-device", device: "dev0", ioas: 1 }),
 *   iommufd({ op: "ioctl", number: IOMMU_IOAS_MAP_FILE, buffer: iommuIoasMapFile.encode({
 *     size: 40, flags, ioas_id: 1, fd: 1, start: 0n, length: 0x4000n, iova: 0n }) }),
 *   // iopt_alloc_iova aligned the 16 KiB slice to 16 KiB: IOVA 0x4000.
 *   { kind: "dma", device: "dev0", addr: 0x4000n, len: 0x1000n, dir: "write" },
 * ]);
 * assert.ok(run.results.every((r) => r.status === "done"));
 * assert.deepEqual(run.events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : [])), ["ok"]);
 * ```
 * @kernel drivers/iommu/iommufd/pages.c iopt_dmabuf_attach_revoke_ops
 * @category Drivers
 */
export function iommufdImporter(
  config: IommufdConfig = {},
): DefinedImporter<IommufdSlices, typeof iommufdActionSchema> {
  const parsed = iommufdConfigSchema.parse(config);
  const driver = defineDriver({
    role: "importer",
    name: IOMMUFD,
    slices: IOMMUFD_STATE,
    actions: { schema: iommufdActionSchema, models: IOMMUFD_OP_MODELS, run: iommufdAct },
    callbacks: {
      allowPeer2peer: true,
      accepts: iommufdAccepts,
      invalidateMappings: iommufdRevokeNotify,
      pending: iommufdPending,
      candidates: iommufdCandidates,
    },
  });
  rememberConfig(driver, parsed);
  return driver;
}
