import { gpuPlacementSchema } from "./actions.js";
import {
  arrivalOrder,
  arrivalPush,
  arrivalQueueSlice,
  arrivalRemove,
  bufWith,
  decodedWith,
  encodedWith,
  intCodec,
  mustBuf,
  oneOfCodec,
  readSlice,
  recordCodec,
  stringCodec,
  u64Codec,
  worldWith,
  writeSlice,
} from "@dmabuf-ref/core";
import { pushString, pushU64 } from "@dmabuf-ref/core/encoding";
import type { ArrivalQueue, Codec, Machine, SliceDef, World } from "@dmabuf-ref/core";
import type { GpuPlacement } from "./actions.js";
import type { GpuConfig } from "./config.js";

/**
 * The GPU exporter's `dmabuf->priv`: the buffer object (`struct
 * ttm_buffer_object`, kernel-model §1.1) behind one dma-buf: the GPU, its
 * current placement (`bo->resource`) and the sub-region its pages occupy.
 *
 * @kernel include/drm/ttm/ttm_bo.h ttm_buffer_object
 * @category Drivers
 */
export interface GpuBoPriv {
  /** The GPU that owns the BO. */
  readonly device: string;
  /** The current placement. */
  readonly placement: GpuPlacement;
  /** CPU physical base of the current backing store. */
  readonly phys: bigint;
  /** The carved sub-region backing the BO now (freed on move and release). */
  readonly region: string;
  /** Which of its two sub-region names backs the BO now (0 or 1; a move flips it). */
  readonly generation: number;
}

/**
 * One move in progress (`ttm_bo_handle_move_mem`): the resv is held by
 * `holder`, the dynamic attachments have been invalidated and the move waits
 * for the BOOKKEEP fences before it copies and frees the old placement.
 *
 * @kernel drivers/gpu/drm/ttm/ttm_bo.c ttm_bo_handle_move_mem
 * @category Drivers
 */
export interface GpuMove {
  /** The move's id (its `continue` action names it). */
  readonly id: number;
  /** The dma-buf id of the BO. */
  readonly buf: number;
  /** The destination placement. */
  readonly to: GpuPlacement;
  /** CPU physical base of the new backing store, reserved when the move began. */
  readonly phys: bigint;
  /** The resv holder name of the move. */
  readonly holder: string;
}

/** The placements as small integers (the codec's enum words). */
const PLACEMENT_CODE: Readonly<Record<GpuPlacement, number>> = { vram: 0, system: 1 };

/**
 * Canonical encoding of a {@link GpuMove} (one `ttm_bo_handle_move_mem` in
 * flight): every field, the placement as a small integer.
 */
export const gpuMoveCodec: Codec<GpuMove> = {
  seed: 0x6b0e,
  encode(mv, out) {
    out.push(mv.id, mv.buf, PLACEMENT_CODE[mv.to]);
    pushU64(out, mv.phys);
    pushString(out, mv.holder);
  },
};

/**
 * The GPU driver's moves in flight: by id (lowest free; the `continue`
 * action and the resv holder name it), and the order they started in,
 * which is the order `pending` offers their `continue`.
 *
 * @category Drivers
 */
export type GpuMoves = ArrivalQueue<GpuMove>;

/**
 * The GPU driver's slice: its moves in flight (see {@link GpuMoves}).
 *
 * @category Drivers
 */
export const gpuMovesSlice: SliceDef<GpuMoves> = arrivalQueueSlice("moves", gpuMoveCodec);

/**
 * The GPU driver's state as a plain value, for tests and the CLI: the moves
 * in progress (where each BO lives is its carved region's).
 *
 * @category Drivers
 */
export interface GpuDriverState {
  /** Moves in progress, oldest first. */
  readonly moves: readonly GpuMove[];
}

/**
 * The driver's moves in flight, oldest first.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the slice as a plain value.
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
 * import { gpuExporter, gpuSliceOf } from "@dmabuf-ref/exporters";
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
 * // TTM evicts the BO to system pages: a move starts and stays in flight.
 * const evict = { op: "evict", buf: r.created };
 * const moving = step(m, r.world, { kind: "driver", driver: "gpu", action: evict });
 * assert.ok(moving.status === "done");
 * assert.deepEqual(
 *   gpuSliceOf(m, moving.world, gpu.gpu).moves.map((mv) => mv.buf),
 *   [r.created],
 * );
 * ```
 * @category Drivers
 */
export function gpuSliceOf(m: Machine, w: World, config: GpuConfig): GpuDriverState {
  return { moves: arrivalOrder(readSlice(m, w, config.name, gpuMovesSlice)) };
}

/**
 * One move in flight.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param id - the move's id.
 * @returns the move, or undefined.
 */
export function gpuMoveOf(
  m: Machine,
  w: World,
  config: GpuConfig,
  id: number,
): GpuMove | undefined {
  return readSlice(m, w, config.name, gpuMovesSlice).byId.get(id);
}

/**
 * The id the next move gets: the lowest one no move in flight uses (ids
 * repeat, DESIGN §2a).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the id.
 */
export function nextMoveId(m: Machine, w: World, config: GpuConfig): number {
  return readSlice(m, w, config.name, gpuMovesSlice).byId.lowestFreeId();
}

/**
 * Records a move that started (the newest).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param move - the move; its id is free ({@link nextMoveId}).
 * @returns the new world.
 */
export function addMove(m: Machine, w: World, config: GpuConfig, move: GpuMove): World {
  const s = readSlice(m, w, config.name, gpuMovesSlice);
  return writeSlice(m, w, config.name, gpuMovesSlice, arrivalPush(s, move.id, move));
}

/**
 * Forgets a move that finished (its id is free again).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param id - the move's id.
 * @returns the new world.
 */
export function endMove(m: Machine, w: World, config: GpuConfig, id: number): World {
  const s = readSlice(m, w, config.name, gpuMovesSlice);
  return writeSlice(m, w, config.name, gpuMovesSlice, arrivalRemove(s, id));
}

/** How a {@link GpuBoPriv} is stored in the World (`dmabuf->priv`). */
export const gpuBoPrivCodec: Codec<GpuBoPriv> = recordCodec<GpuBoPriv>("gpu-bo", {
  device: stringCodec,
  placement: oneOfCodec(gpuPlacementSchema.options),
  phys: u64Codec,
  region: stringCodec,
  generation: intCodec,
});

/**
 * The GPU private data of a buffer (a buffer of another exporter is a bug).
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
 * const priv = gpuPrivOf(r.world, r.created);
 * assert.equal(priv.device, "gpu0");
 * assert.equal(priv.placement, "vram");
 * assert.equal(priv.phys, 0x6000000000n);
 * ```
 * @category Drivers
 */
export function gpuPrivOf(w: World, buf: number): GpuBoPriv {
  return decodedWith(mustBuf(w, buf).priv, gpuBoPrivCodec, `dma-buf ${buf}'s GPU priv`);
}

/**
 * Replaces a buffer's private data.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param priv - the new private data.
 * @returns the new world.
 */
export function withGpuPriv(w: World, buf: number, priv: GpuBoPriv): World {
  const b = mustBuf(w, buf);
  return worldWith(w, {
    bufs: w.bufs.set(buf, bufWith(b, { priv: encodedWith(gpuBoPrivCodec, priv) })),
  });
}
