/* The bug zoo: remaps-after-revoke (see the TSDoc of the entry below). */
import { dynamicImporter } from "@dmabuf-ref/contracts";
import { importerHolder, owedUnmaps, referenceImporter } from "@dmabuf-ref/core";
import type { ImporterDriver, Op, World } from "@dmabuf-ref/core";
import type { ImporterZooBug } from "./zoo-bug.js";
import { dynamicImporterUnderTest } from "./harnesses/reference.js";

/** The resv holder of the importer's own re-map of one attachment. */
function remapHolder(importer: string, att: number): string {
  return `${importerHolder(importer, att)}, re-map`;
}

/**
 * The next step of the re-map the importer starts by itself for every
 * attachment of its that holds no mapping: lock resv, map, unlock.
 */
function eagerRemaps(w: World, importer: string): Op[] {
  const ops: Op[] = [];
  for (const [att, a] of w.atts.entries()) {
    if (a.importer !== importer) continue;
    const b = w.bufs.get(a.buf);
    if (b === undefined || b.released) continue;
    const holder = remapHolder(importer, att);
    if (b.resvHolder === holder)
      ops.push(
        a.mapping === null ? { kind: "map", att, holder } : { kind: "unlock", buf: a.buf, holder },
      );
    else if (a.mapping === null) ops.push({ kind: "lock", buf: a.buf, holder });
  }
  return ops;
}

/** The importer: the reference importer's owed unmaps, then a re-map of its own. */
function remapsAfterRevokeImporter(): ImporterDriver {
  const name = referenceImporter().name;
  return dynamicImporter({
    pending: (_m, w) => [...owedUnmaps(w, name), ...eagerRemaps(w, name)],
  });
}

/**
 * Zoo: a dynamic importer that re-maps by itself as soon as it unmapped,
 * revoke or not.
 *
 * @remarks
 * It unmaps on `invalidate_mappings` as it must, then its own pending work
 * (a "keep the mapping warm" worker) maps the attachment again without
 * waiting for a job that needs it. After a revoke for good that map can
 * only fail: the exporter refuses with `ENODEV` (VFIO's `map_dma_buf`,
 * kernel-facts §2.3), so work the driver lists as ready fails, which the
 * suites judge as a broken rule. Broken rule, kernel-facts §1.3 (the
 * documented meaning of `dma_buf_invalidate_mappings()` in the revoke
 * series, merged for v7.1): a pinned attachment's invalidate may be a
 * *permanent* revoke and a dynamic importer re-maps only "before any
 * further DMA", i.e. when it has a job to run; the exporter is told of no
 * DMA here, and nothing re-maps by itself (core's reference importer: "It
 * never re-maps by itself").
 */
export const remapsAfterRevoke: ImporterZooBug = {
  id: "remaps-after-revoke",
  title: "a dynamic importer re-maps by itself right after the unmap a revoke asked for",
  source:
    "revoke series v7 (Leon Romanovsky, Jan 2026), dma_buf_invalidate_mappings() kernel-doc: " +
    "re-map before further DMA; a pinned attachment may treat the invalidate as permanent",
  role: "importer",
  harness: () => dynamicImporterUnderTest(remapsAfterRevokeImporter()),
  fixed: () => dynamicImporterUnderTest(dynamicImporter()),
  substitute: () => remapsAfterRevokeImporter(),
  caughtBy: {
    case: "importer/revoke-unmaps",
    rule: "work a driver lists as ready runs and never fails",
  },
  scenario: { file: "revoke-races-map.yaml", expect: "forall: no-violation", substituted: true },
};
