import type { PhysVec } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import type { IommufdArea, IommufdPages } from "./types.js";

/** One contiguous piece of an area as the IOMMU maps it: IOVA -> physical. */
export interface AreaChunk {
  /** First IOVA of the piece. */
  readonly iova: bigint;
  /** CPU physical address of its first byte. */
  readonly phys: bigint;
  /** Bytes. */
  readonly len: bigint;
}

/**
 * The bytes `[offset, offset + length)` of a list of physical ranges laid
 * end to end, as physical pieces (a multi-range dma-buf walked with
 * cur_index/cur_base, kernel-facts §4.3).
 *
 * @param ranges - the ranges in buffer order.
 * @param offset - byte offset into their concatenation.
 * @param length - bytes wanted.
 * @returns the pieces; throws if the ranges are too short (a model bug).
 */
export function sliceRanges(
  ranges: readonly PhysVec[],
  offset: bigint,
  length: bigint,
): readonly PhysVec[] {
  const out: PhysVec[] = [];
  let skip = offset;
  let want = length;
  for (const r of ranges) {
    if (want === 0n) break;
    if (skip >= r.len) {
      skip -= r.len;
      continue;
    }
    const take = r.len - skip < want ? r.len - skip : want;
    out.push({ paddr: r.paddr + skip, len: take });
    want -= take;
    skip = 0n;
  }
  if (want !== 0n) throw new Error("iommufd: physical ranges shorter than the area");
  return out;
}

/**
 * The pieces the IOMMU maps for an area (`batch_to_domain`): none for a
 * revoked dma-buf, one for user memory, one per physical range crossed for
 * a dma-buf.
 *
 * @param area - the area.
 * @param pages - its pages.
 * @returns the pieces, at consecutive IOVAs from the area's first.
 */
export function areaChunks(area: IommufdArea, pages: IommufdPages): readonly AreaChunk[] {
  return match(pages)
    .returnType<readonly AreaChunk[]>()
    .with({ kind: "user" }, (p) => [
      { iova: area.iova, phys: p.phys + area.offset, len: area.length },
    ])
    .with({ kind: "dmabuf" }, (p) => {
      let iova = area.iova;
      return sliceRanges(p.phys, p.start + area.offset, p.phys.length === 0 ? 0n : area.length).map(
        (r) => {
          const chunk = { iova, phys: r.paddr, len: r.len };
          iova += r.len;
          return chunk;
        },
      );
    })
    .exhaustive();
}
