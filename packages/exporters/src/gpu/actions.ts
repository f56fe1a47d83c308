import * as z from "zod";
import { u64Schema } from "@dmabuf-ref/core";
import type { Op, World } from "@dmabuf-ref/core";

/**
 * A TTM placement (`TTM_PL_VRAM` or system pages, kernel-model §1.1).
 *
 * @category Drivers
 */
export const gpuPlacementSchema = z.enum(["vram", "system"]);

/**
 * A buffer object's placement (see {@link gpuPlacementSchema}).
 *
 * @category Drivers
 */
export type GpuPlacement = z.output<typeof gpuPlacementSchema>;

/**
 * The GPU exporter's export arguments (a GEM/TTM buffer object created and
 * exported with `drm_gem_prime_export()` → `dma_buf_export()`, kernel-model §1.1).
 *
 * @category uAPI
 */
export const gpuExportArgsSchema = z.object({
  /** Bytes; rounded up to whole pages, at least one page. */
  size: u64Schema,
  /** The initial placement (default VRAM). */
  placement: gpuPlacementSchema.default("vram"),
});

/**
 * The GPU export arguments (see {@link gpuExportArgsSchema}).
 *
 * @category uAPI
 */
export type GpuExportArgs = z.output<typeof gpuExportArgsSchema>;

const buf = z.number().int().nonnegative();

/**
 * The GPU driver's actions (core `driver` ops): TTM eviction and migration
 * of a buffer object (a *move*, kernel-model §1.2: invalidate, the importer
 * may re-map), and the `continue` of a move that `pending` offers.
 *
 * @category Drivers
 */
export const gpuActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** `ttm_bo_evict()`: VRAM → system. */
    op: z.literal("evict"),
    /** The dma-buf id of the buffer object. */
    buf,
    /** The destination; eviction always goes to system pages. */
    to: z.literal("system").default("system"),
  }),
  z.strictObject({
    /** `ttm_bo_validate()` into another placement. */
    op: z.literal("migrate"),
    /** The dma-buf id of the buffer object. */
    buf,
    /** The destination placement. */
    to: gpuPlacementSchema,
  }),
  z.strictObject({
    /** Runs the next stage of a move (offered by `pending`). */
    op: z.literal("continue"),
    /** The move's id. */
    id: z.number().int().nonnegative(),
  }),
]);

/**
 * One GPU action (see {@link gpuActionSchema}).
 *
 * @category Drivers
 */
export type GpuAction = z.output<typeof gpuActionSchema>;

/**
 * The GPU's own moves that could run now, for core's `candidateOps`: for
 * every buffer object it exported, an eviction and a migration into each
 * placement (TTM under memory pressure or on a validate).
 *
 * @param w - the world.
 * @param driver - the GPU driver's name.
 * @returns the ops, as `driver` ops of this driver.
 */
export function gpuCandidates(w: World, driver: string): readonly Op[] {
  const ops: Op[] = [];
  for (const [buf, b] of w.bufs.entries()) {
    if (b.exporter !== driver) continue;
    ops.push({ kind: "driver", driver, action: { op: "evict", buf } });
    for (const to of gpuPlacementSchema.options) {
      ops.push({ kind: "driver", driver, action: { op: "migrate", buf, to } });
    }
  }
  return ops;
}
