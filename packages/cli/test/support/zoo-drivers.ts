/*
 * The bug zoo's wrong reference drivers as the default machine's drivers
 * would be substituted by them: the seeded faults the explorer tests use.
 */
import { referenceExporter, referenceImporter } from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver } from "@dmabuf-ref/core";
import type { ExporterZooBug, ImporterZooBug } from "@dmabuf-ref/contracts/zoo";

/**
 * A zoo exporter in place of the default machine's reference exporter
 * (`ram0`, with the iommufd selftest hook).
 *
 * @param bug - the zoo entry.
 * @returns its wrong exporter, named `ref-exporter`.
 */
export function wrongExporter(bug: ExporterZooBug): ExporterDriver {
  const wrong = bug.substitute?.(referenceExporter({ region: "ram0", selftestHook: true }));
  if (wrong === undefined) throw new Error(`${bug.id} has no substitute`);
  return wrong;
}

/**
 * A zoo importer in place of the reference importer.
 *
 * @param bug - the zoo entry.
 * @returns its wrong importer, named `ref-importer`.
 */
export function wrongImporter(bug: ImporterZooBug): ImporterDriver {
  const wrong = bug.substitute?.(referenceImporter());
  if (wrong === undefined) throw new Error(`${bug.id} has no substitute`);
  return wrong;
}
