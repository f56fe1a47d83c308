import { kernelError } from "../errors/kernel-error.js";
import { iommuDomain } from "../mapping-types/iommu-domain.js";
import { pal } from "../mapping-types/pal.js";
import { sgt } from "../mapping-types/sgt.js";
import { defineConverter } from "./converter.js";

/**
 * PAL->SGT: core turns a PAL exporter's physical list into a DMA-mapped SGT
 * for an SGT importer, as `dma_buf_phys_vec_to_sgt()` does for exporters
 * today (kernel-facts §1.4, §4.4).
 *
 * @remarks
 * PAL is all MMIO, so the conversion needs the exporter's p2pdma provider,
 * an importer that accepts P2P, and a P2P path; anything else is
 * `-EOPNOTSUPP` (skip), the same rule as an SGT exporter that requires P2P.
 */
export const palToSgt = defineConverter({
  from: pal,
  to: sgt,
  kernelFacts: "§1.4, §4.4",
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
        `pci_p2pdma_distance(${exp.provider}, ${imp.device}) < 0: not P2P reachable`,
      );
    }
    return 0;
  },
});

/**
 * PAL->iommu-domain: core maps a PAL exporter's ranges straight into the
 * importer's `iommu_domain`, so neither side sees the other's addresses
 * (kernel-facts §4.4, the importer-only type of the Apr 2026 proposal).
 */
export const palToIommuDomain = defineConverter({
  from: pal,
  to: iommuDomain,
  kernelFacts: "§4.4",
  summary: "core iommu_map()s the PAL ranges into the importer's domain at the importer's IOVA",
});
