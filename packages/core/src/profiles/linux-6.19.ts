import { sgt } from "../mapping-types/sgt.js";
import { vfioIommufdPrivate } from "../mapping-types/vfio-iommufd-private.js";
import { defineProfile } from "./profile.js";

/**
 * linux-6.19: the released kernel with the VFIO dma-buf exporter and the
 * iommufd importer, before the revoke series.
 *
 * @remarks
 * Encodes kernel-facts §1.1–1.2 (CONFIG_DMABUF_MOVE_NOTIFY=n, so pin-on-map
 * applies to dynamic importers too and movable exporters pin), §2.4 (VFIO's
 * `pin` returns `-EOPNOTSUPP`, so every VFIO map that needs a pin fails),
 * §2.7 and §3.3 (iommufd reaches VFIO only through the private interconnect).
 * No mapping-type negotiation.
 */
export const linux619 = defineProfile({
  id: "linux-6.19",
  title: "Linux 6.19",
  summary:
    "Released 6.19: move_notify with CONFIG_DMABUF_MOVE_NOTIFY=n, VFIO's always-failing pin, " +
    "iommufd importing VFIO dma-bufs through the private interconnect. No negotiation.",
  kernelFacts: ["§1.1", "§1.2", "§2.3", "§2.4", "§2.7", "§3.3"],
  negotiation: "none",
  mappingTypes: [sgt, vfioIommufdPrivate],
  converters: [],
  rules: {
    invalidateCallback: "move_notify",
    dynamicImportersMoveCapable: false,
    attachRevocable: false,
  },
  drivers: {
    "vfio-pci": {
      pin: "eopnotsupp",
      refusesNonRevocable: false,
      waitsForUnmap: false,
      dmabufMmap: false,
    },
    iommufd: { pins: false, releaseUnpinsUnderResv: true, releaseDetachesFirst: false },
    kvm: { dmabufImport: false },
    rdma: { pinnedRevocable: false },
  },
  notes: [
    "Legacy exporters offer [sgt] through map_dma_buf; legacy importers accept [sgt].",
    "VFIO -> iommufd uses vfio_pci_dma_buf_iommufd_map (vfio-iommufd-private).",
    "VFIO pin returns EOPNOTSUPP: pinned importers and pin-on-map fail.",
  ],
});
