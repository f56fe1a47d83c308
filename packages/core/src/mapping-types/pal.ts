import { arrayCodec, recordCodec } from "../encoding/codecs.js";
import { physVecCodec } from "../schemas.js";
import * as z from "zod";
import { deviceIdSchema, physVecSchema } from "../schemas.js";
import { defineMappingType } from "./define.js";

/**
 * The PAL mapping type, "Physical Address List": the exporter hands over a
 * `struct dma_buf_phys_list` of `phys_vec` entries, all MMIO.
 *
 * @remarks
 * kernel-model §4.3 (RFC patch 21) and §4.4. PAL has no `match()`; its map
 * helper `dma_buf_pal_map_phys` is exported only to "iommufd", which the
 * model states as an importer allow-list. Christian König called it "a
 * pretty big NO-GO" (importers see physical addresses), so profiles include
 * or exclude it. The optional `provider` is the p2pdma provider that the
 * PAL->SGT converter of the Apr 2026 proposal needs.
 * @category Mapping types
 */
export const pal = defineMappingType({
  id: "pal",
  name: "Physical Address List",
  kernelModel: "§4.3, §4.4",
  summary: "CPU physical addresses of MMIO; the importer maps them itself and must stop on revoke",
  exporterData: z.object({
    /** The p2pdma provider of the MMIO, used only by the PAL->SGT converter. */
    provider: deviceIdSchema.optional(),
  }),
  importerData: z.object({}),
  importerModules: ["iommufd"],
  payload: z.object({
    /** `phys[length]` of `struct dma_buf_phys_list`. */
    phys: z.array(physVecSchema),
  }),
  importerDataCodec: recordCodec("pal-accept", {}),
  payloadCodec: recordCodec("pal-payload", { phys: arrayCodec(physVecCodec) }),
  describe: (p) =>
    `pal ${p.phys.length} range${p.phys.length === 1 ? "" : "s"}` +
    p.phys.map((v) => ` 0x${v.paddr.toString(16)}+0x${v.len.toString(16)}`).join(","),
});
