import { slicePhysVecs } from "../schemas.js";
import { mappingPayload } from "../mapping-types/define.js";
import { kernelError } from "../errors/kernel-error.js";
import { err, ok } from "../errors/result.js";
import { dmaMapRanges } from "../fabric/dma-map.js";
import { iommuMap } from "../fabric/iommu.js";
import { grantAccess } from "../fabric/grants.js";
import { mustAtt } from "../world/access.js";
import type { IovaRange } from "../world/attachment-state.js";
import { iommuDomain } from "../mapping-types/iommu-domain.js";
import { pal } from "../mapping-types/pal.js";
import { sgt } from "../mapping-types/sgt.js";
import { defineConverter } from "./converter.js";

/**
 * PAL->SGT: core turns a PAL exporter's physical list into a DMA-mapped SGT
 * for an SGT importer, as `dma_buf_phys_vec_to_sgt()` does for exporters
 * today (kernel-model §1.4, §4.4).
 *
 * @remarks
 * PAL is all MMIO, so the conversion needs the exporter's p2pdma provider,
 * an importer that accepts P2P, and a P2P path; anything else is
 * `-EOPNOTSUPP` (skip), the same rule as an SGT exporter that requires P2P.
 * @category Negotiation
 */
export const palToSgt = defineConverter({
  from: pal,
  to: sgt,
  kernelModel: "§1.4, §4.4",
  summary: "core maps the PAL ranges for the importing device (bus address or IOVA) into an SGT",
  match(ctx, exp, imp) {
    if (exp.provider === undefined) {
      return kernelError("EOPNOTSUPP", "PAL exporter names no p2pdma provider to map through");
    }
    if (!imp.acceptsP2P) {
      return kernelError("EOPNOTSUPP", "PAL is MMIO but the SGT importer does not accept P2P");
    }
    if (imp.device === null) {
      return kernelError("EOPNOTSUPP", "the SGT importer has no DMA device to map for");
    }
    if (ctx.p2pDistance(exp.provider, imp.device) < 0) {
      return kernelError(
        "EOPNOTSUPP",
        () =>
          `pci_p2pdma_distance(${String(exp.provider)}, ${String(imp.device)}) < 0: not P2P reachable`,
      );
    }
    return 0;
  },
  convert(m, world, att, payload) {
    const device = mustAtt(world, att).device;
    if (device === null) return err("EINVAL", "an SGT needs an importing DMA device");
    const mapped = dmaMapRanges(m, world, device, payload.phys, { att, write: true });
    if (!mapped.ok) return mapped;
    return ok({
      world: mapped.value.world,
      payload: mappingPayload(sgt, { entries: mapped.value.entries }),
      grants: mapped.value.grants,
      iova: mapped.value.iova,
    });
  },
});

/**
 * PAL->iommu-domain: core maps a PAL exporter's ranges straight into the
 * importer's `iommu_domain`, so neither side sees the other's addresses
 * (kernel-model §4.4, the importer-only type of the Apr 2026 proposal).
 *
 * @category Negotiation
 */
export const palToIommuDomain = defineConverter({
  from: pal,
  to: iommuDomain,
  kernelModel: "§4.4",
  summary: "core iommu_map()s the PAL ranges into the importer's domain at the importer's IOVA",
  convert(m, world, att, payload, request) {
    const domainId = Number(request.domain);
    if (!Number.isInteger(domainId) || !world.domains.has(domainId)) {
      return err("EINVAL", () => `no iommu_domain ${request.domain}`);
    }
    const pieces = slicePhysVecs(payload.phys, request.offset, request.size);
    if (pieces === undefined) return err("EINVAL", "offset + size runs past the dma-buf");
    let w = world;
    const iova: IovaRange[] = [];
    let at = request.iova;
    for (const p of pieces) {
      w = iommuMap(w, domainId, {
        iova: at,
        len: p.len,
        phys: p.paddr,
        read: request.read,
        write: request.write,
      });
      iova.push({ domain: domainId, iova: at, len: p.len });
      at += p.len;
    }
    const grants: number[] = [];
    for (const [index, d] of w.deviceDomains.entries()) {
      const device = m.topology.devices[index]?.id;
      if (d !== domainId || device === undefined) continue;
      for (const p of pieces) {
        const granted = grantAccess(w, {
          device,
          phys: p.paddr,
          len: p.len,
          write: request.write,
          att,
        });
        if (granted === undefined)
          return err("EINVAL", () => `no memory at 0x${p.paddr.toString(16)}`);
        w = granted.world;
        grants.push(granted.id);
      }
    }
    return ok({
      world: w,
      payload: mappingPayload(iommuDomain, {
        domain: request.domain,
        iova: request.iova,
        size: request.size,
      }),
      grants,
      iova,
    });
  },
});
