import { kvmPfn, mappingPayload, ok } from "@dmabuf-ref/core";
import type { MapStep, PhysVec, Result, World } from "@dmabuf-ref/core";

/**
 * VFIO's `get_pfn` for KVM, the exporter op of Xu Yilun's RFC that
 * `dma_buf_get_pfn_unlocked(attach, pgoff, &pfn, &max_order)` calls at
 * guest fault time (kernel-facts §5.1), stated as the `kvm-pfn` mapping
 * VFIO's map (`vfioMap`) hands out (resv held, revoked already refused there with
 * `-ENODEV`, which KVM turns into `-EIO`).
 *
 * @remarks
 * The payload is the buffer's `phys_vec[]` in buffer order, from which KVM
 * computes the PFN of any `pgoff` and the largest order a naturally aligned
 * block keeps inside one range. It is `mmio: true` and `uncached`: a BAR is
 * device MMIO and KVM never maps MMIO cacheable (the point of Yilun's
 * series is that KVM learns MMIO-ness and caching from the exporter, not
 * from a host VMA, since private MMIO never has one). Nothing is granted
 * in the fabric: the guest reaches the BAR through KVM's stage-2 / EPT
 * tables, which the slot's zap on invalidate tears down.
 *
 * @param w - the world (unchanged).
 * @param phys - the buffer's `priv->phys_vec[]`.
 * @returns the mapping.
 */
export function vfioGetPfn(w: World, phys: readonly PhysVec[]): Result<MapStep> {
  const payload = mappingPayload(kvmPfn, { ranges: phys, mmio: true, cache: "uncached" });
  return ok({ world: w, events: [], mapping: { payload, grants: [], iova: [] } });
}
