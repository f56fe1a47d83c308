import { IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from "@dmabuf-ref/core";
import { expectOk } from "./expect.js";
import type { VmmSession } from "./session.js";

/** `IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE`. */
export const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

/** What a VMM set up for a guest's P2P to a BAR: the dma-buf fd, the IOAS and the IOVA. */
export interface GuestP2p {
  /** The dma-buf fd of the BAR slice. */
  readonly fd: number;
  /** The IOAS the guest's device is attached to. */
  readonly ioas: number;
  /** Where the slice is mapped. */
  readonly iova: bigint;
}

/**
 * What QEMU does to give a guest's device P2P access to a BAR (seed 000):
 * export a slice of vfio0's BAR0 as a dma-buf, allocate an IOAS, attach
 * `dev1`, and `IOMMU_IOAS_MAP_FILE` the dma-buf into it.
 *
 * @param s - the session.
 * @param length - bytes of BAR0 to export and map.
 * @returns the fd, IOAS and IOVA.
 */
export function setUpGuestP2p(s: VmmSession, length: bigint): GuestP2p {
  const fd = expectOk(s.exportBar("vfio0", 0, [{ offset: 0n, length }]));
  const ioas = expectOk(s.ioasAlloc());
  expectOk(s.attach("dev1", ioas));
  const iova = expectOk(s.mapFile({ ioas, fd, start: 0n, length, flags: RW }));
  return { fd, ioas, iova };
}
