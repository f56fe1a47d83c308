/*
 * Every in-repo mapping type runs the mapping-type contract suite and
 * passes (issue 13, item 2): core's sgt, pal, iommu-domain,
 * vfio-iommufd-private and kvm-pfn, and the gpu package's iov-interconnect;
 * and the converters of proposal-converters (PAL->SGT, PAL->iommu-domain)
 * preserve the memory they describe, checked on a machine where the
 * vfio-pci exporter offers PAL and core's step maps through the converter.
 *
 * Here, not in packages/core/test: core imports nothing (its tests belong to
 * it and never name the contracts package), while contracts' tests may.
 */
import { describe, expect, it } from "vitest";
import {
  IOVA_PAGE,
  accept,
  boot,
  defineMachine,
  domainOf,
  importerHolder,
  iommuDomain,
  kvmPfn,
  pal,
  palToIommuDomain,
  palToSgt,
  p2pTopology,
  payloadAs,
  proposalConverters,
  referenceImporter,
  sgt,
  translate,
  vfioIommufdPrivate,
} from "@dmabuf-ref/core";
import type { ImporterDriver, Machine, MatchContext, World } from "@dmabuf-ref/core";
import { checkMappingType, mappingTypeContract, mustStep, mustSteps } from "@dmabuf-ref/contracts";
import type { ConverterFixture } from "@dmabuf-ref/contracts";
import { iovInterconnect } from "@dmabuf-ref/exporters";
import {
  VFIO0_BAR0,
  VFIO_HARNESS_TOPOLOGY,
  harnessVfioPci,
  vfioExportOp,
} from "@dmabuf-ref/contracts/zoo";

/**
 * The machines `match()` is asked about: one where `dev1` reaches `vfio0`
 * and `gpu0` peer to peer, one with no P2P path at all.
 */
const contexts: readonly MatchContext[] = [
  p2pTopology([
    { provider: "vfio0", client: "dev1", distance: 2 },
    { provider: "gpu0", client: "dev1", distance: 2 },
  ]),
  p2pTopology(),
];

// ---------------------------------------------------------- the converters

/**
 * The zoo's vfio-pci hardware: vfio0's BAR and dev1 behind the IOMMU on
 * another switch of a P2P host bridge. Under proposal-converters vfio-pci
 * offers [pal, kvm-pfn], so an SGT or iommu-domain importer is reached
 * only through a converter.
 */
const BAR0 = VFIO0_BAR0;
/** Bytes of the exported buffer: two pages, from 4 KiB into the BAR. */
const BUF_OFFSET = 0x1000n;
const BUF_SIZE = 0x2000n;

/** The IOVA and buffer window the iommu-domain importer asks core to map. */
const DOMAIN_IOVA = 0x8000_0000n;
const DOMAIN_OFFSET = 0x1000n;
const DOMAIN_SIZE = 0x1000n;

/**
 * An importer of the converters proposal's importer-only type: it names
 * dev1's IOMMU domain, an IOVA, and the second page of the buffer, and
 * core maps the exporter's memory there (kernel-model §4.4).
 */
const domainImporter: ImporterDriver = {
  name: "domain-importer",
  allowPeer2peer: true,
  accepts: (m, w) => [
    accept(
      iommuDomain,
      {
        domain: String(domainOf(m, w, "dev1") ?? -1),
        iova: DOMAIN_IOVA,
        offset: DOMAIN_OFFSET,
        size: DOMAIN_SIZE,
      },
      "domain-importer",
    ),
  ],
  invalidateMappings: (_m, w) => ({ world: w, events: [] }),
};

/**
 * Exports two pages of vfio0's BAR 0 through VFIO_DEVICE_FEATURE_DMA_BUF,
 * attaches `importer` for dev1 and maps under resv through core's step,
 * which negotiates PAL -> the importer's type and runs the converter.
 *
 * @returns the exporter's PAL payload (what its map hands core), the
 *   importer's converted payload (decoded), the machine and the world.
 */
function mapThroughConverter(
  importer: ImporterDriver,
  to: "sgt" | "iommu-domain",
): { from: unknown; to: unknown; m: Machine; w: World } {
  const m = defineMachine({
    profile: proposalConverters,
    topology: VFIO_HARNESS_TOPOLOGY,
    exporters: [harnessVfioPci()],
    importers: [importer],
  });
  const exported = mustStep(m, boot(m), vfioExportOp([{ offset: BUF_OFFSET, length: BUF_SIZE }]));
  const buf = [...exported.bufs.keys()].at(-1);
  if (buf === undefined) throw new Error("the export made no buffer");
  const attached = mustStep(m, exported, {
    kind: "attach",
    buf,
    importer: importer.name,
    // An SGT is mapped for the importing device; the iommu-domain importer
    // attaches with no DMA device (core maps into the domain it names).
    device: to === "sgt" ? "dev1" : null,
    dynamic: true,
  });
  const att = [...attached.atts.keys()].at(-1);
  if (att === undefined) throw new Error("the attach made no attachment");
  const holder = importerHolder(importer.name, att);
  const locked = mustStep(m, attached, { kind: "lock", buf, holder });
  // What the exporter's map hands core for this attachment (a PAL map is
  // pure: it returns the BAR ranges and changes nothing).
  const exporterMap = m.exporters.get("vfio-pci")?.map(m, locked, att);
  if (exporterMap?.ok !== true) throw new Error("the exporter's PAL map failed");
  const from = payloadAs(pal, exporterMap.value.mapping.payload);
  const w = mustSteps(m, locked, [
    { kind: "map", att, holder },
    { kind: "unlock", buf, holder },
  ]);
  const a = w.atts.get(att);
  if (a?.converter !== `pal->${to}`)
    throw new Error(`core did not map through pal->${to} (got ${String(a?.converter)})`);
  const payload = a.mapping?.payload;
  const converted = to === "sgt" ? payloadAs(sgt, payload) : payloadAs(iommuDomain, payload);
  return { from, to: converted, m, w };
}

/**
 * The CPU physical ranges behind `len` bytes at `iova` in an IOMMU domain,
 * page by page through core's `translate` (the IOMMU's page walk).
 */
function throughDomain(
  w: World,
  domain: number,
  iova: bigint,
  len: bigint,
): { phys: bigint; len: bigint }[] {
  const d = w.domains.get(domain);
  if (d === undefined) throw new Error(`no IOMMU domain ${domain}`);
  const out: { phys: bigint; len: bigint }[] = [];
  for (let at = 0n; at < len; at += IOVA_PAGE) {
    const chunk = len - at < IOVA_PAGE ? len - at : IOVA_PAGE;
    const t = translate(d, iova + at, chunk, false);
    if ("fault" in t) throw new Error(t.fault);
    out.push({ phys: t.phys, len: chunk });
  }
  return out;
}

/** The PAL side of a converter: its ranges are CPU physical already. */
function palMemory(payload: unknown): { phys: bigint; len: bigint }[] {
  return pal.payload.parse(payload).phys.map((p) => ({ phys: p.paddr, len: p.len }));
}

/** PAL->SGT: the SGT's DMA addresses are dev1's IOVAs (P2P through the host bridge). */
const palToSgtFixture: ConverterFixture = {
  converter: palToSgt,
  mapped: () => mapThroughConverter(referenceImporter(), "sgt"),
  memory: (side, payload, m, w) => {
    if (side === "from") return palMemory(payload);
    const domain = domainOf(m, w, "dev1");
    if (domain === undefined) throw new Error("dev1 has no IOMMU domain");
    return sgt.payload
      .parse(payload)
      .entries.flatMap((e) => throughDomain(w, domain, e.dmaAddress, e.length));
  },
};

/**
 * PAL->iommu-domain: the importer asked for one page from offset 0x1000, so
 * the exporter's side is that window of its PAL ranges.
 */
const palToIommuDomainFixture: ConverterFixture = {
  converter: palToIommuDomain,
  mapped: () => mapThroughConverter(domainImporter, "iommu-domain"),
  memory: (side, payload, _m, w) => {
    if (side === "from")
      return palMemory(payload).map((r) => ({
        phys: r.phys + DOMAIN_OFFSET,
        len: DOMAIN_SIZE,
      }));
    const p = iommuDomain.payload.parse(payload);
    return throughDomain(w, Number(p.domain), p.iova, p.size);
  },
};

// ------------------------------------------------------------------ the types

mappingTypeContract(sgt, {
  exporterData: [{ requiresP2P: false }, { requiresP2P: true, p2pDevice: "vfio0" }],
  importerData: [
    { device: "dev1", acceptsP2P: true },
    { device: "dev1", acceptsP2P: false },
    { device: null, acceptsP2P: true },
  ],
  payloads: [
    { entries: [{ dmaAddress: 0x8000_0000n, length: 0x2000n }] },
    {
      entries: [
        { dmaAddress: 0x1000_0000_0000n, length: 0x1000n },
        { dmaAddress: 0x1000_0000_4000n, length: 0x1000n },
      ],
    },
  ],
  invalid: {
    // exporter_requires_p2p without exporting_p2p_device
    exporterData: [{ requiresP2P: true }],
    importerData: [{ device: "dev 1", acceptsP2P: true }, { acceptsP2P: true }],
    payloads: [{ entries: [{ dmaAddress: -1n, length: 0x1000n }] }],
  },
  contexts,
  converters: [palToSgtFixture],
});

mappingTypeContract(pal, {
  exporterData: [{}, { provider: "vfio0" }],
  importerData: [{}],
  payloads: [
    { phys: [{ paddr: BAR0, len: 0x2000n }] },
    {
      phys: [
        { paddr: BAR0, len: 0x1000n },
        { paddr: BAR0 + 0x8000n, len: 0x1000n },
      ],
    },
  ],
  invalid: {
    exporterData: [{ provider: "" }],
    payloads: [{ phys: [{ paddr: BAR0 }] }, { phys: [{ paddr: (1n << 64n) + 1n, len: 1n }] }],
  },
  contexts,
  converters: [palToSgtFixture, palToIommuDomainFixture],
});

mappingTypeContract(iommuDomain, {
  exporterData: [{}],
  importerData: [
    { domain: "1", iova: DOMAIN_IOVA, offset: 0n, size: 0x2000n },
    { domain: "2", iova: 0n, offset: 0x1000n, size: 0x1000n, read: true, write: false },
  ],
  payloads: [{ domain: "1", iova: DOMAIN_IOVA, size: 0x2000n }],
  invalid: {
    importerData: [{ domain: "", iova: 0n, offset: 0n, size: 0x1000n }],
    payloads: [{ domain: "1", iova: DOMAIN_IOVA }],
  },
  contexts,
  converters: [palToIommuDomainFixture],
});

mappingTypeContract(vfioIommufdPrivate, {
  exporterData: [{}],
  importerData: [{}],
  payloads: [{ phys: { paddr: BAR0, len: 0x2000n } }],
  invalid: { payloads: [{ phys: [{ paddr: BAR0, len: 0x2000n }] }, {}] },
  contexts,
});

mappingTypeContract(kvmPfn, {
  exporterData: [{ mmio: true }, { mmio: false }],
  importerData: [{}],
  payloads: [
    { ranges: [{ paddr: BAR0, len: 0x20_0000n }], mmio: true, cache: "uncached" },
    { ranges: [{ paddr: 0x1_0000_0000n, len: 0x1000n }], mmio: false, cache: "write-back" },
  ],
  invalid: {
    // MMIO is never mapped write-back cacheable (kernel-model §5.1).
    payloads: [
      { ranges: [{ paddr: BAR0, len: 0x1000n }], mmio: true, cache: "write-back" },
      { ranges: [], mmio: false, cache: "cached" },
    ],
  },
  contexts,
});

mappingTypeContract(iovInterconnect, {
  exporterData: [
    { pf: "gpu0", vfs: ["gpu0vf1", "gpu0vf2"] },
    { pf: "gpu1", vfs: [] },
  ],
  importerData: [{ device: "gpu0vf1" }, { device: "gpu0" }, { device: "dev1" }, { device: null }],
  payloads: [{ pf: "gpu0", ranges: [{ start: 0n, end: 0x1fffn }] }],
  invalid: {
    exporterData: [{ pf: "gpu0" }],
    payloads: [{ pf: "gpu0", ranges: [{ start: 0n }] }],
  },
  contexts,
});

describe("a fixture the type's schema refuses", () => {
  it("fails type/schemas-accept-fixtures and leaves every other case to run", () => {
    const results = checkMappingType(sgt, {
      exporterData: [{ requiresP2P: false }, { requiresP2P: "yes" }],
      importerData: [{ device: "dev1", acceptsP2P: true }],
      payloads: [{ entries: [{ dmaAddress: 0x8000_0000n, length: 0x2000n }] }],
    });
    const verdict = (id: string): string | undefined =>
      results.find((r) => r.id === id)?.verdict.status;
    expect(verdict("type/schemas-accept-fixtures")).toBe("fail");
    expect(verdict("type/match-deterministic")).toBe("pass");
    expect(verdict("type/negotiation-kernel-rule")).toBe("pass");
  });
});
