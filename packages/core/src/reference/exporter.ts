import { defineDriver } from "../machine/define-driver.js";
import type { DmaBufState } from "../world/dmabuf-state.js";
import {
  decodedWith,
  encodedWith,
  isEncodedWith,
  recordCodec,
  stringCodec,
  u64Codec,
} from "../encoding/codecs.js";
import { mappingPayload } from "../mapping-types/define.js";
import * as z from "zod";
import type { DriverStep, ExporterDriver } from "../machine/machine.js";
import { err, ok } from "../errors/result.js";
import { dmaUnmapIova } from "../fabric/dma-map.js";
import { mapSgtable } from "../lifetime/map-sgtable.js";
import { firstFitIn, regionNamed, setRegionStatus } from "../fabric/regions.js";
import { provideSymbol } from "../machine/symbol.js";
import { vfioIommufdMapSymbol } from "../mapping-types/vfio-iommufd-private.js";
import { createDmaBuf } from "../lifetime/create.js";
import { pal } from "../mapping-types/pal.js";
import { sgt } from "../mapping-types/sgt.js";
import { offer } from "../negotiation/offer.js";
import { u64Schema } from "../schemas.js";
import { mustAtt, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";
import { worldWith } from "../world/world.js";

/** 4 KiB: buffers are whole pages (`PAGE_SIZE` on x86-64). */
const PAGE = 0x1000n;

/**
 * zod schema of the reference exporter's export arguments.
 *
 * @category Drivers
 */
export const referenceExportArgsSchema = z.object({
  /** Bytes; rounded up to whole pages, 1 to 512 pages (as the selftest mock). */
  size: u64Schema,
});

/**
 * The reference exporter's `dmabuf->priv`: where the buffer lies and its region's name.
 *
 * @category Drivers
 */
export interface RefExporterPriv {
  /** CPU physical address of the buffer's first byte. */
  readonly phys: bigint;
  /** The name of the region the buffer was carved as. */
  readonly region: string;
}

const refPrivCodec = recordCodec<RefExporterPriv>("ref-exporter-priv", {
  phys: u64Codec,
  region: stringCodec,
});

/**
 * The reference exporter's private data of a buffer, or undefined for a
 * buffer of another exporter.
 *
 * @param b - the buffer.
 * @returns its `dmabuf->priv`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, refExporterPriv, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 * ]);
 * const b = world.bufs.get(1);
 * assert.ok(b !== undefined);
 * // carved at the start of ram0, as the region exp0.buf1
 * assert.deepEqual(refExporterPriv(b), { phys: 0x1_0000_0000n, region: "exp0.buf1" });
 * ```
 *
 * @category Drivers
 */
export function refExporterPriv(b: DmaBufState): RefExporterPriv | undefined {
  return isEncodedWith(b.priv, refPrivCodec) ? b.priv.value : undefined;
}

/**
 * The reference exporter: a kernel-memory dma-buf like iommufd's selftest
 * mock (kernel-model §3.6), the minimal correct exporter for examples and
 * for core's tests before the real drivers exist.
 *
 * Each buffer is one physically contiguous range carved from a RAM region
 * (one range, as the mock); it offers one SGT that needs no P2P, is
 * revocable (core's revoke sequence, waiting for every unmap), refuses
 * attach and map with `ENODEV` while revoked, maps through the DMA API of
 * the importing device, and frees its pages at release (after which any
 * access is a violation).
 *
 * With `selftestHook` it also answers iommufd's private phys lookup, as the
 * selftest mock does under CONFIG_IOMMUFD_TEST (kernel-model §3.3 step 4,
 * §3.6): `ENODEV` when revoked, otherwise its one range. Where the profile
 * has PAL the mock is a PAL exporter, as in the Feb 2026 RFC (§4.3: "the
 * mock selftest exporter becomes a PAL exporter"): it offers `[pal, sgt]`
 * and `map_phys` returns its one range.
 *
 * @param opts - the driver's name, the RAM region it allocates from, and
 *   whether it has the iommufd selftest hook.
 * @returns the exporter driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceExporter, referenceMachine, step } from "@dmabuf-ref/core";
 *
 * const sysmem = referenceExporter({ name: "sysmem", region: "ram0" });
 * const m = referenceMachine({ exporters: [sysmem] });
 * const r = step(m, boot(m), {
 *   kind: "export",
 *   exporter: "sysmem",
 *   owner: "gpu0",
 *   args: { size: 0x1800 },
 * });
 * assert.ok(r.status === "done");
 * assert.equal(r.world.bufs.get(1)?.size, 0x2000n); // rounded up to whole pages
 * // more than 512 pages: EINVAL
 * const big = step(m, boot(m), {
 *   kind: "export",
 *   exporter: "sysmem",
 *   owner: "gpu0",
 *   args: { size: 0x20_1000 },
 * });
 * assert.equal(big.status, "failed");
 * ```
 *
 * @category Drivers
 */
export function referenceExporter(opts: {
  readonly name?: string;
  readonly region: string;
  readonly selftestHook?: boolean;
}): ExporterDriver {
  const name = opts.name ?? "ref-exporter";
  const privOf = (w: World, buf: number): RefExporterPriv =>
    decodedWith(mustBuf(w, buf).priv, refPrivCodec, `dma-buf ${buf}'s priv`);
  return defineDriver({
    role: "exporter",
    name,
    slices: {},
    callbacks: {
      export(_m, w, owner, args) {
        const parsed = referenceExportArgsSchema.safeParse(args);
        if (!parsed.success)
          return err(
            "EINVAL",
            () => `bad export arguments: ${parsed.error.issues[0]?.message ?? ""}`,
          );
        const size = ((parsed.data.size + PAGE - 1n) / PAGE) * PAGE;
        if (size === 0n || size > 512n * PAGE)
          return err("EINVAL", "length must be 1 to 512 pages");
        const next = firstFitIn(w, opts.region, size);
        if (next === undefined) return err("ENOMEM", () => `${opts.region} is full`);
        const created = createDmaBuf(w, {
          exporter: name,
          owner,
          size,
          priv: encodedWith(refPrivCodec, {
            phys: next,
            region: `${owner}.buf${w.bufs.lowestFreeId()}`,
          }),
        });
        const priv = privOf(created.world, created.buf);
        // A name an earlier buffer with the same id left behind is taken over.
        const rid =
          regionNamed(created.world, priv.region)?.[0] ?? created.world.regions.lowestFreeId();
        const world: World = worldWith(created.world, {
          regions: created.world.regions.set(rid, {
            id: priv.region,
            kind: "ram",
            base: next,
            size,
            busOffset: 0n,
            status: "live",
          }),
        });
        return ok({ world, events: created.events, buf: created.buf });
      },
      offers: (m) =>
        opts.selftestHook === true && m.profile.mappingTypes.includes(pal)
          ? [offer(pal, {}), offer(sgt, { requiresP2P: false })]
          : [offer(sgt, { requiresP2P: false })],
      attach(_m, w, att) {
        const a = mustAtt(w, att);
        if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the buffer is revoked");
        return ok({ world: w, events: [] });
      },
      map(m, w, att) {
        const a = mustAtt(w, att);
        const b = mustBuf(w, a.buf);
        if (b.revoked !== "usable") return err("ENODEV", "the buffer is revoked");
        const phys = [{ paddr: privOf(w, a.buf).phys, len: b.size }];
        if (a.exporterType === pal.id) {
          // map_phys: a copy of the one range; whoever programs it into an
          // IOMMU (iommufd, or core's converter) creates the access and its grant.
          const payload = mappingPayload(pal, { phys });
          return ok({ world: w, events: [], mapping: { payload, grants: [], iova: [] } });
        }
        return mapSgtable(m, w, att, phys);
      },
      unmap: (_m, w, _att, mapping): DriverStep => ({
        world: dmaUnmapIova(w, mapping.iova),
        events: [],
      }),
      ...(opts.selftestHook === true
        ? {
            symbols: [
              provideSymbol(vfioIommufdMapSymbol, (_m, w, att) => {
                const b = mustBuf(w, mustAtt(w, att).buf);
                if (b.revoked !== "usable") return err("ENODEV", "the mock dma-buf is revoked");
                return ok([{ paddr: privOf(w, mustAtt(w, att).buf).phys, len: b.size }]);
              }),
            ],
          }
        : {}),
      release(_m, w, buf): DriverStep {
        const region = privOf(w, buf).region;
        const found = regionNamed(w, region);
        if (found === undefined) throw new Error(`${name}: region ${region} vanished`);
        return {
          world: setRegionStatus(w, found[0], "freed"),
          events: [
            { kind: "region", actor: mustBuf(w, buf).owner, region, status: "inaccessible" },
          ],
        };
      },
    },
  });
}
