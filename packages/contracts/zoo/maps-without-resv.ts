/* The bug zoo: maps-without-resv (see the TSDoc of the entry below). */
import { dynamicImporter } from "@dmabuf-ref/contracts";
import type { ImporterDriver } from "@dmabuf-ref/core";
import type { ImporterZooBug } from "./zoo-bug.js";
import { dynamicImporterUnderTest } from "./harnesses/reference.js";

/** The importer: the contract importer with the bug. */
function mapsWithoutResvImporter(): ImporterDriver {
  return dynamicImporter({ submit: { remapsInvalidated: true, underResv: false } });
}

/**
 * Zoo: a dynamic importer whose command submission maps and adds its fence
 * without holding `dmabuf->resv`.
 *
 * @remarks
 * `dma_buf_map_attachment()` asserts the reservation lock
 * (`dma_resv_assert_held`), and `dma_resv_add_fence()` needs it too: the
 * lock is what orders a map against the exporter's revoke, which sets
 * `revoked` and invalidates under the same lock. Broken rule,
 * kernel-facts §1.2: "dynamic importers must hold resv when mapping, so no
 * map can race a move or revoke" (Christian König's dynamic dma-buf
 * rules, `dma_buf_map_attachment()` vs `dma_buf_map_attachment_unlocked()`,
 * the latter only for static importers). The oracle flags the unlocked
 * call as lockdep would.
 */
export const mapsWithoutResv: ImporterZooBug = {
  id: "maps-without-resv",
  title: "a dynamic importer's command submission maps and fences without holding dmabuf->resv",
  source:
    "dma_buf_map_attachment() asserts dmabuf->resv (dynamic importers lock, static ones use " +
    "the _unlocked variant; Christian König's dynamic dma-buf locking rules)",
  role: "importer",
  harness: () => dynamicImporterUnderTest(mapsWithoutResvImporter()),
  fixed: () => dynamicImporterUnderTest(dynamicImporter()),
  substitute: () => mapsWithoutResvImporter(),
  caughtBy: { case: "importer/lifetime", rule: "dma_resv_add_fence() holds dmabuf->resv" },
  scenario: {
    file: "move-races-fenced-dma.yaml",
    expect: "forall: no-violation",
    substituted: true,
  },
};
