/* The bug zoo: iommufd-destroys-before-detach (see the TSDoc of the entry below). */
import { iommufdImporter } from "@dmabuf-ref/importers";
import type { ImporterZooBug } from "./zoo-bug.js";
import { importerWithOptions } from "./harnesses/driver-options.js";
import { iommufdUnderTest } from "./harnesses/iommufd.js";

/**
 * Zoo: iommufd's release destroys its pages state before it detaches from
 * the dma-buf (6.19.0-7.1.4).
 *
 * @remarks
 * `iopt_release_pages` destroyed `pages->mutex` and the rest of the pages
 * state before `dma_buf_detach()`, while the exporter could still call
 * `iopt_revoke_notify` (iommufd's `invalidate_mappings`), which takes that
 * mutex: a revoke racing the release used destroyed state. Broken rule:
 * an importer's state lives until it detached (release order: unpin,
 * detach, put, then destroy; kernel-facts §3.3). Fixed by f2d70dbd3dce
 * (v7.2, 7.1.5 as 0507fcedbdcc; CVE-2026-74328, OSV range 6.19.0 to
 * before 7.1.5). The wrong driver is iommufd with
 * `releaseDetachesFirst: false` while the profile in force is linux-7.1.
 */
export const iommufdDestroysBeforeDetach: ImporterZooBug = {
  id: "iommufd-destroys-before-detach",
  title: "iommufd's release destroys its pages state before dma_buf_detach",
  source: "f2d70dbd3dce (7.1.5 0507fcedbdcc), CVE-2026-74328",
  role: "importer",
  harness: () =>
    iommufdUnderTest(
      importerWithOptions(iommufdImporter(), "iommufd", { releaseDetachesFirst: false }),
    ),
  fixed: () => iommufdUnderTest(iommufdImporter()),
  substitute: (original) =>
    importerWithOptions(original, "iommufd", { releaseDetachesFirst: false }),
  caughtBy: { case: "importer/release-races-revoke", rule: "pages->mutex" },
  scenario: {
    file: "iommufd-release-without-resv.yaml",
    expect: "forall: no-violation",
    substituted: true,
  },
};
