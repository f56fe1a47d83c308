import { arrayCodec, boolCodec, oneOfCodec, recordCodec } from "../encoding/codecs.js";
import { physVecCodec } from "../schemas.js";
import * as z from "zod";
import { physVecSchema } from "../schemas.js";
import { defineMappingType } from "./define.js";

/**
 * Cache attribute of a KVM stage-2 / EPT mapping of dma-buf memory.
 * MMIO is never mapped write-back cacheable (kernel-model §5.1).
 *
 * @category Mapping types
 */
export const kvmCacheAttrSchema = z.enum(["uncached", "write-combine", "write-back"]);

/**
 * The `kvm-pfn` mapping type: what KVM needs from an exporter in Xu Yilun's
 * RFC, a `get_pfn(pgoff)` op returning a PFN, the largest mapping order and
 * the cache attribute.
 *
 * @remarks
 * kernel-model §5.1. KVM attaches dynamically with `dev = NULL` and
 * `allow_peer2peer = true`; invalidate zaps the memslot's whole GFN range;
 * a fault that cannot get a PFN (revoked) becomes `-EIO`. The payload is the
 * range list behind `get_pfn` plus the cache attribute; the schema refuses a
 * write-back mapping of MMIO.
 * @category Mapping types
 */
export const kvmPfn = defineMappingType({
  id: "kvm-pfn",
  name: "KVM PFN (get_pfn)",
  kernelModel: "§5.1",
  summary: "get_pfn(pgoff) -> pfn, max order, cache attribute; revoke zaps the memslot",
  exporterData: z.object({
    /** True when the memory is device MMIO (then it must not be cacheable). */
    mmio: z.boolean(),
  }),
  importerData: z.object({}),
  payload: z
    .object({
      /** The ranges `get_pfn` answers from, in buffer order. */
      ranges: z.array(physVecSchema),
      /** True for MMIO. */
      mmio: z.boolean(),
      /** The attribute KVM maps with. */
      cache: kvmCacheAttrSchema,
    })
    .refine((p) => !(p.mmio && p.cache === "write-back"), {
      message: "MMIO is never mapped cacheable",
      path: ["cache"],
    }),
  importerDataCodec: recordCodec("kvm-pfn-accept", {}),
  payloadCodec: recordCodec("kvm-pfn-payload", {
    ranges: arrayCodec(physVecCodec),
    mmio: boolCodec,
    cache: oneOfCodec(kvmCacheAttrSchema.options),
  }),
  describe: (p) => `get_pfn over ${p.ranges.length} range(s), ${p.cache}${p.mmio ? " MMIO" : ""}`,
});
