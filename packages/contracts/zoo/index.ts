/**
 * `@dmabuf-ref/contracts/zoo`: the bug zoo, wrong drivers the contract
 * suites must catch. Each entry is a driver the kernel had or discussed
 * that breaks one named rule of the dma-buf contract, in the harness its
 * suite runs it in, with its fixed twin, the case that catches it and,
 * where one exists, the scenario of `rfc/scenarios/` in which the explorer
 * shows it.
 *
 * @example
 * ```ts
 * import { checkImporter } from "@dmabuf-ref/contracts";
 * import { ignoresInvalidate } from "@dmabuf-ref/contracts/zoo";
 *
 * const failed = checkImporter(ignoresInvalidate.harness()).filter(
 *   (r) => r.verdict.status === "fail",
 * );
 * // failed[0].id === "importer/revoke-unmaps"
 * ```
 *
 * @packageDocumentation
 */
import { freesBeforeUnmaps } from "./frees-before-unmaps.js";
import { ignoresInvalidate } from "./ignores-invalidate.js";
import { iommufdDestroysBeforeDetach } from "./iommufd-destroys-before-detach.js";
import { iommufdUnpinsWithoutResv } from "./iommufd-unpins-without-resv.js";
import { krefUnderflow } from "./kref-underflow.js";
import { mapsWithoutResv } from "./maps-without-resv.js";
import { remapsAfterRevoke } from "./remaps-after-revoke.js";
import { revokedWithoutResv } from "./revoked-without-resv.js";
import { type1PfnFishing } from "./type1-pfn-fishing.js";
import { unmapsAfterRevoke } from "./unmaps-after-revoke.js";
import { unrevokeSkipsInvalidate } from "./unrevoke-skips-invalidate.js";
import type { ZooBug } from "./zoo-bug.js";

export type { ExporterZooBug, ImporterZooBug, ZooBug } from "./zoo-bug.js";
export {
  freesBeforeUnmaps,
  ignoresInvalidate,
  iommufdDestroysBeforeDetach,
  iommufdUnpinsWithoutResv,
  krefUnderflow,
  mapsWithoutResv,
  remapsAfterRevoke,
  revokedWithoutResv,
  type1PfnFishing,
  unmapsAfterRevoke,
  unrevokeSkipsInvalidate,
};
export { exporterWithOptions, importerWithOptions } from "./harnesses/driver-options.js";
export { dynamicImporterUnderTest, referenceExporterUnderTest } from "./harnesses/reference.js";
export {
  VFIO0_BAR0,
  VFIO_HARNESS_TOPOLOGY,
  VFIO_PCI,
  harnessVfioPci,
  vfioExportOp,
  vfioPciUnderTest,
} from "./harnesses/vfio-pci.js";
export { IOMMUFD_HARNESS_IOVA, iommufdUnderTest } from "./harnesses/iommufd.js";

/**
 * Every zoo entry, in the order of the list
 * (issue 13, item 4). Ids are unique and stable.
 */
export const ZOO: readonly ZooBug[] = [
  ignoresInvalidate,
  unmapsAfterRevoke,
  remapsAfterRevoke,
  type1PfnFishing,
  freesBeforeUnmaps,
  revokedWithoutResv,
  mapsWithoutResv,
  krefUnderflow,
  iommufdUnpinsWithoutResv,
  iommufdDestroysBeforeDetach,
  unrevokeSkipsInvalidate,
];
