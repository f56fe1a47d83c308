/* The bug zoo: iommufd-unpins-without-resv (see the TSDoc of the entry below). */
import { iommufdImporter } from "@dmabuf-ref/importers";
import type { ImporterZooBug } from "./zoo-bug.js";
import { importerWithOptions } from "./harnesses/driver-options.js";
import { iommufdUnderTest } from "./harnesses/iommufd.js";

/**
 * Zoo: iommufd's release unpins a dma-buf without holding
 * `dmabuf->resv` (v7.1.0-7.1.4).
 *
 * @remarks
 * Since 8c5f9645c389 "iommufd: Add dma_buf_pin()" (v7.1) iommufd pins the
 * dma-bufs it maps, and `dma_buf_unpin()` asserts the reservation lock. Its
 * release path (`iopt_release_pages`, on IOMMU_IOAS_UNMAP or the IOAS's
 * destroy of the last area of a dma-buf) called `dma_buf_unpin()` without
 * it: every such unmap WARNed, and nothing ordered the unpin against an
 * exporter's revoke. Broken rule: `dma_buf_unpin()` holds `dmabuf->resv`
 * (kernel-facts §1.2, §3.3). Fixed by e745cd2c749e (v7.2, 7.1.5 as
 * cc69d0332421; CVE-2026-80633, Fixes 8c5f9645c389). The wrong driver is
 * iommufd with `releaseUnpinsUnderResv: false` while the profile in force
 * is linux-7.1.
 */
export const iommufdUnpinsWithoutResv: ImporterZooBug = {
  id: "iommufd-unpins-without-resv",
  title: "iommufd's release unpins a dma-buf without holding dmabuf->resv",
  source: "e745cd2c749e (Fixes 8c5f9645c389; 7.1.5 cc69d0332421), CVE-2026-80633",
  role: "importer",
  harness: () =>
    iommufdUnderTest(
      importerWithOptions(iommufdImporter(), "iommufd", { releaseUnpinsUnderResv: false }),
    ),
  fixed: () => iommufdUnderTest(iommufdImporter()),
  substitute: (original) =>
    importerWithOptions(original, "iommufd", { releaseUnpinsUnderResv: false }),
  caughtBy: { case: "importer/lifetime", rule: "dma_buf_unpin" },
  scenario: {
    file: "iommufd-release-without-resv.yaml",
    expect: "forall: no-violation",
    substituted: true,
  },
};
