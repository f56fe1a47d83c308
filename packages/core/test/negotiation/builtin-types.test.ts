/**
 * The built-in mapping types in negotiation: SGT's P2P match rule, PAL's
 * allow-list, the VFIO/iommufd lists of the RFC, the converters of the
 * Apr 2026 proposal and the importer-only iommu-domain type
 * (kernel-model §4.3, §4.4, §5.1, §7.13, §7.14).
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  accept,
  iommuDomain,
  kvmPfn,
  linux71,
  negotiate,
  offer,
  p2pTopology,
  pal,
  palToIommuDomain,
  palToSgt,
  proposalConverters,
  rfcMappingTypesV1,
  sgt,
} from "@dmabuf-ref/core";
import { expectFailure, expectMatch, pairAt } from "./helpers.js";

const reachable = p2pTopology([{ provider: "vfio0", client: "nic0", distance: 2 }]);
const sgtP2P = offer(sgt, { requiresP2P: true, p2pDevice: "vfio0" });
const nicP2P = accept(sgt, { device: "nic0", acceptsP2P: true }, "rdma");
const nicNoP2P = accept(sgt, { device: "nic0", acceptsP2P: false }, "rdma");
/** VFIO under the RFC: match_mapping offers [PAL, SGT_P2P(pdev)], PAL preferred. */
const vfioOffers = [offer(pal, {}), sgtP2P];
const domain = { domain: "d0", iova: 0, offset: 0, size: 4096 };

describe("SGT match: P2P needs an accepting importer at distance >= 0 (kernel-model §4.3)", () => {
  it("a P2P-requiring exporter x an importer not accepting P2P is skipped with EOPNOTSUPP", () => {
    const r = negotiate([sgtP2P], [nicNoP2P], rfcMappingTypesV1, reachable);
    expect(pairAt(r, 0, 0).outcome).toMatchObject({
      kind: "skipped",
      error: { errno: "EOPNOTSUPP" },
    });
    expect(expectFailure(r).error.errno).toBe("EINVAL");
  });

  it("a P2P-requiring exporter x a P2P importer with no path (distance < 0) is skipped", () => {
    const r = negotiate([sgtP2P], [nicP2P], rfcMappingTypesV1, p2pTopology());
    expect(pairAt(r, 0, 0).outcome).toMatchObject({
      kind: "skipped",
      error: { errno: "EOPNOTSUPP" },
    });
    expect(expectFailure(r).error.errno).toBe("EINVAL");
  });

  it("a negative measured distance is unreachable too: the pair is skipped", () => {
    const ctx = p2pTopology([{ provider: "vfio0", client: "nic0", distance: -1 }]);
    const r = negotiate([sgtP2P], [nicP2P], rfcMappingTypesV1, ctx);
    expect(pairAt(r, 0, 0).outcome.kind).toBe("skipped");
  });

  it("a P2P-requiring exporter x a P2P importer at distance 2 matches", () => {
    const m = expectMatch(negotiate([sgtP2P], [nicP2P], rfcMappingTypesV1, reachable));
    expect(m.type).toBe(sgt);
    expect(m.converter).toBeUndefined();
  });

  it("distance exactly 0 is reachable: the pair matches", () => {
    const ctx = p2pTopology([{ provider: "vfio0", client: "nic0", distance: 0 }]);
    expect(negotiate([sgtP2P], [nicP2P], rfcMappingTypesV1, ctx).ok).toBe(true);
  });

  it("a P2P-requiring exporter x a P2P importer with no DMA device (dev = NULL) is skipped", () => {
    const kvmLike = accept(sgt, { device: null, acceptsP2P: true }, "kvm");
    const r = negotiate([sgtP2P], [kvmLike], rfcMappingTypesV1, reachable);
    expect(pairAt(r, 0, 0).outcome.kind).toBe("skipped");
  });

  it("a skipped SGT pair lets the loop go on to the next importer entry", () => {
    const r = negotiate([sgtP2P], [nicNoP2P, nicP2P], rfcMappingTypesV1, reachable);
    expect(expectMatch(r).importerIndex).toBe(1);
  });

  it("a non-P2P exporter matches any SGT importer, whatever its device, P2P flag or topology", () => {
    const device = fc.option(fc.constantFrom("nic0", "gpu1", "vfio0"), { nil: null });
    fc.assert(
      fc.property(device, fc.boolean(), fc.boolean(), (dev, acceptsP2P, linked) => {
        const ctx = linked ? reachable : p2pTopology();
        const r = negotiate(
          [offer(sgt, { requiresP2P: false })],
          [accept(sgt, { device: dev, acceptsP2P }, "any")],
          linux71,
          ctx,
        );
        expect(expectMatch(r).importerIndex).toBe(0);
      }),
    );
  });
});

describe("PAL: no match(), map helper exported only to iommufd (kernel-model §4.3)", () => {
  it("a PAL accept from module rdma is refused as not-exported and the attach fails EINVAL", () => {
    const r = negotiate([offer(pal, {})], [accept(pal, {}, "rdma")], rfcMappingTypesV1);
    expect(pairAt(r, 0, 0).outcome).toEqual({
      kind: "not-exported",
      module: "rdma",
      allowed: ["iommufd"],
    });
    expect(expectFailure(r).error.errno).toBe("EINVAL");
  });

  it("a PAL accept from module iommufd matches", () => {
    const m = expectMatch(
      negotiate([offer(pal, {})], [accept(pal, {}, "iommufd")], rfcMappingTypesV1),
    );
    expect(m.type).toBe(pal);
  });

  it("RFC: VFIO [pal, sgt(P2P vfio0)] x iommufd [pal] picks pal at exporter 0, importer 0", () => {
    const r = negotiate(vfioOffers, [accept(pal, {}, "iommufd")], rfcMappingTypesV1, reachable);
    const m = expectMatch(r);
    expect(m.type).toBe(pal);
    expect([m.exporterIndex, m.importerIndex]).toEqual([0, 0]);
    expect(pairAt(r, 1, 0).outcome).toEqual({ kind: "not-considered", because: "matched-earlier" });
  });

  it("RFC: VFIO [pal, sgt(P2P vfio0)] x rdma [sgt(nic0, P2P)] falls through to sgt at (1, 0)", () => {
    const r = negotiate(vfioOffers, [nicP2P], rfcMappingTypesV1, reachable);
    const m = expectMatch(r);
    expect(m.type).toBe(sgt);
    expect([m.exporterIndex, m.importerIndex]).toEqual([1, 0]);
    expect(pairAt(r, 0, 0).outcome).toEqual({ kind: "no-common-type" });
  });

  it("RFC: an exporter without PAL x iommufd [pal] fails the attach with EINVAL", () => {
    const r = negotiate([sgtP2P], [accept(pal, {}, "iommufd")], rfcMappingTypesV1, reachable);
    expect(expectFailure(r).error.errno).toBe("EINVAL");
  });

  it("linux-7.1 has no PAL type: a pal offer x a pal accept is type-absent and fails EINVAL", () => {
    const r = negotiate([offer(pal, {})], [accept(pal, {}, "iommufd")], linux71);
    expect(pairAt(r, 0, 0).outcome).toEqual({ kind: "type-absent", typeId: "pal" });
    expect(expectFailure(r).error.errno).toBe("EINVAL");
  });

  it("linux-7.1: VFIO [pal, sgt(P2P)] x rdma [sgt(nic0, P2P)] still reaches the legacy sgt pair", () => {
    const m = expectMatch(negotiate(vfioOffers, [nicP2P], linux71, reachable));
    expect(m.type).toBe(sgt);
    expect(m.exporterIndex).toBe(1);
  });

  it("linux-7.1 has no negotiation: the legacy call fixes sgt and no SGT match() runs", () => {
    // sgt(P2P) x sgt(no P2P) would be skipped by the RFC's predicate; under 7.1 the
    // exporter's attach/map refuses it later, so negotiation itself matches.
    const m = expectMatch(negotiate([sgtP2P], [nicNoP2P], linux71, p2pTopology()));
    expect(m.type).toBe(sgt);
  });
});

describe("converters of the Apr 2026 proposal (kernel-model §4.4, §7.14)", () => {
  const palVfio = offer(pal, { provider: "vfio0" });

  it("pal(vfio0) x iommufd [iommu-domain] matches through the pal->iommu-domain converter", () => {
    const r = negotiate([palVfio], [accept(iommuDomain, domain, "iommufd")], proposalConverters);
    const m = expectMatch(r);
    expect(m.type).toBe(iommuDomain);
    expect(m.exporterType).toBe(pal);
    expect(m.converter).toBe(palToIommuDomain);
    expect(m.converter?.id).toBe("pal->iommu-domain");
    expect(pairAt(r, 0, 0)).toMatchObject({
      converter: "pal->iommu-domain",
      outcome: { kind: "matched" },
    });
  });

  it("a direct match beats a converted one: [pal(vfio0), sgt(P2P)] x [sgt(nic0, P2P)] picks sgt at (1, 0)", () => {
    const r = negotiate([palVfio, sgtP2P], [nicP2P], proposalConverters, reachable);
    const m = expectMatch(r);
    expect(m.type).toBe(sgt);
    expect(m.exporterType).toBe(sgt);
    expect([m.exporterIndex, m.importerIndex]).toEqual([1, 0]);
    expect(m.converter).toBeUndefined();
    expect(pairAt(r, 0, 0)).toEqual({
      exporterIndex: 0,
      importerIndex: 0,
      exporterType: "pal",
      importerType: "sgt",
      converter: "pal->sgt",
      outcome: { kind: "not-considered", because: "direct-preferred" },
    });
  });

  it("pal(vfio0) x sgt(nic0, P2P) at distance 2 matches through pal->sgt", () => {
    const m = expectMatch(negotiate([palVfio], [nicP2P], proposalConverters, reachable));
    expect(m.type).toBe(sgt);
    expect(m.exporterType).toBe(pal);
    expect(m.converter).toBe(palToSgt);
  });

  it("pal->sgt is skipped with EOPNOTSUPP when the SGT importer does not accept P2P", () => {
    const r = negotiate([palVfio], [nicNoP2P], proposalConverters, reachable);
    expect(pairAt(r, 0, 0)).toMatchObject({
      converter: "pal->sgt",
      outcome: { kind: "skipped", error: { errno: "EOPNOTSUPP" } },
    });
    expect(expectFailure(r).error.errno).toBe("EINVAL");
  });

  it("pal->sgt is skipped when the P2P path is missing or the PAL names no provider", () => {
    const noPath = negotiate([palVfio], [nicP2P], proposalConverters, p2pTopology());
    const noProvider = negotiate([offer(pal, {})], [nicP2P], proposalConverters, reachable);
    expect(pairAt(noPath, 0, 0).outcome.kind).toBe("skipped");
    expect(pairAt(noProvider, 0, 0).outcome.kind).toBe("skipped");
  });

  it("rfc-mapping-types-v1 has no converters: pal x sgt is no common type", () => {
    const r = negotiate([palVfio], [nicP2P], rfcMappingTypesV1, reachable);
    expect(pairAt(r, 0, 0).converter).toBeUndefined();
    expect(pairAt(r, 0, 0).outcome).toEqual({ kind: "no-common-type" });
  });
});

describe("importer-only and payload rules (kernel-model §4.4, §5.1)", () => {
  it("an exporter cannot offer the importer-only iommu-domain type: offer() throws", () => {
    expect(() => offer(iommuDomain, {})).toThrow(/importer-only/);
  });

  it("an importer may accept iommu-domain; its data is validated (an empty domain is refused) and the prot defaults to read + write", () => {
    expect(accept(iommuDomain, domain, "iommufd").data).toEqual({
      domain: "d0",
      iova: 0n,
      offset: 0n,
      size: 4096n,
      read: true,
      write: true,
    });
    expect(() => accept(iommuDomain, { ...domain, domain: "" }, "iommufd")).toThrow();
  });

  it("the kvm-pfn payload schema refuses MMIO mapped write-back", () => {
    const ranges = [{ paddr: 0x1000, len: 0x1000 }];
    expect(kvmPfn.payload.safeParse({ ranges, mmio: true, cache: "write-back" }).success).toBe(
      false,
    );
    expect(kvmPfn.payload.safeParse({ ranges, mmio: true, cache: "uncached" }).success).toBe(true);
    expect(kvmPfn.payload.safeParse({ ranges, mmio: false, cache: "write-back" }).success).toBe(
      true,
    );
  });
});
