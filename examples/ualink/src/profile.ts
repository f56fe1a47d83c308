/*
 * The profile under which the UALink type exists: mainline v7.1's
 * revoke rules with the mapping-type negotiation turned on.
 */
import { defineProfile, linux71 } from "@dmabuf-ref/core";
import { ualink } from "./ualink-type.js";

/** The exporter's name in every machine (the key of its profile options). */
export const UALINK_EXPORTER = "ualink-exporter";
/** The importer's name in every machine (also the module its accepts name). */
export const UALINK_IMPORTER = "ualink-importer";

/**
 * `ualink-rfc`: linux-7.1 (its rules, its drivers' options) plus the
 * mapping-type negotiation of the Feb 2026 RFC, with the `ualink` type
 * first and linux-7.1's types (SGT, VFIO's private interconnect) after,
 * so the built-in drivers behave as under linux-7.1.
 *
 * @remarks
 * The profile states the example exporter's options
 * (`ualink-exporter.waitsForUnmap`: its revoke waits for every importer's
 * unmap, as VFIO's does since v7.1), the way a profile states VFIO's.
 */
export const ualinkRfc = defineProfile({
  ...linux71,
  id: "ualink-rfc",
  title: "Linux 7.1 with mapping types and a UALink type",
  summary:
    "linux-7.1 plus the mapping-type negotiation, with a UALink fabric-address type defined " +
    "outside core: accelerators offer [ualink, sgt], UALink ports accept [ualink, sgt].",
  kernelModel: [...linux71.kernelModel, "§4.1", "§4.2"],
  negotiation: "mapping-types",
  mappingTypes: [ualink, ...linux71.mappingTypes],
  converters: [],
  drivers: {
    ...linux71.drivers,
    [UALINK_EXPORTER]: { waitsForUnmap: true },
  },
  notes: [
    ...linux71.notes,
    "The UALink exporter offers [ualink, sgt(P2P)]; a port on another fabric skips ualink " +
      "(EOPNOTSUPP), a port whose link is down aborts the attach (ENODEV).",
  ],
});
