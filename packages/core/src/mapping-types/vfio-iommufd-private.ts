import { recordCodec } from "../encoding/codecs.js";
import { physVecCodec } from "../schemas.js";
import * as z from "zod";
import { defineSymbol } from "../machine/symbol.js";
import { physVecSchema } from "../schemas.js";
import { defineMappingType } from "./define.js";

/**
 * Today's private VFIO->iommufd interconnect,
 * `vfio_pci_dma_buf_iommufd_map(attach, *phys)`: iommufd obtains the single
 * physical range of a VFIO dma-buf directly.
 *
 * @remarks
 * kernel-model §2.7 and §3.3. Exported only to "iommufd"; resv held. It
 * fails with `-EOPNOTSUPP` for a foreign exporter or `nr_ranges != 1` and
 * with `-ENODEV` when revoked; those are checks of the phys lookup, not a
 * negotiation, so this type has no `match()` and the VFIO exporter model
 * refuses at that stage. Its guarantee: one MMIO range, and an invalidate
 * means *revoke*, never move. RFC patch 23/26 removes it.
 * @category Mapping types
 */
export const vfioIommufdPrivate = defineMappingType({
  id: "vfio-iommufd-private",
  name: "VFIO to iommufd private interconnect",
  kernelModel: "§2.7, §3.3",
  summary: "one MMIO phys_vec handed straight to iommufd; invalidate means revoke for good",
  exporterData: z.object({}),
  importerData: z.object({}),
  importerModules: ["iommufd"],
  payload: z.object({
    /** The one `phys_vec` copied from the VFIO dma-buf. */
    phys: physVecSchema,
  }),
  importerDataCodec: recordCodec("vfio-iommufd-private-accept", {}),
  payloadCodec: recordCodec("vfio-iommufd-private-payload", { phys: physVecCodec }),
  describe: (p) => `phys 0x${p.phys.paddr.toString(16)}+0x${p.phys.len.toString(16)}`,
});

/**
 * `vfio_pci_dma_buf_iommufd_map(attach, *phys)`, exported to iommufd only:
 * the symbol behind the {@link vfioIommufdPrivate} interconnect. VFIO
 * provides it (and so does the iommufd selftest mock, kernel-model §3.6);
 * iommufd calls it with resv held. Nothing is recorded as mapped.
 *
 * @category Mapping types
 */
export const vfioIommufdMapSymbol = defineSymbol({
  name: "vfio_pci_dma_buf_iommufd_map",
  modules: ["iommufd"],
  result: z.array(physVecSchema).readonly(),
});
