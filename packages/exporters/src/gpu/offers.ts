import { kvmPfn, offer, pal, sgt } from "@dmabuf-ref/core";
import type { ExporterOffer, Profile } from "@dmabuf-ref/core";
import type { GpuBoPriv } from "./state.js";
import type { GpuDeviceConfig } from "./config.js";
import { iovInterconnect } from "./iov-interconnect.js";

/**
 * The GPU exporter's offers for one BO, in priority order, decided by the
 * profile's mapping types and converters (never by its name):
 *
 * - `iov-interconnect` first when the profile lists a type with that id, the
 *   GPU is an SR-IOV PF and the BO is in VRAM (kernel-model §4.1). No
 *   built-in profile lists it yet;
 * - `pal` (the GPU as p2pdma provider) when the profile has PAL and a
 *   PAL->SGT converter: with converters an exporter need only offer PAL
 *   (kernel-model §4.4);
 * - otherwise `sgt`: system pages need no P2P, VRAM requires P2P with the
 *   GPU as exporting device (kernel-model §1.1, §4.3). Under the Feb 2026
 *   RFC only VFIO and the selftest mock offer PAL, so the GPU offers `sgt`;
 * - `kvm-pfn` after `pal`, **hypothetically**, where the GPU offers `pal`
 *   and the profile has `kvm-pfn`: KVM's `get_pfn` over the BO's current
 *   placement (kernel-model §5.1). Xu Yilun's KVM RFC accepts only VFIO
 *   dma-bufs and needs the exporter to implement `get_pfn`, which no GPU
 *   driver does; the model offers it only where the GPU already hands out
 *   CPU physical addresses (PAL under converters, §4.4), so that a
 *   maintainer can see what a movable exporter would mean for KVM (a move
 *   invalidates, KVM zaps and re-faults onto the new placement). Under the
 *   RFC the GPU does not offer it, so KVM's import fails in negotiation.
 *
 * Result: linux-6.19 / 7.1 / rfc-mapping-types-v1 [sgt]; proposal-converters
 * [pal, kvm-pfn].
 *
 * @param profile - the profile in force.
 * @param device - the GPU's configuration.
 * @param priv - the BO.
 * @returns the offers.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux71, proposalConverters } from "@dmabuf-ref/core";
 * import { gpuOffers } from "@dmabuf-ref/exporters";
 * import type { GpuBoPriv } from "@dmabuf-ref/exporters";
 *
 * const gpu0 = { id: "gpu0", vram: "gpu0.vram", system: "ram0" };
 * const bo: GpuBoPriv = {
 *   device: "gpu0",
 *   placement: "vram",
 *   phys: 0x6000000000n,
 *   region: "bo1",
 *   generation: 0,
 * };
 * // In VRAM the SGT needs a P2P path from gpu0; in system pages it does not.
 * assert.deepEqual(gpuOffers(linux71, gpu0, bo)[0]?.data, {
 *   requiresP2P: true,
 *   p2pDevice: "gpu0",
 * });
 * assert.deepEqual(gpuOffers(linux71, gpu0, { ...bo, placement: "system" })[0]?.data, {
 *   requiresP2P: false,
 * });
 * assert.deepEqual(
 *   gpuOffers(proposalConverters, gpu0, bo).map((o) => o.type.id),
 *   ["pal", "kvm-pfn"],
 * );
 * ```
 * @category Drivers
 */
export function gpuOffers(
  profile: Profile,
  device: GpuDeviceConfig,
  priv: GpuBoPriv,
): ExporterOffer[] {
  const offers: ExporterOffer[] = [];
  const iov = profile.mappingTypes.some((t) => t.id === iovInterconnect.id);
  if (iov && device.sriov !== undefined && priv.placement === "vram") {
    offers.push(offer(iovInterconnect, { pf: device.id, vfs: device.sriov.vfs }));
  }
  const converted =
    profile.mappingTypes.includes(pal) &&
    profile.converters.some((c) => c.from === pal && c.to === sgt);
  if (converted) {
    offers.push(offer(pal, { provider: device.id }));
    if (profile.mappingTypes.includes(kvmPfn)) {
      offers.push(offer(kvmPfn, { mmio: priv.placement === "vram" }));
    }
  } else if (profile.mappingTypes.includes(sgt)) {
    offers.push(
      priv.placement === "vram"
        ? offer(sgt, { requiresP2P: true, p2pDevice: device.id })
        : offer(sgt, { requiresP2P: false }),
    );
  }
  return offers;
}
