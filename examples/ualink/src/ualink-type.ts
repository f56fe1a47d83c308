/*
 * The UALink mapping type, defined the way any third party would: only
 * `@dmabuf-ref/core`'s public API (`defineMappingType`, its codecs and
 * `kernelError`), no file of core touched.
 */
import {
  arrayCodec,
  boolCodec,
  defineMappingType,
  deviceIdSchema,
  kernelError,
  recordCodec,
  stringCodec,
  u64Codec,
  u64Schema,
} from "@dmabuf-ref/core";
import * as z from "zod";

/** A fabric's name: lower-case words, digits and dashes, e.g. `ual0`. */
const fabricNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, "a fabric name is lower case, digits and dashes");

/**
 * What a UALink exporter states in its offer: the fabric its accelerator's
 * memory is reachable on and the pod (the scale-up domain below one
 * switch tier) it sits in.
 */
export const ualinkExporterDataSchema = z.strictObject({
  /** The UALink fabric the exported memory is reachable on. */
  fabric: fabricNameSchema,
  /** The pod of the exporting accelerator, for traces (a fabric spans its pods). */
  pod: z.number().int().nonnegative(),
});

/**
 * What a UALink importer states in its accept: which of its ports would
 * carry the DMA, the fabric that port is cabled to, and whether its link
 * is up when the attach runs.
 */
export const ualinkImporterDataSchema = z.strictObject({
  /** The importing port: the DMA device that issues fabric addresses. */
  port: deviceIdSchema,
  /** The fabric the port is cabled to. */
  fabric: fabricNameSchema,
  /** The port's link is trained and up (a down port can reach nothing). */
  linkUp: z.boolean(),
});

/** One range of fabric addresses: where the importer's port issues its DMA. */
export const fabricRangeSchema = z.strictObject({
  /** The first fabric address of the range. */
  fabricAddr: u64Schema,
  /** Length in bytes (never 0). */
  length: u64Schema.refine((n) => n > 0n, "a fabric range is at least one byte"),
});

/** What map hands the importer: the buffer as fabric address ranges, in order. */
export const ualinkPayloadSchema = z.strictObject({
  /** The fabric address ranges covering the buffer, in buffer order. */
  ranges: z.array(fabricRangeSchema).min(1, "a mapping covers at least one range"),
});

/** The exporter's offer data (see {@link ualinkExporterDataSchema}). */
export type UalinkExporterData = z.output<typeof ualinkExporterDataSchema>;
/** The importer's accept data (see {@link ualinkImporterDataSchema}). */
export type UalinkImporterData = z.output<typeof ualinkImporterDataSchema>;
/** A mapped UALink payload (see {@link ualinkPayloadSchema}). */
export type UalinkPayload = z.output<typeof ualinkPayloadSchema>;

/**
 * The `ualink` mapping type: the exporter hands the importer fabric
 * addresses its UALink port reaches the accelerator's memory (HBM) by,
 * with no IOMMU of the host in the path; a revoke invalidates them and
 * the importer must unmap, as for any revocable type.
 *
 * @remarks
 * A new `struct dma_buf_mapping_type` (kernel-model §4.1, §4.2) in the
 * shape the Feb 2026 RFC gives every type: per-side match data and a
 * `match()` callback. The match rule:
 * - a port on another fabric is `-EOPNOTSUPP` (skip the pair; a later
 *   offer, e.g. SGT over PCIe, may still match);
 * - a port on the exporter's fabric whose link is down is `-ENODEV`,
 *   which aborts the negotiation: the importer's own path to the memory
 *   is broken, and falling back silently to a slower path would hide it;
 * - otherwise 0.
 *
 * @example
 * ```ts
 * import { negotiate, offer, accept, sgt } from "@dmabuf-ref/core";
 * const r = negotiate(
 *   [offer(ualink, { fabric: "ual0", pod: 0 }), offer(sgt, { requiresP2P: false })],
 *   [accept(ualink, { port: "unic0", fabric: "ual0", linkUp: true }, "ualink-importer")],
 *   ualinkRfc,
 * );
 * // r.ok === true, r.match.type === ualink
 * ```
 */
export const ualink = defineMappingType({
  id: "ualink",
  name: "UALink fabric address ranges",
  kernelModel: "§4.1, §4.2 (a type defined outside core)",
  summary:
    "fabric addresses the importer's UALink port reaches the exporter's accelerator memory by; " +
    "revoke invalidates them and the importer unmaps",
  exporterData: ualinkExporterDataSchema,
  importerData: ualinkImporterDataSchema,
  payload: ualinkPayloadSchema,
  importerDataCodec: recordCodec("ualink-accept", {
    port: stringCodec,
    fabric: stringCodec,
    linkUp: boolCodec,
  }),
  payloadCodec: recordCodec("ualink-payload", {
    ranges: arrayCodec(recordCodec("ualink-range", { fabricAddr: u64Codec, length: u64Codec })),
  }),
  match(_ctx, exp, imp) {
    if (exp.fabric !== imp.fabric)
      return kernelError(
        "EOPNOTSUPP",
        () => `port ${imp.port} is on fabric ${imp.fabric}, the memory on ${exp.fabric}`,
      );
    if (!imp.linkUp) return kernelError("ENODEV", () => `UALink port ${imp.port} is down`);
    return 0;
  },
  describe: (p) =>
    `ualink ${p.ranges.length} range${p.ranges.length === 1 ? "" : "s"}` +
    p.ranges.map((r) => ` 0x${r.fabricAddr.toString(16)}+0x${r.length.toString(16)}`).join(","),
});
