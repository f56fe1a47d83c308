import { kvmPfn } from "../mapping-types/kvm-pfn.js";
import { pal } from "../mapping-types/pal.js";
import { sgt } from "../mapping-types/sgt.js";
import { defineProfile } from "./profile.js";
import { linux71 } from "./linux-7.1.js";

/**
 * rfc-mapping-types-v1: linux-7.1 plus Jason Gunthorpe's Feb 2026 RFC
 * "DMA-buf mapping types" (26 patches) and Xu Yilun's KVM dma-buf import.
 *
 * @remarks
 * Encodes kernel-model §4.2 (the negotiation), §4.3 (SGT, PAL; VFIO offers
 * [PAL, SGT_P2P]; iommufd accepts [PAL]; the private VFIO symbol is removed)
 * and §5.1 (KVM import, RFC). Rules otherwise as {@link linux71}.
 * @category Profiles
 */
export const rfcMappingTypesV1 = defineProfile({
  id: "rfc-mapping-types-v1",
  title: "Feb 2026 RFC: DMA-buf mapping types",
  summary:
    "linux-7.1 rules plus the mapping-type negotiation: VFIO offers [pal, sgt(P2P)], iommufd " +
    "accepts [pal], the private interconnect is gone; KVM import from Xu Yilun's RFC.",
  kernelModel: ["§1.3", "§4.2", "§4.3", "§5.1"],
  commits: linux71.commits,
  negotiation: "mapping-types",
  mappingTypes: [sgt, pal, kvmPfn],
  converters: [],
  rules: linux71.rules,
  drivers: { ...linux71.drivers, kvm: { dmabufImport: true } },
  notes: [
    "VFIO offers [pal, sgt (requires P2P)]; match_mapping returns ENODEV once vdev is NULL.",
    "iommufd accepts [pal] only: an exporter without PAL fails the attach with EINVAL.",
    "Only VFIO and the iommufd selftest mock offer pal.",
  ],
});
