/* The bug zoo: unmaps-after-revoke (see the TSDoc of the entry below). */
import { dynamicImporter } from "@dmabuf-ref/contracts";
import { owedUnmaps, referenceImporter } from "@dmabuf-ref/core";
import type { Op, World } from "@dmabuf-ref/core";
import type { ImporterZooBug } from "./zoo-bug.js";
import { dynamicImporterUnderTest } from "./harnesses/reference.js";

/** The dma-buf an owed-unmap step (lock, unmap, unlock) works on. */
function bufOf(w: World, op: Op): number | undefined {
  if (op.kind === "lock" || op.kind === "unlock") return op.buf;
  if (op.kind === "unmap") return w.atts.get(op.att)?.buf;
  return undefined;
}

/** The importer: the reference importer's owed unmap, held back while a revoke runs. */
function unmapsAfterRevokeImporter(): ReturnType<typeof dynamicImporter> {
  const name = referenceImporter().name;
  return dynamicImporter({
    submit: { remapsInvalidated: false, underResv: true },
    // The bug: the owed unmap waits until no revoke or un-revoke task is
    // left on the buffer, i.e. until the revoke returned.
    pending: (_m, w) =>
      owedUnmaps(w, name).filter((op) => {
        const buf = bufOf(w, op);
        return buf !== undefined && (w.bufs.get(buf)?.task ?? null) === null;
      }),
  });
}

/**
 * Zoo: a dynamic importer that unmaps lazily, only after the exporter's
 * revoke returned.
 *
 * @remarks
 * It treats `invalidate_mappings` as a hint and cleans up "later": the
 * unmap it owes waits until no revoke runs on the buffer, and until then
 * its command submission keeps using the mapping. Broken rule,
 * kernel-facts §1.3 (revoke series v7, merged for v7.1): the revoke is
 * complete only once every mapping is unmapped, and the canonical exporter
 * sequence ends by waiting for exactly that (VFIO's completion,
 * 1a8a5227f229, without a bound since v6 of the series because
 * `dma_buf_attach_revocable()` promises a bounded unmap). An importer that
 * waits for the revoke to return waits for itself: the revoke never
 * returns.
 */
export const unmapsAfterRevoke: ImporterZooBug = {
  id: "unmaps-after-revoke",
  title: "a dynamic importer defers the unmap it owes until the exporter's revoke returned",
  source:
    "revoke series v7 (Leon Romanovsky, Jan 2026): the revoke completes once every importer " +
    'unmapped; 1a8a5227f229 "vfio: Wait for dma-buf invalidation to complete"',
  role: "importer",
  harness: () => dynamicImporterUnderTest(unmapsAfterRevokeImporter()),
  fixed: () => dynamicImporterUnderTest(dynamicImporter()),
  substitute: () => unmapsAfterRevokeImporter(),
  caughtBy: {
    case: "importer/revoke-unmaps",
    rule: "a revoke completes in bounded steps once every importer unmapped",
  },
  scenario: { file: "revoke-races-map.yaml", expect: "forall: no-deadlock", substituted: true },
};
