import { defineProfile, rfcMappingTypesV1 } from "@dmabuf-ref/core";
import { iovInterconnect } from "./iov-interconnect.js";

/**
 * `rfc-mapping-types-v1-iov`: the Feb 2026 RFC plus the SR-IOV PF/VF
 * interconnect, the case behind motivation (2) of Jason Gunthorpe's RFC
 * (xe vGPU turns its own VF's dma-buf into a PF VRAM address) and Vivek
 * Kasireddy's earlier "IOV interconnect" (kernel-model §4.1).
 *
 * @remarks
 * The profile is made outside core, with core's public `defineProfile`, and
 * lists {@link iovInterconnect}, a type core knows nothing about: this is
 * the extension path of DESIGN §3.1 and §3.4 used end to end. Under it the
 * GPU exporter offers `[iov-interconnect, sgt]` for a VRAM BO of an SR-IOV
 * PF, so the PF or one of its VFs gets VRAM offsets while every other
 * importer falls through to `sgt`. Rules are the RFC's (linux-7.1).
 * @category Profiles
 */
export const rfcMappingTypesV1Iov = defineProfile({
  ...rfcMappingTypesV1,
  id: "rfc-mapping-types-v1-iov",
  title: "Feb 2026 RFC plus the SR-IOV PF/VF interconnect",
  summary:
    "rfc-mapping-types-v1 plus iov-interconnect, a type defined outside core: an SR-IOV GPU " +
    "PF offers [iov-interconnect, sgt] for VRAM, so its VFs get PF VRAM offsets.",
  kernelModel: ["§1.3", "§4.1", "§4.2", "§4.3", "§5.1"],
  mappingTypes: [...rfcMappingTypesV1.mappingTypes, iovInterconnect],
  notes: [
    ...rfcMappingTypesV1.notes,
    "An SR-IOV GPU PF offers iov-interconnect first for VRAM BOs; only the PF and its VFs match.",
  ],
});
