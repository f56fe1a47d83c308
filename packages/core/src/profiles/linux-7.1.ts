import { sgt } from "../mapping-types/sgt.js";
import { vfioIommufdPrivate } from "../mapping-types/vfio-iommufd-private.js";
import { defineProfile } from "./profile.js";

/**
 * linux-7.1: the revoke series queued for 7.1 (Leon Romanovsky, "dma-buf:
 * Use revoke mechanism to invalidate shared buffers").
 *
 * @remarks
 * Encodes kernel-facts §1.3 (`invalidate_mappings`, always move-capable,
 * `dma_buf_attach_revocable()`, the canonical revoke sequence), §2.3–2.5
 * (VFIO pin a no-op, non-revocable attachments refused, revoke waits for
 * unmaps), §2.7 and §3.3 (iommufd pins and uses the private interconnect).
 * No mapping-type negotiation: legacy `map_dma_buf` is the SGT type.
 */
export const linux71 = defineProfile({
  id: "linux-7.1",
  title: "Linux 7.1",
  summary:
    "The 7.1 revoke series: invalidate_mappings, attach_revocable, VFIO pin a no-op and " +
    "non-revocable importers refused, iommufd pins and uses the private interconnect.",
  kernelFacts: ["§1.2", "§1.3", "§2.3", "§2.4", "§2.5", "§2.7", "§3.3"],
  negotiation: "none",
  mappingTypes: [sgt, vfioIommufdPrivate],
  converters: [],
  rules: {
    invalidateCallback: "invalidate_mappings",
    dynamicImportersMoveCapable: true,
    attachRevocable: true,
  },
  drivers: {
    "vfio-pci": { pin: "noop", refusesNonRevocable: true, waitsForUnmap: true, dmabufMmap: false },
    iommufd: { pins: true, releaseUnpinsUnderResv: true, releaseDetachesFirst: true },
    kvm: { dmabufImport: false },
    rdma: { pinnedRevocable: false },
  },
  notes: [
    "Legacy exporters offer [sgt] through map_dma_buf; legacy importers accept [sgt].",
    "VFIO -> iommufd uses vfio_pci_dma_buf_iommufd_map (vfio-iommufd-private).",
    "VFIO refuses attachments that are not dynamic with invalidate_mappings (EOPNOTSUPP).",
    "A non-VFIO dma-buf fails IOMMU_IOAS_MAP_FILE with EOPNOTSUPP.",
  ],
});
