/*
 * Harnesses for drivers shaped like core's reference drivers: an exporter
 * that exports with core's `export` op from `dev0`'s RAM (`ram0`) and
 * revokes with core's `revoke` op, and a dynamic importer with the contract
 * importer's command submission (`submit`) and teardown (`release`). A zoo
 * bug built on a reference driver and its fixed twin run in the same one.
 */
import {
  defineMachine,
  importerHolder,
  referenceExporter,
  referenceTopology,
} from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Op, World } from "@dmabuf-ref/core";
import {
  CONTRACT_IMPORTER,
  attachmentsOf,
  mustStep,
  mustSteps,
  releaseCall,
  submitCall,
} from "@dmabuf-ref/contracts";
import type { ExporterUnderTest, ImporterUnderTest } from "@dmabuf-ref/contracts";

/**
 * An exporter named `ref-exporter` on core's reference machine: the
 * contract importer attaches for `dev1`; a buffer is two pages exported by
 * `dev0` with core's `export` op; the revoke for good is core's `revoke`
 * (what a close of the exporting device does).
 *
 * @param exporter - the exporter under test (default: core's reference exporter on `ram0`).
 * @returns the harness.
 */
export function referenceExporterUnderTest(
  exporter: ExporterDriver = referenceExporter({ region: "ram0" }),
): ExporterUnderTest {
  return {
    driver: exporter.name,
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology: referenceTopology,
        exporters: [exporter],
        importers: [partner],
      }),
    exportBuffer: (m, w) =>
      mustStep(m, w, {
        kind: "export",
        exporter: exporter.name,
        owner: "dev0",
        args: { size: 0x2000n },
      }),
    importingDevice: "dev1",
    revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
  };
}

/** The importer's first attachment to `buf`. */
function firstAttachment(w: World, buf: number): number | undefined {
  return attachmentsOf(w, buf, CONTRACT_IMPORTER)[0];
}

/**
 * A dynamic importer named `ref-importer` (the contract importer's shape,
 * `dynamicImporter` (`@dmabuf-ref/contracts`) or a wrong variant) on core's reference machine:
 * it imports by a dynamic attach for `dev1` and a map under resv; its
 * device accesses the buffer through a job of its command submission
 * (`submit`, then the job's access and signal); it lets go with its
 * `release` op.
 *
 * @param importer - the importer under test, named `ref-importer`.
 * @returns the harness.
 */
export function dynamicImporterUnderTest(importer: ImporterDriver): ImporterUnderTest {
  return {
    driver: importer.name,
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology: referenceTopology,
        exporters: [partner],
        importers: [importer],
      }),
    exportingDevice: "dev0",
    importBuffer: (m, w, buf) => {
      const attached = mustStep(m, w, {
        kind: "attach",
        buf,
        importer: importer.name,
        device: "dev1",
        dynamic: true,
      });
      const att = firstAttachment(attached, buf);
      if (att === undefined) throw new Error(`${importer.name}: attach left no attachment`);
      const holder = importerHolder(importer.name, att);
      const ops: Op[] = [
        { kind: "lock", buf, holder },
        { kind: "map", att, holder },
        { kind: "unlock", buf, holder },
      ];
      return mustSteps(m, attached, ops);
    },
    access: (_m, w, buf, dir) => {
      const att = firstAttachment(w, buf);
      if (att === undefined) return [];
      return [
        submitCall(att, dir),
        (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
        (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
      ];
    },
    release: (_m, w, buf) => attachmentsOf(w, buf, importer.name).map((att) => releaseCall(att)),
    userOps: (_m, w) =>
      [...w.atts.entries()]
        .filter(([, a]) => a.importer === importer.name)
        .flatMap(([att]) => [submitCall(att, "write"), submitCall(att, "read"), releaseCall(att)]),
  };
}
