import * as z from "zod";
import type { Codec } from "./encoding/codec.js";
import { recordCodec, u64Codec } from "./encoding/codecs.js";

/**
 * 2^64 - 1, the largest value a `__u64` holds (`U64_MAX`).
 *
 * @category Mapping types
 */
export const U64_MAX = (1n << 64n) - 1n;

/**
 * zod schema for a `__u64` quantity (address, length, IOVA) as a bigint.
 *
 * @remarks
 * Accepts a bigint, a safe non-negative integer, or a decimal or `0x…`
 * string, so YAML and JSON files can spell values above 2^53 exactly
 * (DESIGN §5: bigint for every u64).
 * @category Mapping types
 */
export const u64Schema = z
  .union([
    z.bigint(),
    z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    z.string().regex(/^(0[xX][0-9a-fA-F]+|[0-9]+)$/, "expected a decimal or 0x-prefixed integer"),
  ])
  .transform((v) => BigInt(v))
  .pipe(z.bigint().min(0n).max(U64_MAX, "does not fit in a __u64"));

/**
 * zod schema for a device name in the simulated machine (a PCI function such
 * as `vfio0`, or a driver's DMA device such as `iommufd`).
 *
 * @category Mapping types
 */
export const deviceIdSchema = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9_.:-]+$/, "device names use letters, digits and . _ : -");

/**
 * A physical or DMA address range `{ addr, len }` (the kernel's `struct phys_vec`).
 *
 * @category Mapping types
 */
export const physVecSchema = z.object({
  /** Start address (`phys_addr_t paddr`). */
  paddr: u64Schema,
  /** Length in bytes (`size_t len`). */
  len: u64Schema,
});

/**
 * One entry of a `struct phys_vec` list: `paddr` and `len`, both u64.
 *
 * @category Mapping types
 */
export type PhysVec = z.output<typeof physVecSchema>;

/**
 * How a `struct phys_vec` encodes in the World: start, then length.
 *
 * @category Mapping types
 */
export const physVecCodec: Codec<PhysVec> = recordCodec<PhysVec>("phys_vec", {
  paddr: u64Codec,
  len: u64Codec,
});

/**
 * The bytes `[offset, offset + size)` of a list of physical ranges laid end
 * to end, as physical pieces: how a multi-range dma-buf is walked
 * (`cur_index`/`cur_base` over its `phys_vec[]`).
 *
 * @param phys - the ranges, in buffer order.
 * @param offset - byte offset into their concatenation.
 * @param size - bytes wanted.
 * @returns the pieces, or undefined when the ranges end first.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slicePhysVecs } from "@dmabuf-ref/core";
 *
 * // A dma-buf of two BAR ranges, 64 KiB each; read 32 KiB across their seam.
 * const phys = [
 *   { paddr: 0x4000000000n, len: 0x10000n },
 *   { paddr: 0x4000100000n, len: 0x10000n },
 * ];
 * assert.deepEqual(slicePhysVecs(phys, 0xc000n, 0x8000n), [
 *   { paddr: 0x400000c000n, len: 0x4000n },
 *   { paddr: 0x4000100000n, len: 0x4000n },
 * ]);
 * assert.equal(slicePhysVecs(phys, 0x18000n, 0x10000n), undefined);
 * ```
 * @category Mapping types
 */
export function slicePhysVecs(
  phys: readonly PhysVec[],
  offset: bigint,
  size: bigint,
): PhysVec[] | undefined {
  const out: PhysVec[] = [];
  let skip = offset;
  let left = size;
  for (const p of phys) {
    if (left === 0n) break;
    if (skip >= p.len) {
      skip -= p.len;
      continue;
    }
    const len = p.len - skip < left ? p.len - skip : left;
    out.push({ paddr: p.paddr + skip, len });
    left -= len;
    skip = 0n;
  }
  return left === 0n ? out : undefined;
}
