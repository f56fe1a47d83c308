/**
 * A minimal VFIO-like BAR exporter written against core's ExporterDriver,
 * for the KVM and RDMA tests (importers never import the real exporters).
 * It models VFIO's rules (kernel-model §2.3, §2.4) and offers the RFC's
 * `kvm-pfn` type where the profile has it (§5.1).
 */
import {
  arrayCodec,
  createDmaBuf,
  decodedWith,
  mapSgtable,
  dmaUnmapIova,
  encodedWith,
  err,
  kvmCacheAttrSchema,
  kvmPfn,
  mappingPayload,
  mustAtt,
  mustBuf,
  offer,
  ok,
  oneOfCodec,
  physVecCodec,
  recordCodec,
  regionNamed,
  sgt,
} from "@dmabuf-ref/core";
import type { ExporterDriver, ExporterOffer, PhysVec, World } from "@dmabuf-ref/core";
import * as z from "zod";
import { vfioLikeAttach, vfioLikePin } from "../support/vfio-rules.js";

const exportArgs = z.object({
  region: z.string(),
  offset: z.bigint().default(0n),
  length: z.bigint(),
  /** A buggy exporter may claim another cache attribute for its MMIO. */
  cache: kvmCacheAttrSchema.default("uncached"),
});
interface BarPriv {
  readonly ranges: readonly PhysVec[];
  readonly cache: z.output<typeof kvmCacheAttrSchema>;
}
const privCodec = recordCodec<BarPriv>("vfio-bar-test-priv", {
  ranges: arrayCodec(physVecCodec),
  cache: oneOfCodec(kvmCacheAttrSchema.options),
});

/** The exporter's arguments: one range of a BAR region. */
export type VfioBarArgs = z.input<typeof exportArgs>;

function privOf(w: World, buf: number): BarPriv {
  return decodedWith(mustBuf(w, buf).priv, privCodec, "test exporter priv");
}

function rangesOf(w: World, buf: number): readonly PhysVec[] {
  return privOf(w, buf).ranges;
}

/**
 * VFIO-like: offers [kvm-pfn {mmio}] (where the profile has it) then
 * [sgt (requires P2P)]; attach refuses !P2P (EOPNOTSUPP), revoked (ENODEV)
 * and, under 7.1, non-revocable importers (EOPNOTSUPP); pin fails
 * EOPNOTSUPP under 6.19; map is ENODEV while revoked; revoke waits for
 * every unmap.
 */
export const vfioBar: ExporterDriver = {
  name: "vfio-bar",
  export(_m, w, owner, args) {
    const a = exportArgs.parse(args);
    const found = regionNamed(w, a.region);
    if (found === undefined) return err("EINVAL", `no region ${a.region}`);
    const ranges = [{ paddr: found[1].base + a.offset, len: a.length }];
    return ok(
      createDmaBuf(w, {
        exporter: "vfio-bar",
        owner,
        size: a.length,
        priv: encodedWith(privCodec, { ranges, cache: a.cache }),
      }),
    );
  },
  revokeWaitsForUnmap: () => true,
  offers(m, w, buf) {
    const owner = mustBuf(w, buf).owner;
    const out: ExporterOffer[] = [];
    if (m.profile.mappingTypes.includes(kvmPfn)) out.push(offer(kvmPfn, { mmio: true }));
    out.push(offer(sgt, { requiresP2P: true, p2pDevice: owner }));
    return out;
  },
  attach: vfioLikeAttach,
  pin: vfioLikePin,
  unpin: (_m, w) => ({ world: w, events: [] }),
  map(m, w, att) {
    const a = mustAtt(w, att);
    if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the dma-buf is revoked");
    if (a.mapType === "kvm-pfn") {
      const payload = mappingPayload(kvmPfn, {
        ranges: rangesOf(w, a.buf),
        mmio: true,
        cache: privOf(w, a.buf).cache,
      });
      return ok({ world: w, events: [], mapping: { payload, grants: [], iova: [] } });
    }
    return mapSgtable(m, w, att, rangesOf(w, a.buf));
  },
  unmap: (_m, w, _att, mapping) => ({ world: dmaUnmapIova(w, mapping.iova), events: [] }),
  release: (_m, w) => ({ world: w, events: [] }),
};
