import { boolCodec, recordCodec, stringCodec, u64Codec } from "../encoding/codecs.js";
import * as z from "zod";
import { u64Schema } from "../schemas.js";
import { defineMappingType } from "./define.js";

/**
 * The importer-only `iommu_domain` mapping type of Jason Gunthorpe's Apr 2026
 * converters proposal: the importer names a domain, an IOVA, an offset into
 * the buffer and a size, and dma-buf core maps the exporter's memory into
 * that domain itself.
 *
 * @remarks
 * kernel-model §4.4 (Message-ID `20260422150000.GK3199414@nvidia.com`). Only
 * core sees both `phys_addr_t` and the domain, so the exporter never reveals
 * its physical store and the importer never sees it. Exporters cannot offer
 * it; the PAL->iommu-domain converter reaches it. Xu Yilun notes it does not
 * fit KVM, which exposes no domain.
 * @category Mapping types
 */
export const iommuDomain = defineMappingType({
  id: "iommu-domain",
  name: "IOMMU domain",
  kernelModel: "§4.4",
  summary:
    "core maps the exporter's memory into the importer's iommu_domain; no address is revealed",
  importerOnly: true,
  exporterData: z.object({}),
  importerData: z
    .object({
      /** The importer's `iommu_domain` (an id in the simulated machine). */
      domain: z.string().min(1),
      /** IOVA at which core maps the buffer. */
      iova: u64Schema,
      /** Byte offset into the dma-buf where the mapping starts. */
      offset: u64Schema,
      /** Bytes to map. */
      size: u64Schema,
      /**
       * `IOMMU_READ` for the mapping (iommufd's `IOMMU_IOAS_MAP_READABLE`,
       * kernel-model §3.1); the proposal names no prot, so default on.
       */
      read: z.boolean().default(true),
      /** `IOMMU_WRITE` (`IOMMU_IOAS_MAP_WRITEABLE`); default on. */
      write: z.boolean().default(true),
    })
    // iommu_map() of nothing, or of a range that wraps the IOVA space, is
    // no mapping at all: refused where the accept is read.
    .refine((d) => d.size > 0n, {
      message: "an iommu_domain mapping maps at least one byte (size 0)",
      path: ["size"],
    })
    .refine((d) => d.iova + d.size <= 1n << 64n, {
      message: "iova + size passes 2^64",
      path: ["iova"],
    }),
  payload: z.object({
    /** The domain core mapped into. */
    domain: z.string(),
    /** The IOVA of the first byte. */
    iova: u64Schema,
    /** Bytes mapped. */
    size: u64Schema,
  }),
  importerDataCodec: recordCodec("iommu-domain-accept", {
    domain: stringCodec,
    iova: u64Codec,
    offset: u64Codec,
    size: u64Codec,
    read: boolCodec,
    write: boolCodec,
  }),
  payloadCodec: recordCodec("iommu-domain-payload", {
    domain: stringCodec,
    iova: u64Codec,
    size: u64Codec,
  }),
  describe: (p) => `domain ${p.domain} iova 0x${p.iova.toString(16)}+0x${p.size.toString(16)}`,
});
