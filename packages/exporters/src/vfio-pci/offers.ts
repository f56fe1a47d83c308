import { kvmPfn, offer, pal, sgt, vfioIommufdPrivate } from "@dmabuf-ref/core";
import type { AnyMappingType, ExporterOffer, Profile } from "@dmabuf-ref/core";

/**
 * VFIO's offers for one buffer, in priority order, decided by which mapping
 * types and converters the profile has (never by its name):
 *
 * - the private VFIO->iommufd interconnect first where it exists (6.19,
 *   7.1: kernel-model §2.7), so iommufd, which accepts only it, gets it;
 * - PAL where it exists (the Feb 2026 RFC: `match_mapping` offers
 *   [PAL, SGT_P2P], PAL preferred, §4.3), with the device as provider;
 * - SGT requiring P2P (`DMA_BUF_EMAPPING_SGT_P2P(ops, pdev)`, the legacy
 *   `map_dma_buf` before negotiation), unless core converts PAL->SGT: with
 *   converters VFIO is PAL-only (§4.4, step 2 of Jason Gunthorpe's plan);
 * - `kvm-pfn` {mmio} last where the profile has it: Xu Yilun's `get_pfn`
 *   exporter op for KVM's `KVM_MEM_VFIO_DMABUF` memslots (§5.1). Last,
 *   because only KVM accepts it and KVM accepts nothing else, so no other
 *   importer's match moves; a BAR is MMIO, so it is never mapped cacheable.
 *
 * Result: linux-6.19 / 7.1 [vfio-iommufd-private, sgt]; rfc-mapping-types-v1
 * [pal, sgt, kvm-pfn]; proposal-converters [pal, kvm-pfn].
 *
 * @param profile - the profile in force.
 * @param device - the exporting PCI function (the p2pdma provider).
 * @returns the offers.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux71, proposalConverters, rfcMappingTypesV1 } from "@dmabuf-ref/core";
 * import { vfioOffers } from "@dmabuf-ref/exporters";
 *
 * const ids = (o: readonly { type: { id: string } }[]) => o.map((x) => x.type.id);
 * assert.deepEqual(ids(vfioOffers(linux71, "vfio0")), ["vfio-iommufd-private", "sgt"]);
 * assert.deepEqual(ids(vfioOffers(rfcMappingTypesV1, "vfio0")), ["pal", "sgt", "kvm-pfn"]);
 * assert.deepEqual(ids(vfioOffers(proposalConverters, "vfio0")), ["pal", "kvm-pfn"]);
 * ```
 * @category Drivers
 */
export function vfioOffers(profile: Profile, device: string): ExporterOffer[] {
  const has = (t: AnyMappingType): boolean => profile.mappingTypes.includes(t);
  const converted = profile.converters.some((c) => c.from === pal && c.to === sgt);
  const offers: ExporterOffer[] = [];
  if (has(vfioIommufdPrivate)) offers.push(offer(vfioIommufdPrivate, {}));
  if (has(pal)) offers.push(offer(pal, { provider: device }));
  if (has(sgt) && !(has(pal) && converted)) {
    offers.push(offer(sgt, { requiresP2P: true, p2pDevice: device }));
  }
  if (has(kvmPfn)) offers.push(offer(kvmPfn, { mmio: true }));
  return offers;
}
