/* The bug zoo: ignores-invalidate (see the TSDoc of the entry below). */
import { dynamicImporter } from "@dmabuf-ref/contracts";
import type { ImporterDriver } from "@dmabuf-ref/core";
import type { ImporterZooBug } from "./zoo-bug.js";
import { dynamicImporterUnderTest } from "./harnesses/reference.js";

/** The importer: the contract importer with the bug. */
function ignoresInvalidateImporter(): ImporterDriver {
  return dynamicImporter({
    submit: { remapsInvalidated: false, underResv: true },
    // The bug: nothing recorded, and no unmap ever owed.
    invalidateMappings: (_m, world) => ({ world, events: [] }),
    pending: () => [],
  });
}

/**
 * Zoo: a dynamic importer that registers `invalidate_mappings` and ignores
 * the call.
 *
 * @remarks
 * It registers the callback, so `dma_buf_attach_revocable()` is true and a
 * revoking exporter (VFIO since v7.1) accepts it; but the callback returns
 * without recording anything, it never unmaps, and its command submission
 * keeps using the old mapping. Broken rule, kernel-facts §1.3 (the revoke
 * series, Leon Romanovsky, "[PATCH v7 0/8] dma-buf: Use revoke mechanism to
 * invalidate shared buffers", merged for v7.1): "importers with the op must
 * unmap in bounded time". The exporter's revoke waits for that unmap
 * without a bound (VFIO's completion since 1a8a5227f229, "vfio: Wait for
 * dma-buf invalidation to complete"), so the revoke never returns. Leon's
 * v4/v5 bounded the wait to 1 s with the WARN "importer has a broken
 * invalidate_mapping()": this is that importer.
 */
export const ignoresInvalidate: ImporterZooBug = {
  id: "ignores-invalidate",
  title: "a dynamic importer registers invalidate_mappings and ignores it (never unmaps)",
  source:
    "revoke series v7 (Leon Romanovsky, Jan 2026): importers with invalidate_mappings must " +
    'unmap in bounded time; v4/v5\'s WARN "importer has a broken invalidate_mapping()"; ' +
    "1a8a5227f229",
  role: "importer",
  harness: () => dynamicImporterUnderTest(ignoresInvalidateImporter()),
  fixed: () => dynamicImporterUnderTest(dynamicImporter()),
  substitute: () => ignoresInvalidateImporter(),
  caughtBy: {
    case: "importer/revoke-unmaps",
    rule: "a revoke completes in bounded steps once every importer unmapped",
  },
  scenario: { file: "revoke-races-map.yaml", expect: "forall: no-deadlock", substituted: true },
};
