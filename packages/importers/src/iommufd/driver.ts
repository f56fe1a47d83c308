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
 * const m = defineMachine({
 *   profile: linux71,
 *   topology,
 *   exporters: [vfio],
 *   importers: [iommufdImporter()],
 * });
 * const world = boot(m);
 * ```
 * @kernel drivers/iommu/iommufd/pages.c iopt_dmabuf_attach_revoke_ops
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
