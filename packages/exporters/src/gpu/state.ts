import { driverState, mustBuf, setDriverState } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import type { GpuPlacement } from "./actions.js";
import type { GpuConfig } from "./config.js";

/**
 * The GPU exporter's `dmabuf->priv`: the buffer object (`struct
 * ttm_buffer_object`, kernel-facts §1.1) behind one dma-buf: the GPU, its
 * current placement (`bo->resource`) and the sub-region its pages occupy.
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

/**
 * The GPU driver's slice of the world: the moves in progress (where each
 * BO lives is its carved region's).
 */
export interface GpuDriverState {
  /** Moves in progress, oldest first. */
  readonly moves: readonly GpuMove[];
}

const EMPTY: GpuDriverState = { moves: [] };

/**
 * The driver's slice.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the slice.
 */
export function gpuSliceOf(m: Machine, w: World, config: GpuConfig): GpuDriverState {
  return driverState<GpuDriverState>(m, w, config.name, EMPTY);
}

/**
 * Replaces the driver's slice.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param s - the new slice.
 * @returns the new world.
 */
export function setGpuSlice(m: Machine, w: World, config: GpuConfig, s: GpuDriverState): World {
  return setDriverState(m, w, config.name, s);
}

/**
 * The GPU private data of a buffer (a buffer of another exporter is a bug).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the private data.
 */
export function gpuPrivOf(w: World, buf: number): GpuBoPriv {
  return mustBuf(w, buf).priv as GpuBoPriv;
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
  return { ...w, bufs: w.bufs.set(buf, { ...b, priv }) };
}
