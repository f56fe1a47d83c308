import { defineProfile } from "./profile.js";
import { linux71 } from "./linux-7.1.js";

/**
 * proposal-vfio-dmabuf-mmap: linux-7.1 plus Matt Evans' series "vfio/pci:
 * Add mmap() for DMABUFs" as posted in v4 (2026-07-01, "based on v7.1",
 * Message-ID 20260701171245.90111-1-matt@ozlabs.org; not merged).
 *
 * @remarks
 * Encodes kernel-model §2.6: a VFIO dma-buf can be mmap()ed and a revoke
 * zaps its PTEs; `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE` (13) revokes a buffer
 * of the same device for good (`EBADF` for an fd that is no dma-buf,
 * `ENODEV` for another device's buffer, `EBADFD` when already
 * PERM_REVOKED; it may sleep until importers unmap);
 * `VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR` (14, SET only) picks NC (0) or WC
 * (1) for later mmaps (`ENOENT` for another value); the buffer states OK,
 * TEMP_REVOKED (born while memory decoding is off, or a temporary revoke)
 * and PERM_REVOKED, where TEMP -> PERM does not wait again and PERM is
 * final; and from v4 the un-revoke neither invalidates nor waits for
 * fences. Everything else is {@link linux71}.
 * @category Profiles
 */
export const proposalVfioDmabufMmap = defineProfile({
  ...linux71,
  id: "proposal-vfio-dmabuf-mmap",
  title: "Matt Evans' series v4: mmap of VFIO dma-bufs, REVOKE and MEMATTR",
  summary:
    "linux-7.1 plus mmap() of VFIO dma-bufs with a zap on revoke, " +
    "VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE (13) and _MEMATTR (14), the states OK, " +
    "TEMP_REVOKED and PERM_REVOKED, and an un-revoke without invalidate or fence wait.",
  kernelModel: [...linux71.kernelModel, "§2.6"],
  drivers: {
    ...linux71.drivers,
    "vfio-pci": {
      ...linux71.drivers["vfio-pci"],
      dmabufMmap: true,
      userRevoke: true,
      memattr: true,
      unrevokeInvalidates: false,
    },
  },
  notes: [
    ...linux71.notes,
    "A VFIO dma-buf can be mmap()ed; revoke zaps the PTEs and faults refuse while revoked.",
    "VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE (13) revokes a buffer for good; MEMATTR (14) NC/WC.",
    "Un-revoke sets the buffer OK without invalidating importers or waiting for fences.",
  ],
});
