import { accept, iommuDomain, pal, sgt, vfioIommufdPrivate } from "@dmabuf-ref/core";
import type { AttachRequest, ImporterAccept, Machine, World } from "@dmabuf-ref/core";
import { IOMMUFD } from "./constants.js";

/**
 * What iommufd accepts for one attach, decided from the mapping types the
 * active profile has (never from its id):
 * - `iommu-domain` exists (proposal-converters, kernel-model §4.4): only
 *   `[iommu-domain]`, which a PAL exporter reaches through core's converter;
 * - else `pal` exists (rfc-mapping-types-v1, §4.3, RFC 23/26): only `[pal]`,
 *   so an exporter without PAL fails the attach with `EINVAL`;
 * - else (linux-6.19, linux-7.1, §3.3): `[vfio-iommufd-private]` then
 *   `[sgt]` with no DMA device and P2P accepted. The second entry stands for
 *   the kernel's plain `dma_buf_dynamic_attach`, which succeeds with any
 *   exporter: a foreign dma-buf attaches, then fails at the private phys
 *   lookup with `EOPNOTSUPP`, which is where the real kernel refuses it.
 *
 * @param m - the machine (for the profile).
 * @param _w - the world (unused: the list depends on the profile only).
 * @param req - the attach request (iommufd attaches dynamically, with P2P).
 * @returns the accept list, in order.
 *
 * @remarks
 * The `iommu-domain` accept's data is a placeholder: the domain, IOVA,
 * offset and size differ per (area, domain) pair and core's
 * {@link AttachRequest} cannot carry them, so iommufd hands them to core
 * with each map (`mapAtt`'s request, see `coreFill` in pages.ts) when it fills a
 * domain, as the proposal's importer passes them per map (kernel-model §4.4).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot, linux71, proposalConverters, referenceMachine, rfcMappingTypesV1,
 * } from "@dmabuf-ref/core";
 * import type { Profile } from "@dmabuf-ref/core";
 * import { iommufdAccepts, iommufdImporter } from "@dmabuf-ref/importers";
 *
 * // iommufd attaches dynamically, with P2P, through its dummy global device.
 * const req = { device: "iommufd", dynamic: true, peer2peer: true };
 * const accepted = (profile: Profile) => {
 *   const m = referenceMachine({ profile, importers: [iommufdImporter()] });
 *   return iommufdAccepts(m, boot(m), req).map((a) => a.type.id);
 * };
 * assert.deepEqual(accepted(linux71), ["vfio-iommufd-private", "sgt"]);
 * assert.deepEqual(accepted(rfcMappingTypesV1), ["pal"]);
 * assert.deepEqual(accepted(proposalConverters), ["iommu-domain"]);
 * ```
 * @category Drivers
 */
export function iommufdAccepts(
  m: Machine,
  _w: World,
  req: AttachRequest,
): readonly ImporterAccept[] {
  const types = m.profile.mappingTypes;
  if (types.includes(iommuDomain)) {
    // A well-formed placeholder (one byte at IOVA 0): the real domain,
    // IOVA, offset and size come with each map (see the remarks).
    return [accept(iommuDomain, { domain: "ioas", iova: 0n, offset: 0n, size: 1n }, IOMMUFD)];
  }
  if (types.includes(pal)) return [accept(pal, {}, IOMMUFD)];
  const out: ImporterAccept[] = [];
  if (types.includes(vfioIommufdPrivate)) out.push(accept(vfioIommufdPrivate, {}, IOMMUFD));
  if (types.includes(sgt)) {
    out.push(accept(sgt, { device: null, acceptsP2P: req.peer2peer }, IOMMUFD));
  }
  return out;
}
