/*
 * An accelerator exporting its HBM as dma-bufs, written against
 * `@dmabuf-ref/core`'s public API only. It offers the UALink type first
 * (fabric addresses for a port on its pod) and an SGT after it (a PCIe
 * peer maps the HBM through the host bridge); it revokes through core's
 * revoke program and frees its memory at release.
 */
import {
  attachRevocable,
  createDmaBuf,
  decodedWith,
  defineDriver,
  mapSgtable,
  dmaUnmapIova,
  driverOptions,
  encodedWith,
  err,
  firstFitIn,
  grantAccess,
  mappingPayload,
  mustAtt,
  mustBuf,
  offer,
  ok,
  p2pMapType,
  recordCodec,
  regionNamed,
  setRegionStatus,
  sgt,
  stringCodec,
  u64Codec,
  u64Schema,
} from "@dmabuf-ref/core";
import type {
  DriverStep,
  ExporterDriver,
  MapStep,
  Machine,
  Profile,
  Result,
  World,
} from "@dmabuf-ref/core";
import * as z from "zod";
import { ACCELERATOR, FABRIC, HBM, POD } from "./hardware.js";
import { UALINK_EXPORTER } from "./profile.js";
import { ualink } from "./ualink-type.js";

/** 4 KiB: buffers are whole pages. */
const PAGE = 0x1000n;
/** The most pages one buffer may hold (a bound, so explored worlds stay small). */
const MAX_PAGES = 512n;

/** zod schema of the exporter's export arguments (its allocation ioctl reduced to a size). */
export const ualinkExportArgsSchema = z.strictObject({
  /** Bytes; rounded up to whole pages, 1 to 512 pages. */
  size: u64Schema,
});

/**
 * The exporter's options a profile states under its name
 * (`profile.drivers["ualink-exporter"]`); a profile that states none
 * gets the defaults.
 */
export const ualinkExporterOptionsSchema = z
  .strictObject({
    /**
     * The revoke waits for every importer's unmap before it returns (as
     * VFIO's does since v7.1): only then may the HBM be handed out again.
     */
    waitsForUnmap: z.boolean().default(true),
  })
  .default({ waitsForUnmap: true });

/** Where one buffer lies: its first physical byte and the name of its carved region. */
interface HbmBuffer {
  /** CPU physical address of the buffer's first byte in the HBM. */
  readonly phys: bigint;
  /** The region the buffer was carved as (freed at release). */
  readonly region: string;
}

const hbmBufferCodec = recordCodec<HbmBuffer>("ualink-exporter-priv", {
  phys: u64Codec,
  region: stringCodec,
});

/** How the exporter is set up: its name and the accelerator memory it exports. */
export interface UalinkExporterOptions {
  /** The driver's name (default `ualink-exporter`). */
  readonly name?: string;
  /** The HBM region it carves buffers from (default `acc0.hbm`); its `device` is the accelerator. */
  readonly hbm?: string;
  /** The fabric its offers name (default `ual0`). */
  readonly fabric?: string;
  /** The accelerator's pod (default 0). */
  readonly pod?: number;
}

/**
 * An accelerator's HBM exporter (`struct dma_buf_ops` of an accelerator
 * driver with UALink ports): exports whole pages of HBM, offers
 * `[ualink, sgt(P2P)]`, and
 * - maps a `ualink` attachment to fabric address ranges for the
 *   importing port (which must sit on the accelerator's pod), granting
 *   that port the buffer's memory;
 * - maps an `sgt` attachment through the DMA API of the importing PCIe
 *   device (P2P to the HBM's BAR, bus address or IOVA);
 * - refuses an attachment that is not revocable (`EOPNOTSUPP`, as VFIO
 *   since v7.1): its revoke waits for every importer's unmap;
 * - is revocable through core's revoke program, refuses attach and map
 *   with `ENODEV` once revoked, and frees the HBM at release.
 *
 * @param opts - its name, HBM region, fabric and pod.
 * @param profile - the profile in force, whose `drivers[name]` may state
 *   {@link ualinkExporterOptionsSchema}.
 * @returns the exporter driver.
 *
 * @example
 * ```ts
 * const m = defineMachine({
 *   profile: ualinkRfc,
 *   topology: ualinkTopology,
 *   exporters: [ualinkExporter({}, ualinkRfc)],
 *   importers: [ualinkImporter()],
 * });
 * ```
 */
export function ualinkExporter(
  opts: UalinkExporterOptions = {},
  profile?: Profile,
): ExporterDriver {
  const name = opts.name ?? UALINK_EXPORTER;
  const hbm = opts.hbm ?? HBM;
  const fabric = opts.fabric ?? FABRIC;
  const pod = opts.pod ?? POD;
  const { waitsForUnmap } =
    profile === undefined
      ? ualinkExporterOptionsSchema.parse(undefined)
      : driverOptions(profile, name, ualinkExporterOptionsSchema);
  const bufferOf = (w: World, buf: number): HbmBuffer =>
    decodedWith(mustBuf(w, buf).priv, hbmBufferCodec, `dma-buf ${buf}'s priv`);
  const accelerator = (m: Machine): string =>
    m.topology.regions.find((r) => r.id === hbm)?.device ?? ACCELERATOR;
  const revokedError = err("ENODEV", "the HBM buffer is revoked");

  function mapUalink(m: Machine, w: World, att: number): Result<MapStep> {
    const a = mustAtt(w, att);
    const b = mustBuf(w, a.buf);
    if (a.device === null) return err("EINVAL", "a UALink mapping needs the importing port");
    if (p2pMapType(m.topology, b.owner, a.device) !== "bus-addr")
      return err("EINVAL", () => `port ${a.device ?? ""} is not on ${b.owner}'s pod`);
    const { phys, region } = bufferOf(w, a.buf);
    const carved = regionNamed(w, region);
    if (carved === undefined) throw new Error(`${name}: region ${region} vanished`);
    const granted = grantAccess(w, { device: a.device, phys, len: b.size, write: true, att });
    if (granted === undefined) throw new Error(`${name}: no memory at 0x${phys.toString(16)}`);
    const payload = mappingPayload(ualink, {
      ranges: [{ fabricAddr: phys + carved[1].busOffset, length: b.size }],
    });
    return ok({
      world: granted.world,
      events: [],
      mapping: { payload, grants: [granted.id], iova: [] },
    });
  }

  function mapSgt(m: Machine, w: World, att: number): Result<MapStep> {
    const a = mustAtt(w, att);
    const { phys } = bufferOf(w, a.buf);
    return mapSgtable(m, w, att, [{ paddr: phys, len: mustBuf(w, a.buf).size }]);
  }

  return defineDriver({
    role: "exporter",
    name,
    slices: {},
    callbacks: {
      export(m, w, owner, args) {
        const parsed = ualinkExportArgsSchema.safeParse(args);
        if (!parsed.success)
          return err(
            "EINVAL",
            () => `bad export arguments: ${parsed.error.issues[0]?.message ?? ""}`,
          );
        if (owner !== accelerator(m))
          return err("ENODEV", () => `${owner} is not the accelerator owning ${hbm}`);
        const size = ((parsed.data.size + PAGE - 1n) / PAGE) * PAGE;
        if (size === 0n || size > MAX_PAGES * PAGE)
          return err("EINVAL", "length must be 1 to 512 pages");
        const hbmRegion = regionNamed(w, hbm);
        if (hbmRegion === undefined) return err("ENODEV", () => `no HBM region ${hbm}`);
        const phys = firstFitIn(w, hbm, size);
        if (phys === undefined) return err("ENOMEM", () => `${hbm} is full`);
        const region = `${hbm}.buf${w.bufs.lowestFreeId()}`;
        const created = createDmaBuf(w, {
          exporter: name,
          owner,
          size,
          priv: encodedWith(hbmBufferCodec, { phys, region }),
        });
        // A region an earlier buffer of the same id left behind (freed) is taken over.
        const rid = regionNamed(created.world, region)?.[0] ?? created.world.regions.lowestFreeId();
        const world: World = {
          ...created.world,
          regions: created.world.regions.set(rid, {
            id: region,
            kind: "vram",
            base: phys,
            size,
            // The carved buffer keeps the HBM's fabric window, so a fabric
            // address of the buffer routes to it (and to it only).
            busOffset: hbmRegion[1].busOffset,
            device: owner,
            status: "live",
          }),
        };
        return ok({ world, events: created.events, buf: created.buf });
      },
      revokeWaitsForUnmap: () => waitsForUnmap,
      offers: (_m, w, buf) => [
        offer(ualink, { fabric, pod }),
        offer(sgt, { requiresP2P: true, p2pDevice: mustBuf(w, buf).owner }),
      ],
      attach(_m, w, att) {
        const a = mustAtt(w, att);
        if (mustBuf(w, a.buf).revoked !== "usable") return revokedError;
        // The revoke waits for every unmap: an importer that cannot be told
        // to unmap (static, or without invalidate_mappings) would hang it.
        if (!attachRevocable(a))
          return err("EOPNOTSUPP", "the attachment is not dma_buf_attach_revocable()");
        return ok({ world: w, events: [] });
      },
      map(m, w, att) {
        const a = mustAtt(w, att);
        if (mustBuf(w, a.buf).revoked !== "usable") return revokedError;
        return a.exporterType === ualink.id ? mapUalink(m, w, att) : mapSgt(m, w, att);
      },
      // The grants are ended by core when the unmap returns; only the
      // IOVA an SGT map allocated is the exporter's to give back.
      unmap: (_m, w, _att, mapping): DriverStep => ({
        world: dmaUnmapIova(w, mapping.iova),
        events: [],
      }),
      release(_m, w, buf): DriverStep {
        const { region } = bufferOf(w, buf);
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
