import {
  createDmaBuf,
  defineDriver,
  dmaMapRanges,
  dmaUnmapIova,
  encodedWith,
  err,
  mappingPayload,
  mustAtt,
  mustBuf,
  ok,
  pal,
  regionNamed,
  mapSgtable,
  stepOf,
} from "@dmabuf-ref/core";
import type {
  DefinedExporter,
  ExporterDriver,
  ExportStep,
  Machine,
  MapStep,
  Result,
  SliceDef,
  World,
} from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import * as z from "zod";
import { gpuActionSchema, gpuCandidates, gpuExportArgsSchema } from "./actions.js";
import { gpuConfigSchema } from "./config.js";
import { gpuGetPfn } from "./get-pfn.js";
import type { GpuConfig, GpuConfigInput } from "./config.js";
import { iovInterconnect } from "./iov-interconnect.js";
import {
  carve,
  freeRegion,
  gpuAct,
  gpuDevice,
  gpuPending,
  placementRegion,
  reserve,
} from "./move.js";
import { gpuOffers } from "./offers.js";
import { gpuBoPrivCodec, gpuMovesSlice, gpuPrivOf } from "./state.js";
import type { GpuBoPriv, GpuMoves } from "./state.js";

/**
 * 4 KiB: BOs are whole pages (`PAGE_SIZE` on x86-64).
 *
 * @category Drivers
 */
export const GPU_PAGE_SIZE = 0x1000n;

// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
/**
 * The GPU driver's slices by name.
 *
 * @category Drivers
 */
export type GpuSlices = {
  /** The buffer-object moves in flight, in arrival order. */
  readonly moves: SliceDef<GpuMoves>;
};

/**
 * The GPU exporter driver: core's {@link ExporterDriver} plus its configuration.
 *
 * @category Drivers
 */
export interface GpuExporter extends DefinedExporter<GpuSlices, typeof gpuActionSchema> {
  /** The validated configuration: the GPUs, their VRAM and system regions. */
  readonly gpu: GpuConfig;
}

function exportBo(
  m: Machine,
  w: World,
  config: GpuConfig,
  owner: string,
  args: unknown,
): Result<ExportStep> {
  const parsed = gpuExportArgsSchema.safeParse(args);
  if (!parsed.success) {
    return err(
      "EINVAL",
      () => `bad gpu export arguments: ${parsed.error.issues[0]?.message ?? ""}`,
    );
  }
  const d = config.devices.find((x) => x.id === owner);
  if (d === undefined) return err("ENODEV", () => `${config.name} drives no GPU ${owner}`);
  const size = ((parsed.data.size + GPU_PAGE_SIZE - 1n) / GPU_PAGE_SIZE) * GPU_PAGE_SIZE;
  if (size === 0n) return err("EINVAL", "a buffer object is at least one page");
  const placement = parsed.data.placement;
  const parent = placementRegion(d, placement);
  const reserved = reserve(m, w, config, parent, size);
  if (!reserved.ok) return reserved;
  const buf = reserved.value.world.bufs.lowestFreeId();
  const region = `${owner}.bo${buf}.0`;
  const priv: GpuBoPriv = {
    device: owner,
    placement,
    phys: reserved.value.phys,
    region,
    generation: 0,
  };
  const created = createDmaBuf(reserved.value.world, {
    exporter: config.name,
    owner,
    size,
    priv: encodedWith(gpuBoPrivCodec, priv),
  });
  return ok({
    world: carve(created.world, parent, region, reserved.value.phys, size),
    events: created.events,
    buf: created.buf,
  });
}

const exporterTypeSchema = z.enum(["sgt", "pal", "iov-interconnect", "kvm-pfn"]);

function gpuMap(m: Machine, w: World, config: GpuConfig, att: number): Result<MapStep> {
  const a = mustAtt(w, att);
  const b = mustBuf(w, a.buf);
  if (b.revoked !== "usable") return err("ENODEV", "the buffer is revoked");
  const priv = gpuPrivOf(w, a.buf);
  const range = { paddr: priv.phys, len: b.size };
  const type = exporterTypeSchema.safeParse(a.exporterType);
  if (!type.success) return err("EINVAL", () => `${config.name} cannot map ${a.exporterType}`);
  const dmaMap = (device: string | null): ReturnType<typeof dmaMapRanges> =>
    device === null
      ? err("EINVAL", "no DMA device to map for")
      : dmaMapRanges(m, w, device, [range], { att, write: true });
  return match(type.data)
    .returnType<Result<MapStep>>()
    .with("sgt", () => {
      if (priv.placement === "vram" && !a.peer2peer) {
        return err("EINVAL", "the BO is in VRAM and the attachment does not allow peer2peer");
      }
      return mapSgtable(m, w, att, [range]);
    })
    .with("pal", () =>
      ok({
        world: w,
        events: [],
        mapping: { payload: mappingPayload(pal, { phys: [range] }), grants: [], iova: [] },
      }),
    )
    .with("kvm-pfn", () => gpuGetPfn(w, priv.placement, range))
    .with("iov-interconnect", () => {
      if (priv.placement !== "vram") return err("EINVAL", "the BO is not in VRAM");
      const mapped = dmaMap(a.device);
      if (!mapped.ok) return mapped;
      const vram = regionNamed(w, gpuDevice(config, priv.device).vram);
      if (vram === undefined) throw new Error(`${config.name}: VRAM region vanished`);
      const start = priv.phys - vram[1].base;
      const payload = mappingPayload(iovInterconnect, {
        pf: priv.device,
        ranges: [{ start, end: start + b.size - 1n }],
      });
      const { world, grants, iova } = mapped.value;
      return ok({ world, events: [], mapping: { payload, grants, iova } });
    })
    .exhaustive();
}

/**
 * A TTM-like GPU exporter (drivers/gpu/drm/ttm, amdgpu/xe dma-buf ops;
 * kernel-model §1.1–§1.3, §4.1, §4.4): buffer objects placed in VRAM or
 * system pages, moved by eviction and migration.
 *
 * @remarks
 * A move locks resv, invalidates every dynamic attachment
 * (`dma_buf_invalidate_mappings`, a move and not a revoke: importers may
 * re-map and see the new placement), waits for the BOOKKEEP fences, frees
 * the old placement (its sub-region becomes inaccessible), carves the new
 * one and unlocks: `act` starts it and `pending` offers its `continue` once
 * the fences signalled (drive it with core's `runScript`). `pin` keeps the
 * BO in place: moving a pinned BO fails with `EBUSY` as in TTM. Under
 * linux-6.19 (`rules.dynamicImportersMoveCapable` false) core pins every
 * mapped attachment on map because this exporter has a `pin` op, so the GPU
 * pins instead of moving. Offers follow the profile ({@link gpuOffers}):
 * `sgt` (system pages, or VRAM through P2P), `pal` under converters (with a
 * hypothetical `kvm-pfn` for KVM, {@link gpuGetPfn}), and the
 * {@link iovInterconnect} type for SR-IOV PFs when a profile lists it (no
 * built-in profile does yet). Not modelled: amdgpu's migration to GTT for
 * non-P2P importers at pin or map (such a map of a VRAM BO is `EINVAL`).
 *
 * @param input - the GPUs (validated with zod; a bad config throws).
 * @returns the exporter driver, named "gpu" by default.
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
 * import { gpuExporter, gpuPrivOf } from "@dmabuf-ref/exporters";
 *
 * // gpu0 and 16 MiB of VRAM, added to the reference machine (system pages from ram0).
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "gpu0.vram", kind: "vram", base: 0x6000000000n, size: 0x1000000n, device: "gpu0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "gpu0", switch: "sw0" }],
 * });
 * const gpu = gpuExporter({ devices: [{ id: "gpu0", vram: "gpu0.vram", system: "ram0" }] });
 * const m = defineMachine({ profile: linux71, topology, exporters: [gpu], importers: [] });
 * const args = { size: 0x10000n, placement: "vram" };
 * const r = step(m, boot(m), { kind: "export", exporter: "gpu", owner: "gpu0", args });
 * assert.ok(r.status === "done" && r.created !== undefined);
 * // A 64 KiB buffer object in VRAM, exported as dma-buf 1.
 * assert.equal(r.created, 1);
 * assert.equal(gpuPrivOf(r.world, r.created).placement, "vram");
 * ```
 * @category Drivers
 */
export function gpuExporter(input: GpuConfigInput): GpuExporter {
  const config = gpuConfigSchema.parse(input);
  const driver = defineDriver({
    role: "exporter",
    name: config.name,
    slices: { moves: gpuMovesSlice },
    actions: {
      schema: gpuActionSchema,
      models: {
        evict: "ttm_bo_evict(): the buffer object leaves VRAM for system pages",
        migrate: "ttm_bo_validate() into another placement",
        continue: "the move's next stage, once the fences it waits for signalled",
      },
      run: (m, w, action) => stepOf(w, gpuAct(m, w, config, action)),
    },
    callbacks: {
      export: (m, w, owner, args) => exportBo(m, w, config, owner, args),
      offers: (m, w, buf) => {
        const priv = gpuPrivOf(w, buf);
        return gpuOffers(m.profile, gpuDevice(config, priv.device), priv);
      },
      pin: (_m, w) => ok({ world: w, events: [] }),
      unpin: (_m, w) => ({ world: w, events: [] }),
      map: (m, w, att) => gpuMap(m, w, config, att),
      unmap: (_m, w, _att, mapping) => ({ world: dmaUnmapIova(w, mapping.iova), events: [] }),
      release: (_m, w, buf) => freeRegion(w, gpuPrivOf(w, buf).region, mustBuf(w, buf).owner),
      pending: (m, w) => gpuPending(m, w, config),
      candidates: (_m, w) => gpuCandidates(w, config.name),
    },
  });
  return Object.freeze({ ...driver, gpu: config });
}

/**
 * Whether an exporter driver is a GPU one.
 *
 * @param d - an exporter driver.
 * @returns true for drivers made by {@link gpuExporter}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpuExporter, isGpuExporter, rdmaExporter } from "@dmabuf-ref/exporters";
 *
 * const gpu = gpuExporter({ devices: [{ id: "gpu0", vram: "gpu0.vram", system: "ram0" }] });
 * const rdma = rdmaExporter({ devices: [{ id: "nic0", bar: "nic0.bar0" }] });
 * assert.ok(isGpuExporter(gpu));
 * assert.equal(isGpuExporter(gpu) ? gpu.gpu.name : undefined, "gpu");
 * assert.equal(isGpuExporter(rdma), false);
 * ```
 * @category Drivers
 */
export function isGpuExporter(d: ExporterDriver): d is GpuExporter {
  return "gpu" in d;
}
