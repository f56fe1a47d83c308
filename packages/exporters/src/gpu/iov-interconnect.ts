import { arrayCodec, nullableCodec, recordCodec, stringCodec, u64Codec } from "@dmabuf-ref/core";
import * as z from "zod";
import { defineMappingType, deviceIdSchema, kernelError, u64Schema } from "@dmabuf-ref/core";

/**
 * The IOV interconnect mapping type: an SR-IOV PF resolves a dma-buf
 * exported from its own VRAM (for one of its VFs) to VRAM offsets, passed as
 * `struct range`s (kernel-model §4.1: Vivek Kasireddy's "IOV interconnect"
 * between a PF and its VFs, users vfio-pci and xe; motivation (2) of Jason
 * Gunthorpe's RFC).
 *
 * @remarks
 * Defined only through core's public `defineMappingType`, which proves the
 * extension path of DESIGN §3.1: core has no knowledge of it. No built-in
 * profile lists it yet; a profile made with core's `defineProfile` that
 * lists this very object (types compare by identity) makes the GPU exporter
 * offer it. The match succeeds only for the PF itself or one of its VFs;
 * any other importer is `-EOPNOTSUPP` (skip).
 * @category Drivers
 */
export const iovInterconnect = defineMappingType({
  id: "iov-interconnect",
  name: "SR-IOV PF/VF interconnect",
  kernelModel: "§4.1",
  summary: "VRAM offsets of the PF for its own VFs' dma-bufs; a move or revoke invalidates them",
  exporterData: z.object({
    /** The physical function whose VRAM backs the buffer. */
    pf: deviceIdSchema,
    /** Its virtual functions. */
    vfs: z.array(deviceIdSchema),
  }),
  importerData: z.object({
    /** The importing function (the PF or one of its VFs). */
    device: deviceIdSchema.nullable(),
  }),
  payload: z.object({
    /** The PF owning the VRAM. */
    pf: deviceIdSchema,
    /** `struct range` entries: inclusive VRAM offsets. */
    ranges: z.array(
      z.object({
        /** First VRAM offset. */
        start: u64Schema,
        /** Last VRAM offset (inclusive, as `struct range`). */
        end: u64Schema,
      }),
    ),
  }),
  importerDataCodec: recordCodec("iov-interconnect-accept", { device: nullableCodec(stringCodec) }),
  payloadCodec: recordCodec("iov-interconnect-payload", {
    pf: stringCodec,
    ranges: arrayCodec(recordCodec("vram-range", { start: u64Codec, end: u64Codec })),
  }),
  match(_ctx, exp, imp) {
    if (imp.device !== null && (imp.device === exp.pf || exp.vfs.includes(imp.device))) return 0;
    return kernelError(
      "EOPNOTSUPP",
      () => `${imp.device ?? "no device"} is not ${exp.pf} or one of its VFs`,
    );
  },
  describe: (p) =>
    `iov ${p.pf}` +
    p.ranges.map((r) => ` [0x${r.start.toString(16)}, 0x${r.end.toString(16)}]`).join(","),
});
