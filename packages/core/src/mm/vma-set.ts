/*
 * A process's VMA list as a value (mm/mmap.c's VMA tree, kept as a sorted
 * array: a VMM has tens of mappings, and the state stays O(mappings)).
 * Every function returns a canonical list: sorted, non-overlapping, and
 * with adjacent compatible VMAs merged, as `vma_merge()` merges them.
 */
import type { Vma, VmaBacking } from "../world/mm-state.js";
import { MM_PAGE_SIZE } from "./layout.js";

/**
 * A backing moved `delta` bytes into itself (the part of a VMA from
 * `vm_start + delta`, as `split_vma()` computes the new `vm_pgoff`).
 */
function advance(b: VmaBacking, delta: bigint): VmaBacking {
  switch (b.kind) {
    case "memfd":
    case "device":
    case "dmabuf":
      return { ...b, offset: b.offset + delta };
    case "none":
      return b;
    default: {
      const never: never = b;
      throw new Error(`mm: unknown VMA backing ${JSON.stringify(never)}`);
    }
  }
}

/** Whether `b` continues `a` exactly: same object, contiguous offsets, same protection. */
function continues(a: Vma, b: Vma): boolean {
  if (a.end !== b.start || a.read !== b.read || a.write !== b.write) return false;
  const x = a.backing;
  const y = b.backing;
  const span = a.end - a.start;
  switch (x.kind) {
    case "none":
      return y.kind === "none";
    case "memfd":
      return y.kind === "memfd" && y.memfd === x.memfd && y.offset === x.offset + span;
    case "device":
      return (
        y.kind === "device" &&
        y.device === x.device &&
        y.region === x.region &&
        y.offset === x.offset + span
      );
    case "dmabuf":
      return y.kind === "dmabuf" && y.buf === x.buf && y.offset === x.offset + span;
    default: {
      const never: never = x;
      throw new Error(`mm: unknown VMA backing ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The list with `[start, end)` cleared and `vma` (if given, covering exactly
 * that range) put in its place: what `do_vmi_munmap()` followed by the new
 * mapping does, the VMAs cut at the edges keeping their offsets right.
 *
 * @param vmas - the canonical list.
 * @param start - first address (page aligned).
 * @param end - one past the last (page aligned).
 * @param vma - the new VMA, or undefined to leave the range uncovered.
 * @returns the canonical list.
 * @kernel mm/vma.c do_vmi_munmap
 */
export function replaceRange(
  vmas: readonly Vma[],
  start: bigint,
  end: bigint,
  vma: Vma | undefined,
): readonly Vma[] {
  const out: Vma[] = [];
  for (const v of vmas) {
    if (v.end <= start || v.start >= end) {
      out.push(v);
      continue;
    }
    if (v.start < start) out.push({ ...v, end: start });
    if (v.end > end) out.push({ ...v, start: end, backing: advance(v.backing, end - v.start) });
  }
  if (vma !== undefined) out.push(vma);
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return merged(out);
}

function merged(sorted: readonly Vma[]): readonly Vma[] {
  const out: Vma[] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && continues(last, v)) out[out.length - 1] = { ...last, end: v.end };
    else out.push(v);
  }
  return out;
}

/**
 * The VMA holding an address (`find_vma()` + the `vm_start <= addr` check).
 *
 * @param vmas - the canonical list.
 * @param va - a user address.
 * @returns the VMA, or undefined where none is (anonymous memory).
 * @kernel mm/mmap.c find_vma
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vmaHolding } from "@dmabuf-ref/core";
 * import type { Vma } from "@dmabuf-ref/core";
 *
 * // A 2 MiB memfd mapping at 0x7f00_0000_0000.
 * const vmas: readonly Vma[] = [
 *   {
 *     start: 0x7f00_0000_0000n,
 *     end: 0x7f00_0020_0000n,
 *     read: true,
 *     write: true,
 *     backing: { kind: "memfd", memfd: 1, offset: 0n },
 *   },
 * ];
 * assert.equal(vmaHolding(vmas, 0x7f00_0010_0000n), vmas[0]);
 * // Past vm_end: anonymous memory, no VMA.
 * assert.equal(vmaHolding(vmas, 0x7f00_0020_0000n), undefined);
 * ```
 * @category Drivers
 */
export function vmaHolding(vmas: readonly Vma[], va: bigint): Vma | undefined {
  let lo = 0;
  let hi = vmas.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = vmas[mid];
    if (v === undefined) break;
    if (va < v.start) hi = mid - 1;
    else if (va >= v.end) lo = mid + 1;
    else return v;
  }
  return undefined;
}

/** One piece of a range: an explicit VMA's part, or `undefined` for anonymous memory. */
export interface RangePiece {
  /** First address of the piece. */
  readonly start: bigint;
  /** One past its last address. */
  readonly end: bigint;
  /** The VMA it lies in, or undefined (anonymous memory). */
  readonly vma: Vma | undefined;
}

/**
 * `[start, end)` cut at every VMA boundary, in address order: each piece
 * lies inside one VMA or in anonymous memory between VMAs.
 *
 * @param vmas - the canonical list.
 * @param start - first address.
 * @param end - one past the last (> start).
 * @returns the pieces, covering the range exactly.
 */
export function piecesOf(vmas: readonly Vma[], start: bigint, end: bigint): readonly RangePiece[] {
  const out: RangePiece[] = [];
  let at = start;
  for (const v of vmas) {
    if (v.end <= at) continue;
    if (v.start >= end) break;
    if (v.start > at) out.push({ start: at, end: v.start, vma: undefined });
    const to = v.end < end ? v.end : end;
    out.push({ start: v.start > at ? v.start : at, end: to, vma: v });
    at = to;
  }
  if (at < end) out.push({ start: at, end, vma: undefined });
  return out;
}

/**
 * Where a mapping of `len` bytes goes when the caller names no address:
 * the highest page-aligned range below `top` and at or above one page that
 * no mapping overlaps (`vm_unmapped_area()` searching top-down). Unmapped
 * (`none`) ranges are free; anonymous memory the model assumes everywhere
 * is not a mapping (a real process would not have it there).
 *
 * @param vmas - the canonical list.
 * @param len - bytes (page aligned, > 0).
 * @param top - the address the search starts below (`mmap_base`).
 * @returns the address, or undefined when nothing fits (`ENOMEM`).
 * @kernel mm/mmap.c vm_unmapped_area
 */
export function highestFreeRange(
  vmas: readonly Vma[],
  len: bigint,
  top: bigint,
): bigint | undefined {
  const used = vmas.filter((v) => v.backing.kind !== "none");
  let ceiling = top;
  for (let i = used.length - 1; i >= -1; i--) {
    const v = used[i];
    const floor = v === undefined ? MM_PAGE_SIZE : v.end > MM_PAGE_SIZE ? v.end : MM_PAGE_SIZE;
    if (ceiling >= floor + len) return ceiling - len;
    if (v !== undefined && v.start < ceiling) ceiling = v.start;
  }
  return undefined;
}
