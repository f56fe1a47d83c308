import {
  boolCodec,
  bufWith,
  createDmaBuf,
  decodedWith,
  defineDriver,
  dmaUnmapIova,
  encodedWith,
  err,
  fail,
  mappingPayload,
  mapSgtable,
  mustAtt,
  mustBuf,
  offer,
  ok,
  pal,
  recordCodec,
  regionNamed,
  sgt,
  step,
  stepOf,
  stringCodec,
  u64Codec,
  worldWith,
} from "@dmabuf-ref/core";
import type {
  Codec,
  DefinedExporter,
  Effect,
  ExporterDriver,
  ExporterOffer,
  ExportStep,
  Machine,
  MapStep,
  Profile,
  Result,
  StepOutcome,
  World,
} from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import * as z from "zod";
import { rdmaActionSchema, rdmaConfigSchema, rdmaExportArgsSchema } from "./config.js";
import type { RdmaConfig, RdmaConfigInput } from "./config.js";

/**
 * 4 KiB: mmap entries are whole pages (`PAGE_SIZE` on x86-64).
 *
 * @category Drivers
 */
export const RDMA_PAGE_SIZE = 0x1000n;

/**
 * The RDMA exporter's `dmabuf->priv` (`struct ib_uverbs_dmabuf_file`,
 * kernel-model §5.2): the NIC, the one `phys_vec` it maps, and whether its
 * `rdma_user_mmap_entry` still exists. The revoked state is core's.
 *
 * @category Drivers
 */
export interface RdmaDmaBufPriv {
  /** The NIC (the p2pdma provider). */
  readonly nic: string;
  /** CPU physical base of the window in the NIC BAR. */
  readonly phys: bigint;
  /** Its length. */
  readonly len: bigint;
  /** The mmap entry has not been removed yet. */
  readonly mmapEntry: boolean;
}

/** How an {@link RdmaDmaBufPriv} is stored in the World (`dmabuf->priv`). */
export const rdmaDmaBufPrivCodec: Codec<RdmaDmaBufPriv> = recordCodec<RdmaDmaBufPriv>(
  "ib_uverbs_dmabuf_file",
  { nic: stringCodec, phys: u64Codec, len: u64Codec, mmapEntry: boolCodec },
);

/**
 * The RDMA exporter driver: core's {@link ExporterDriver} plus its configuration.
 *
 * @category Drivers
 */
export interface RdmaExporter extends DefinedExporter<
  Readonly<Record<string, never>>,
  typeof rdmaActionSchema
> {
  /** The validated configuration: the NICs and their BARs. */
  readonly rdma: RdmaConfig;
}

/**
 * The RDMA exporter's offers, decided by the profile's types and converters
 * (never its name): `pal` (one `phys_vec`, the NIC as provider) only when
 * the profile has PAL and a PAL->SGT converter (kernel-model §4.4);
 * otherwise `sgt` requiring P2P with the NIC as exporting device (the
 * merged exporter maps through `dma_buf_phys_vec_to_sgt`, §1.4, §5.2). The
 * Feb 2026 RFC converts only VFIO and the selftest mock, so under it the
 * RDMA exporter offers `sgt`.
 *
 * @param profile - the profile in force.
 * @param nic - the exporting NIC.
 * @returns the offers.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux71, proposalConverters } from "@dmabuf-ref/core";
 * import { rdmaOffers } from "@dmabuf-ref/exporters";
 *
 * const [sgtOffer] = rdmaOffers(linux71, "nic0");
 * assert.equal(sgtOffer?.type.id, "sgt");
 * assert.deepEqual(sgtOffer?.data, { requiresP2P: true, p2pDevice: "nic0" });
 * // With the PAL->SGT converter the NIC offers only PAL.
 * assert.deepEqual(
 *   rdmaOffers(proposalConverters, "nic0").map((o) => o.type.id),
 *   ["pal"],
 * );
 * ```
 * @category Drivers
 */
export function rdmaOffers(profile: Profile, nic: string): ExporterOffer[] {
  const converted =
    profile.mappingTypes.includes(pal) &&
    profile.converters.some((c) => c.from === pal && c.to === sgt);
  if (converted) return [offer(pal, { provider: nic })];
  return profile.mappingTypes.includes(sgt)
    ? [offer(sgt, { requiresP2P: true, p2pDevice: nic })]
    : [];
}

/**
 * The RDMA private data of a buffer (a buffer of another exporter is a bug).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the private data.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   linux71,
 *   referenceTopology,
 *   step,
 *   topologySchema,
 * } from "@dmabuf-ref/core";
 * import { rdmaExporter, rdmaPrivOf } from "@dmabuf-ref/exporters";
 *
 * // nic0 and its 1 MiB BAR, added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "nic0.bar0", kind: "bar", base: 0x7000000000n, size: 0x100000n, device: "nic0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "nic0", switch: "sw0" }],
 * });
 * const rdma = rdmaExporter({ devices: [{ id: "nic0", bar: "nic0.bar0" }] });
 * const m = defineMachine({ profile: linux71, topology, exporters: [rdma], importers: [] });
 * const args = { size: 0x10000n, offset: 0x10000n };
 * const r = step(m, boot(m), { kind: "export", exporter: "rdma", owner: "nic0", args });
 * assert.ok(r.status === "done" && r.created !== undefined);
 * assert.deepEqual(rdmaPrivOf(r.world, r.created), {
 *   nic: "nic0",
 *   phys: 0x7000010000n,
 *   len: 0x10000n,
 *   mmapEntry: true,
 * });
 * ```
 * @category Drivers
 */
export function rdmaPrivOf(w: World, buf: number): RdmaDmaBufPriv {
  return decodedWith(mustBuf(w, buf).priv, rdmaDmaBufPrivCodec, `dma-buf ${buf}'s RDMA priv`);
}

function exportBuf(
  _m: Machine,
  w: World,
  config: RdmaConfig,
  owner: string,
  args: unknown,
): Result<ExportStep> {
  const parsed = rdmaExportArgsSchema.safeParse(args);
  if (!parsed.success) {
    return err(
      "EINVAL",
      () => `bad rdma export arguments: ${parsed.error.issues[0]?.message ?? ""}`,
    );
  }
  const d = config.devices.find((x) => x.id === owner);
  if (d === undefined) return err("ENODEV", () => `${config.name} drives no NIC ${owner}`);
  const { size, offset } = parsed.data;
  if (size === 0n || size % RDMA_PAGE_SIZE !== 0n || offset % RDMA_PAGE_SIZE !== 0n) {
    return err("EINVAL", "offset and size must be page aligned and size non-zero");
  }
  const bar = regionNamed(w, d.bar);
  if (bar === undefined) throw new Error(`${config.name}: no region ${d.bar}`);
  if (offset + size > bar[1].size) return err("EINVAL", () => `offset + size runs past ${d.bar}`);
  const priv: RdmaDmaBufPriv = {
    nic: owner,
    phys: bar[1].base + offset,
    len: size,
    mmapEntry: true,
  };
  return ok(
    createDmaBuf(w, {
      exporter: config.name,
      owner,
      size,
      priv: encodedWith(rdmaDmaBufPrivCodec, priv),
    }),
  );
}

const exporterTypeSchema = z.enum(["sgt", "pal"]);

function rdmaMap(m: Machine, w: World, config: RdmaConfig, att: number): Result<MapStep> {
  const a = mustAtt(w, att);
  if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the RDMA dma-buf is revoked");
  const priv = rdmaPrivOf(w, a.buf);
  const range = { paddr: priv.phys, len: priv.len };
  const type = exporterTypeSchema.safeParse(a.exporterType);
  if (!type.success) return err("EINVAL", () => `${config.name} cannot map ${a.exporterType}`);
  return match(type.data)
    .returnType<Result<MapStep>>()
    .with("sgt", () => {
      return mapSgtable(m, w, att, [range]);
    })
    .with("pal", () =>
      ok({
        world: w,
        events: [],
        mapping: { payload: mappingPayload(pal, { phys: [range] }), grants: [], iova: [] },
      }),
    )
    .exhaustive();
}

/**
 * `rdma_user_mmap_entry_remove()` of the entry behind a dma-buf: starts the
 * permanent revoke through core's `revoke` op (kernel-model §1.3, §5.2). An
 * unknown buffer is `ENOENT`, an entry already removed is `ENOENT`.
 */
function removeMmapEntry(m: Machine, w: World, config: RdmaConfig, buf: number): Result<Effect> {
  const b = w.bufs.get(buf);
  if (b === undefined || b.exporter !== config.name || b.released) {
    return err("ENOENT", () => `no RDMA dma-buf ${buf}`);
  }
  const priv = rdmaPrivOf(w, buf);
  if (!priv.mmapEntry)
    return err("ENOENT", () => `the mmap entry of buf ${buf} is already removed`);
  const r = step(m, w, { kind: "revoke", buf, permanent: true, by: "remove-mmap-entry" });
  return match(r)
    .returnType<Result<Effect>>()
    .with({ status: "failed" }, (x) => fail(x.error))
    .with({ status: "blocked" }, (x) => err("EBUSY", x.reason))
    .with({ status: "done" }, (x) => {
      const nb = mustBuf(x.world, buf);
      const world: World = worldWith(x.world, {
        bufs: x.world.bufs.set(
          buf,
          bufWith(nb, { priv: encodedWith(rdmaDmaBufPrivCodec, { ...priv, mmapEntry: false }) }),
        ),
      });
      return ok({ world, events: x.events });
    })
    .exhaustive();
}

/**
 * The RDMA uverbs DMABUF exporter ("RDMA/uverbs: Add DMABUF object type and
 * operations", 0ac6f4056c4a; kernel-model §5.2, mirroring VFIO's §2.3): one
 * page-aligned window of a NIC BAR per dma-buf.
 *
 * @remarks
 * `attach` refuses an attachment without peer2peer (`EOPNOTSUPP`); it has no
 * `dma_buf_attach_revocable()` check. `pin` always fails with `EOPNOTSUPP`
 * and `unpin` is empty, as merged, so pinned importers and static importers
 * (pin-on-map) cannot map it. `map` is `ENODEV` once revoked and maps the one
 * `phys_vec` through `dma_buf_phys_vec_to_sgt` (`EINVAL` when not P2P
 * reachable). Removing the mmap entry (the `remove-mmap-entry` action)
 * revokes for good with core's sequence, which waits for every unmap
 * (kref + completion). Offers: {@link rdmaOffers}.
 *
 * @param input - the NICs (validated with zod; a bad config throws).
 * @returns the exporter driver, named "rdma" by default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   linux71,
 *   referenceTopology,
 *   step,
 *   topologySchema,
 * } from "@dmabuf-ref/core";
 * import { rdmaExporter } from "@dmabuf-ref/exporters";
 *
 * // nic0 and its 1 MiB BAR, added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "nic0.bar0", kind: "bar", base: 0x7000000000n, size: 0x100000n, device: "nic0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "nic0", switch: "sw0" }],
 * });
 * const rdma = rdmaExporter({ devices: [{ id: "nic0", bar: "nic0.bar0" }] });
 * const m = defineMachine({ profile: linux71, topology, exporters: [rdma], importers: [] });
 * const args = { size: 0x10000n, offset: 0x10000n };
 * const r = step(m, boot(m), { kind: "export", exporter: "rdma", owner: "nic0", args });
 * assert.ok(r.status === "done" && r.created !== undefined);
 * // The dma-buf covers 64 KiB of the BAR from offset 64 KiB.
 * assert.equal(r.world.bufs.get(r.created)?.size, 0x10000n);
 * ```
 * @category Drivers
 */
export function rdmaExporter(input: RdmaConfigInput): RdmaExporter {
  const config = rdmaConfigSchema.parse(input);
  const driver = defineDriver({
    role: "exporter",
    name: config.name,
    slices: {},
    actions: {
      schema: rdmaActionSchema,
      models: {
        "remove-mmap-entry": "rdma_user_mmap_entry_remove() of the entry behind a dma-buf",
      },
      run: (m, w, a) =>
        match(a)
          .returnType<StepOutcome>()
          .with({ op: "remove-mmap-entry" }, (x) => stepOf(w, removeMmapEntry(m, w, config, x.buf)))
          .exhaustive(),
    },
    callbacks: {
      export: (m, w, owner, args) => exportBuf(m, w, config, owner, args),
      revokeWaitsForUnmap: () => true,
      offers: (m, w, buf) => rdmaOffers(m.profile, rdmaPrivOf(w, buf).nic),
      attach: (_m, w, att) =>
        mustAtt(w, att).peer2peer
          ? ok({ world: w, events: [] })
          : err("EOPNOTSUPP", "the RDMA dma-buf requires peer2peer"),
      pin: () => err("EOPNOTSUPP", "the RDMA dma-buf cannot be pinned"),
      unpin: (_m, w) => ({ world: w, events: [] }),
      map: (m, w, att) => rdmaMap(m, w, config, att),
      unmap: (_m, w, _att, mapping) => ({ world: dmaUnmapIova(w, mapping.iova), events: [] }),
      release: (_m, w) => ({ world: w, events: [] }),
    },
  });
  return Object.freeze({ ...driver, rdma: config });
}

/**
 * Whether an exporter driver is an RDMA one.
 *
 * @param d - an exporter driver.
 * @returns true for drivers made by {@link rdmaExporter}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpuExporter, isRdmaExporter, rdmaExporter } from "@dmabuf-ref/exporters";
 *
 * const gpu = gpuExporter({ devices: [{ id: "gpu0", vram: "gpu0.vram", system: "ram0" }] });
 * const rdma = rdmaExporter({ devices: [{ id: "nic0", bar: "nic0.bar0" }] });
 * assert.ok(isRdmaExporter(rdma));
 * assert.equal(isRdmaExporter(rdma) ? rdma.rdma.devices[0]?.bar : undefined, "nic0.bar0");
 * assert.equal(isRdmaExporter(gpu), false);
 * ```
 * @category Drivers
 */
export function isRdmaExporter(d: ExporterDriver): d is RdmaExporter {
  return "rdma" in d;
}
