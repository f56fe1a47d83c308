import { sgt } from "../mapping-types/sgt.js";
import { vfioIommufdPrivate } from "../mapping-types/vfio-iommufd-private.js";
import { defineProfile } from "./profile.js";

/**
 * linux-6.19: the released kernel with the VFIO dma-buf exporter and the
 * iommufd importer, before the revoke series.
 *
 * @remarks
 * Encodes kernel-model §1.1–1.2 (CONFIG_DMABUF_MOVE_NOTIFY=n, so pin-on-map
 * applies to dynamic importers too and movable exporters pin), §2.4 (VFIO's
 * `pin` returns `-EOPNOTSUPP`, so every VFIO map that needs a pin fails),
 * §2.7 and §3.3 (iommufd reaches VFIO only through the private interconnect).
 * No mapping-type negotiation. Close disables the function before it
 * revokes the dma-bufs (the order d97708701434 reversed; 6.19.x and
 * 7.0.0–7.0.9 keep it), the export does not check that the BAR's resources
 * were claimed (702809dabdec), and iommufd destroys its pages state before
 * `dma_buf_detach` (f2d70dbd3dce not applied).
 * @category Profiles
 */
export const linux619 = defineProfile({
  id: "linux-6.19",
  title: "Linux 6.19 (and 7.0.0-7.0.9)",
  summary:
    "Released 6.19: move_notify with CONFIG_DMABUF_MOVE_NOTIFY=n, VFIO's always-failing pin, " +
    "iommufd importing VFIO dma-bufs through the private interconnect. No negotiation. " +
    "Close disables the function before it revokes the dma-bufs.",
  kernelModel: ["§1.1", "§1.2", "§2.3", "§2.4", "§2.7", "§3.3"],
  commits: [],
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
      // 6.19.x and 7.0.0-7.0.9 disable the function before the dma-buf cleanup.
      closeOrder: "disable-then-cleanup",
      // No kref at all before 1a8a5227f229: nothing can underflow.
      krefRearm: true,
      // 702809dabdec came in 7.1 (7.0.11 by backport): no BAR resource check.
      barResourceCheck: false,
      userRevoke: false,
      memattr: false,
      unrevokeInvalidates: true,
    },
    iommufd: { pins: false, releaseUnpinsUnderResv: true, releaseDetachesFirst: false },
    kvm: { dmabufImport: false },
    rdma: { pinnedRevocable: false },
  },
  notes: [
    "Legacy exporters offer [sgt] through map_dma_buf; legacy importers accept [sgt].",
    "VFIO -> iommufd uses vfio_pci_dma_buf_iommufd_map (vfio-iommufd-private).",
    "VFIO pin returns EOPNOTSUPP: pinned importers and pin-on-map fail.",
    "Close: vfio_pci_core_disable() first, then the dma-buf cleanup (a window with MSE off).",
    "Export does not check that the BAR's resources were claimed.",
  ],
});
