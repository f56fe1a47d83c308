import { iommuDomain } from "../mapping-types/iommu-domain.js";
import { kvmPfn } from "../mapping-types/kvm-pfn.js";
import { pal } from "../mapping-types/pal.js";
import { sgt } from "../mapping-types/sgt.js";
import { palToIommuDomain, palToSgt } from "../negotiation/builtin-converters.js";
import { defineProfile } from "./profile.js";
import { linux71 } from "./linux-7.1.js";

/**
 * proposal-converters: linux-7.1 plus Jason Gunthorpe's Apr 2026 converters
 * proposal: exporters offer PAL, core converts PAL->SGT and
 * PAL->iommu-domain, and iommufd accepts the importer-only iommu-domain type.
 *
 * @remarks
 * Encodes kernel-model §4.4 and §7.14 (a direct match beats a converted
 * one), with the optional series still under review switched on: KVM
 * import (§5.1) and RDMA pinned-revocable import (§5.2). mmap of VFIO
 * dma-bufs is not here: it is proposal-vfio-dmabuf-mmap's (kernel-model
 * §2.6), so the converters are compared with linux-7.1's VFIO.
 * @category Profiles
 */
export const proposalConverters = defineProfile({
  id: "proposal-converters",
  title: "Apr 2026 proposal: converters and the iommu_domain type",
  summary:
    "linux-7.1 rules plus converters PAL->SGT and PAL->iommu-domain; iommufd accepts " +
    "[iommu-domain]; a direct match beats a converted one. Options under review are on.",
  kernelModel: ["§4.4", "§5.1", "§5.2", "§7.14"],
  commits: linux71.commits,
  negotiation: "mapping-types",
  mappingTypes: [sgt, pal, iommuDomain, kvmPfn],
  converters: [palToSgt, palToIommuDomain],
  rules: linux71.rules,
  drivers: {
    ...linux71.drivers,
    kvm: { dmabufImport: true },
    rdma: { pinnedRevocable: true },
  },
  notes: [
    "Exporters need only offer pal; SGT importers are reached through pal->sgt.",
    "iommufd accepts [iommu-domain]: core maps the exporter's memory into its domain.",
    "A direct same-type match always beats a converted one.",
  ],
});
