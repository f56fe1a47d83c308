import { sgt } from "../mapping-types/sgt.js";
import { vfioIommufdPrivate } from "../mapping-types/vfio-iommufd-private.js";
import { defineProfile } from "./profile.js";

/**
 * The commits of v7.1.0 the model distinguishes: the revoke series' VFIO
 * wait (1a8a5227f229) and iommufd pin (8c5f9645c389), the kref re-arm
 * (c64a647c84f3), cleanup before disable on close (d97708701434) and the
 * BAR resource check before an export (702809dabdec, 05f2a68b407a).
 */
const V71_0_COMMITS = [
  "1a8a5227f229",
  "8c5f9645c389",
  "c64a647c84f3",
  "d97708701434",
  "702809dabdec",
  "05f2a68b407a",
] as const;

/** vfio-pci as v7.1.0 has it (and 7.1.5+, 7.2: no later VFIO change the model sees). */
const VFIO_71 = {
  pin: "noop",
  refusesNonRevocable: true,
  waitsForUnmap: true,
  dmabufMmap: false,
  closeOrder: "cleanup-then-disable",
  krefRearm: true,
  barResourceCheck: true,
  userRevoke: false,
  memattr: false,
  unrevokeInvalidates: true,
} as const;

/**
 * linux-7.1 = 7.1.5 and later: the revoke series (Leon Romanovsky,
 * "dma-buf: Use revoke mechanism to invalidate shared buffers") with the
 * fixes that reached 7.1 and its stable updates.
 *
 * @remarks
 * Encodes kernel-model §1.3 (`invalidate_mappings`, always move-capable,
 * `dma_buf_attach_revocable()`, the canonical revoke sequence), §2.3–2.5
 * (VFIO pin a no-op, non-revocable attachments refused, revoke waits for
 * unmaps and re-arms the kref at its end, c64a647c84f3; close cleans up
 * the dma-bufs before it disables the function, d97708701434; the export
 * checks the BAR's claimed resources first, 702809dabdec and
 * 05f2a68b407a), §2.7 and §3.3 (iommufd pins, unpins under resv and
 * detaches before it destroys its pages state: e745cd2c749e,
 * f2d70dbd3dce, in 7.1.5 by backport). No mapping-type negotiation:
 * legacy `map_dma_buf` is the SGT type.
 * @category Profiles
 */
export const linux71 = defineProfile({
  id: "linux-7.1",
  title: "Linux 7.1.5 and later",
  summary:
    "The 7.1 revoke series: invalidate_mappings, attach_revocable, VFIO pin a no-op and " +
    "non-revocable importers refused, iommufd pins and uses the private interconnect; " +
    "close cleans up before it disables, BARs checked before export, iommufd release fixed.",
  kernelModel: ["§1.2", "§1.3", "§2.2", "§2.3", "§2.4", "§2.5", "§2.7", "§3.3", "§8.1"],
  commits: [...V71_0_COMMITS, "e745cd2c749e", "f2d70dbd3dce"],
  negotiation: "none",
  mappingTypes: [sgt, vfioIommufdPrivate],
  converters: [],
  rules: {
    invalidateCallback: "invalidate_mappings",
    dynamicImportersMoveCapable: true,
    attachRevocable: true,
  },
  drivers: {
    "vfio-pci": VFIO_71,
    iommufd: { pins: true, releaseUnpinsUnderResv: true, releaseDetachesFirst: true },
    kvm: { dmabufImport: false },
    rdma: { pinnedRevocable: false },
  },
  notes: [
    "Legacy exporters offer [sgt] through map_dma_buf; legacy importers accept [sgt].",
    "VFIO -> iommufd uses vfio_pci_dma_buf_iommufd_map (vfio-iommufd-private).",
    "VFIO refuses attachments that are not dynamic with invalidate_mappings (EOPNOTSUPP).",
    "A non-VFIO dma-buf fails IOMMU_IOAS_MAP_FILE with EOPNOTSUPP.",
    "Close revokes every dma-buf for good before vfio_pci_core_disable() (d97708701434).",
    "Export of an empty or unclaimed BAR fails with ENODEV before the ranges are read.",
  ],
});

/**
 * linux-7.1.0 = 7.1.0 to 7.1.4: as {@link linux71}, but iommufd's release
 * of a dma-buf area unpins without the resv lock (fixed by e745cd2c749e)
 * and destroys its pages state before `dma_buf_detach` (fixed by
 * f2d70dbd3dce); both fixes reached 7.1.5.
 *
 * @remarks
 * Encodes kernel-model §3.3 and §8.1; VFIO as in 7.1.
 * @category Profiles
 */
export const linux710 = defineProfile({
  ...linux71,
  id: "linux-7.1.0",
  title: "Linux 7.1.0 to 7.1.4",
  summary:
    "linux-7.1 before its iommufd stable fixes: release unpins without resv (a lockdep " +
    "warning on every IOAS destroy or unmap of a dma-buf area) and destroys the pages " +
    "state before dma_buf_detach.",
  commits: [...V71_0_COMMITS],
  drivers: {
    ...linux71.drivers,
    iommufd: { pins: true, releaseUnpinsUnderResv: false, releaseDetachesFirst: false },
  },
  notes: [
    ...linux71.notes,
    "iommufd release: dma_buf_unpin without resv, pages state destroyed before detach.",
  ],
});

/**
 * linux-7.2: what v7.2 changes in dma-buf, VFIO and iommufd are the fixes
 * {@link linux71} already has (e745cd2c749e, f2d70dbd3dce), so its rules
 * are linux-7.1's under its own name.
 *
 * @remarks
 * Encodes kernel-model §8.1.
 * @category Profiles
 */
export const linux72 = defineProfile({
  ...linux71,
  id: "linux-7.2",
  title: "Linux 7.2",
  summary: "v7.2: the same dma-buf, VFIO and iommufd rules as linux-7.1 (7.1.5 carries its fixes).",
});
