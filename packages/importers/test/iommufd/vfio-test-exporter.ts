/**
 * A minimal VFIO-like exporter written against core's ExporterDriver, for
 * the iommufd tests (importers never import the real exporters).
 */
import {
  arrayCodec,
  createDmaBuf,
  decodedWith,
  encodedWith,
  err,
  mappingPayload,
  mustAtt,
  mustBuf,
  offer,
  ok,
  pal,
  physVecCodec,
  provideSymbol,
  recordCodec,
  regionNamed,
  sgt,
  vfioIommufdMapSymbol,
  vfioIommufdPrivate,
} from "@dmabuf-ref/core";
import type { ExporterDriver, PhysVec, World } from "@dmabuf-ref/core";
import * as z from "zod";
import { vfioLikeAttach, vfioLikePin } from "../support/vfio-rules.js";

const exportArgs = z.object({
  region: z.string(),
  ranges: z.array(z.object({ offset: z.bigint(), length: z.bigint() })).min(1),
  revoked: z.boolean().default(false),
});
const privCodec = recordCodec<{ readonly ranges: readonly PhysVec[] }>("vfio-test-priv", {
  ranges: arrayCodec(physVecCodec),
});

/** The test exporter's arguments: BAR ranges of a region. */
export type VfioTestArgs = z.input<typeof exportArgs>;

function rangesOf(w: World, buf: number): readonly PhysVec[] {
  return decodedWith(mustBuf(w, buf).priv, privCodec, "test exporter priv").ranges;
}

/**
 * A minimal VFIO-like exporter (kernel-model §2.3, §2.7): BAR ranges as a
 * dma-buf; offers [vfio-iommufd-private, sgt(P2P)] (or [pal, sgt(P2P)]
 * where the profile has PAL); attach refuses !P2P (EOPNOTSUPP), revoked
 * (ENODEV) and, under 7.1, non-revocable importers (EOPNOTSUPP); pin per
 * the profile (6.19: EOPNOTSUPP); map only for PAL; the private phys hook
 * answers ENODEV when revoked and EOPNOTSUPP for more than one range.
 */
export const vfioTest: ExporterDriver = {
  name: "vfio-test",
  export(_m, w, owner, args) {
    const a = exportArgs.parse(args);
    const found = regionNamed(w, a.region);
    if (found === undefined) return err("EINVAL", `no region ${a.region}`);
    const base = found[1].base;
    const ranges = a.ranges.map((r) => ({ paddr: base + r.offset, len: r.length }));
    const size = ranges.reduce((s, r) => s + r.len, 0n);
    const created = createDmaBuf(w, {
      exporter: "vfio-test",
      owner,
      size,
      revoked: a.revoked,
      priv: encodedWith(privCodec, { ranges }),
    });
    return ok(created);
  },
  revokeWaitsForUnmap: () => true,
  offers(m, w, buf) {
    const owner = mustBuf(w, buf).owner;
    const p2p = offer(sgt, { requiresP2P: true, p2pDevice: owner });
    return m.profile.mappingTypes.includes(pal)
      ? [offer(pal, { provider: owner }), p2p]
      : [offer(vfioIommufdPrivate, {}), p2p];
  },
  attach: vfioLikeAttach,
  pin: vfioLikePin,
  unpin: (_m, w) => ({ world: w, events: [] }),
  map(_m, w, att) {
    const a = mustAtt(w, att);
    // The exporter maps its own type; through a converter core converts after.
    if (a.exporterType !== "pal") return err("EOPNOTSUPP", "VFIO maps only through PAL here");
    if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the dma-buf is revoked");
    return ok({
      world: w,
      events: [],
      mapping: { payload: mappingPayload(pal, { phys: rangesOf(w, a.buf) }), grants: [], iova: [] },
    });
  },
  unmap: (_m, w) => ({ world: w, events: [] }),
  symbols: [
    provideSymbol(vfioIommufdMapSymbol, (_m, w, att) => {
      const a = mustAtt(w, att);
      if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the dma-buf is revoked");
      const ranges = rangesOf(w, a.buf);
      if (ranges.length !== 1) return err("EOPNOTSUPP", `${ranges.length} ranges, not 1`);
      return ok(ranges);
    }),
  ],
  release: (_m, w) => ({ world: w, events: [] }),
};
