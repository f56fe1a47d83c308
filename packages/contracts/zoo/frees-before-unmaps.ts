/* The bug zoo: frees-before-unmaps (see the TSDoc of the entry below). */
import * as z from "zod";
import {
  defineDriverOp,
  done,
  failed,
  kernelError,
  refExporterPriv,
  regionNamed,
  setRegionStatus,
} from "@dmabuf-ref/core";
import type { ExporterDriver } from "@dmabuf-ref/core";
import type { ExporterZooBug } from "./zoo-bug.js";
import { referenceExporterUnderTest } from "./harnesses/reference.js";
import { referenceExporterWith } from "./harnesses/reference-exporter-with.js";

/** The exporter: the reference exporter, freeing a buffer's pages as soon as it is revoked for good. */
function freesBeforeUnmapsExporter(selftestHook = false): ExporterDriver {
  return referenceExporterWith(
    { region: "ram0", selftestHook },
    (name) =>
      defineDriverOp({
        name: "free-pages-early",
        models: "the exporter's close path freeing the pages before the wait for unmaps (the bug)",
        schema: z.strictObject({
          /** The revoked buffer. */
          buf: z.number().int().min(0),
        }),
        run: (_m, w, { buf }) => {
          const b = w.bufs.get(buf);
          const priv = b === undefined ? undefined : refExporterPriv(b);
          const found = priv === undefined ? undefined : regionNamed(w, priv.region);
          if (b === undefined || priv === undefined || found === undefined)
            return failed(
              w,
              kernelError("EINVAL", () => `buf ${buf} has no pages of ${name}`),
            );
          return done(setRegionStatus(w, found[0], "freed"), [
            { kind: "region", actor: b.owner, region: priv.region, status: "inaccessible" },
          ]);
        },
      }),
    // Owed once a buffer is revoked for good while its pages are still live.
    (w, name) =>
      [...w.bufs.entries()].flatMap(([id, b]) => {
        if (b.exporter !== name || b.revoked !== "permanent") return [];
        const priv = refExporterPriv(b);
        const found = priv === undefined ? undefined : regionNamed(w, priv.region);
        return found?.[1].status === "live" ? [{ buf: id }] : [];
      }),
  );
}

/**
 * Zoo: an exporter that frees a revoked buffer's memory before every
 * importer unmapped.
 *
 * @remarks
 * Once it has revoked a buffer for good it frees the pages at once, while
 * the revoke still waits for the importers' unmaps, instead of in
 * `ops->release` after the last reference. Broken rule, kernel-facts §1.3
 * (revoke series v7, merged for v7.1): when `dma_buf_invalidate_mappings()`
 * returns, importers may still touch memory; a full stop needs the fences
 * and then each importer's unmap (until then they may read and discard),
 * which is why VFIO waits on its completion (1a8a5227f229, "vfio: Wait for
 * dma-buf invalidation to complete", §2.5 step 5) before the memory may go.
 * A device read in that read-and-discard window reaches freed memory: the
 * use-after-free the oracle calls access-after-revoke.
 */
export const freesBeforeUnmaps: ExporterZooBug = {
  id: "frees-before-unmaps",
  title: "an exporter frees a revoked buffer's memory before every importer unmapped",
  source:
    '1a8a5227f229 "vfio: Wait for dma-buf invalidation to complete"; revoke series v7 ' +
    "cover letter: after invalidate, importers may read until their unmap",
  role: "exporter",
  harness: () => referenceExporterUnderTest(freesBeforeUnmapsExporter()),
  fixed: () => referenceExporterUnderTest(),
  // The original keeps its iommufd selftest hook (it then provides a symbol).
  substitute: (original) => freesBeforeUnmapsExporter(original.symbols !== undefined),
  caughtBy: {
    case: "exporter/revoke-races-dma",
    rule: "no access after the owner reset, disabled or freed the memory",
  },
  scenario: {
    file: "revoke-races-dma-read.yaml",
    expect: "forall: no-violation",
    substituted: true,
  },
};
