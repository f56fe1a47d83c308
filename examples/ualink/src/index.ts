/**
 * `@dmabuf-ref/example-ualink`: a UALink-style mapping type, an
 * accelerator exporter and a UALink importer defined outside dmabuf-ref,
 * through `@dmabuf-ref/core`'s public API only.
 *
 * @packageDocumentation
 */
export {
  fabricRangeSchema,
  ualink,
  ualinkExporterDataSchema,
  ualinkImporterDataSchema,
  ualinkPayloadSchema,
} from "./ualink-type.js";
export type { UalinkExporterData, UalinkImporterData, UalinkPayload } from "./ualink-type.js";
export { UALINK_EXPORTER, UALINK_IMPORTER, ualinkRfc } from "./profile.js";
export { ualinkExportArgsSchema, ualinkExporter, ualinkExporterOptionsSchema } from "./exporter.js";
export type { UalinkExporterOptions } from "./exporter.js";
export { ualinkImporter, ualinkImporterActionSchema, ualinkJobAddress } from "./importer.js";
export type { UalinkImporterAction, UalinkImporterOptions } from "./importer.js";
export {
  ACCELERATOR,
  FABRIC,
  FABRIC_BASE,
  FAR_NIC,
  FAR_POD_SWITCH,
  HBM,
  HBM_BASE,
  HBM_SIZE,
  NIC,
  OTHER_FABRIC,
  POD,
  POD_SWITCH,
  ualinkHardware,
  ualinkTopology,
} from "./hardware.js";
