import { kvmPfn, mappingPayload, ok } from "@dmabuf-ref/core";
import type { MapStep, PhysVec, Result, World } from "@dmabuf-ref/core";
import type { GpuPlacement } from "./actions.js";

/**
 * A **hypothetical** GPU `get_pfn` for KVM (Xu Yilun's exporter op,
 * kernel-model §5.1), stated as the `kvm-pfn` mapping the GPU's map hands
 * out under resv: the PFNs of the BO's *current* placement. No GPU driver
 * implements `get_pfn`, and the KVM RFC accepts only VFIO dma-bufs; the
 * GPU offers the type only under proposal-converters (see `gpuOffers`).
 *
 * @remarks
 * VRAM is device memory behind the GPU's BAR: `mmio: true`, mapped
 * write-combined, the attribute TTM itself gives a VRAM `io_mem` mapping
 * (never write-back: KVM does not map MMIO cacheable). System pages are RAM:
 * `mmio: false`, write-back. A move invalidates every dynamic attachment
 * (KVM zaps the slot) before the old placement is freed, so the guest's
 * next fault calls this again and sees the new placement. Nothing is granted
 * in the fabric: the guest reaches the memory through KVM's stage-2 / EPT
 * tables, not through an IOMMU.
 *
 * @param w - the world (unchanged).
 * @param placement - the BO's current placement.
 * @param range - the BO's backing store (one contiguous range in the model).
 * @returns the mapping.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, kvmPfn, payloadAs, referenceMachine } from "@dmabuf-ref/core";
 * import { gpuGetPfn } from "@dmabuf-ref/exporters";
 *
 * // KVM faults on a BO in VRAM: device memory, mapped write-combined.
 * const r = gpuGetPfn(boot(referenceMachine()), "vram", { paddr: 0x6000000000n, len: 0x10000n });
 * assert.ok(r.ok);
 * const p = payloadAs(kvmPfn, r.value.mapping.payload);
 * assert.equal(p.mmio, true);
 * assert.equal(p.cache, "write-combine");
 * ```
 * @category Drivers
 */
export function gpuGetPfn(w: World, placement: GpuPlacement, range: PhysVec): Result<MapStep> {
  const vram = placement === "vram";
  const payload = mappingPayload(kvmPfn, {
    ranges: [range],
    mmio: vram,
    cache: vram ? "write-combine" : "write-back",
  });
  return ok({ world: w, events: [], mapping: { payload, grants: [], iova: [] } });
}
