/* The bug zoo: revoked-without-resv (see the TSDoc of the entry below). */
import * as z from "zod";
import { defineDriverOp, done, setRevoked } from "@dmabuf-ref/core";
import type { ExporterDriver } from "@dmabuf-ref/core";
import type { ExporterZooBug } from "./zoo-bug.js";
import { referenceExporterUnderTest } from "./harnesses/reference.js";
import { referenceExporterWith } from "./harnesses/reference-exporter-with.js";

/** The exporter: the reference exporter, writing `revoked` before its revoke takes resv. */
function revokedWithoutResvExporter(selftestHook = false): ExporterDriver {
  return referenceExporterWith(
    { region: "ram0", selftestHook },
    (name) =>
      defineDriverOp({
        name: "mark-revoked-unlocked",
        models: "vfio_pci_dma_buf_move() writing priv->revoked before dma_resv_lock() (the bug)",
        schema: z.strictObject({
          /** The buffer being revoked. */
          buf: z.number().int().min(0),
          /** A revoke for good. */
          permanent: z.boolean(),
        }),
        run: (_m, w, { buf, permanent }) => {
          // The exporter claims the lock; it does not hold it yet.
          const r = setRevoked(w, buf, permanent ? "permanent" : "temporary", name);
          return done(r.world, r.events);
        },
      }),
    // Owed before a revoke's first step (dma_resv_lock) only.
    (w, name) =>
      [...w.tasks.values()].flatMap((t) => {
        const b = w.bufs.get(t.buf);
        const want = t.permanent ? "permanent" : "temporary";
        if (t.kind !== "revoke" || t.pc !== 0 || b?.exporter !== name || b.revoked === want)
          return [];
        return [{ buf: t.buf, permanent: t.permanent }];
      }),
  );
}

/**
 * Zoo: an exporter that flips a buffer's `revoked` flag without holding
 * `dmabuf->resv`.
 *
 * @remarks
 * When its revoke starts it writes `revoked` before `dma_resv_lock()` (a
 * `vfio_pci_dma_buf_move()` that set `priv->revoked` ahead of the lock);
 * the rest of the sequence is core's. Broken rule, kernel-facts §1.3 and
 * §2.5: `revoked` changes only under resv (the canonical sequence of the
 * revoke series cover letter: lock resv, `revoked = true`, invalidate; Matt
 * Evans' invariant in "vfio/pci: Add mmap() for DMABUFs", v4
 * 20260701171245.90111-1-matt@ozlabs.org), so that a map holding resv
 * never sees it change under it. Core's `setRevoked` asserts the lock, as
 * lockdep would.
 */
export const revokedWithoutResv: ExporterZooBug = {
  id: "revoked-without-resv",
  title: "an exporter sets a buffer's revoked state without holding dmabuf->resv",
  source:
    "revoke series v7 cover letter (lock resv, revoked = true, invalidate); Matt Evans, " +
    '"vfio/pci: Add mmap() for DMABUFs" v4: revoked changes only under resv',
  role: "exporter",
  harness: () => referenceExporterUnderTest(revokedWithoutResvExporter()),
  fixed: () => referenceExporterUnderTest(),
  // The original keeps its iommufd selftest hook (it then provides a symbol).
  substitute: (original) => revokedWithoutResvExporter(original.symbols !== undefined),
  caughtBy: {
    case: "exporter/revoke-completes",
    rule: "a dma-buf's revoked state changes only under dmabuf->resv",
  },
  scenario: {
    file: "iommufd-selftest-dmabuf-revoke.yaml",
    expect: "forall: no-violation",
    substituted: true,
  },
};
