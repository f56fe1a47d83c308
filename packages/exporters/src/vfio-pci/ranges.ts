import { U64_MAX, err, ok } from "@dmabuf-ref/core";
import type { PhysVec, Result, VfioRegionDmaRange } from "@dmabuf-ref/core";

/** `PAGE_SIZE` on x86-64: ranges must be multiples of it (kernel-facts §2.2 step 4). */
export const PAGE_SIZE = 0x1000n;

/** `DMA_IOVA_USE_SWIOTLB`: bit 63 of a total length is refused (kernel-facts §2.2 step 4). */
export const DMA_IOVA_USE_SWIOTLB = 1n << 63n;

/**
 * `validate_dmabuf_input()` (kernel-facts §2.2 step 4): every range has a
 * non-zero length and a page-aligned offset and length, else `-EINVAL`; the
 * total (a `size_t`) must not overflow and must not have bit 63 set
 * (`DMA_IOVA_USE_SWIOTLB`), else `-EINVAL`.
 *
 * @param ranges - the copied `dma_ranges[]`.
 * @returns the total length (the future `dmabuf->size`), or the errno.
 */
export function validateDmaRanges(ranges: readonly VfioRegionDmaRange[]): Result<bigint> {
  let total = 0n;
  for (const [i, r] of ranges.entries()) {
    if (r.length === 0n) return err("EINVAL", () => `dma_ranges[${i}] has length 0`);
    if (r.offset % PAGE_SIZE !== 0n || r.length % PAGE_SIZE !== 0n) {
      return err("EINVAL", () => `dma_ranges[${i}] is not PAGE_ALIGNED`);
    }
    total += r.length;
    if (total > U64_MAX) return err("EINVAL", "the total length overflows size_t");
  }
  if ((total & DMA_IOVA_USE_SWIOTLB) !== 0n) {
    return err("EINVAL", "the total length has bit 63 (DMA_IOVA_USE_SWIOTLB) set");
  }
  return ok(total);
}

/**
 * `vfio_pci_core_fill_phys_vec()` (kernel-facts §2.2 step 5): per range in
 * array order, `paddr = bar_start + offset`; overflow of that or of
 * `paddr + length` is `-EOVERFLOW`; a range ending past
 * `bar_start + bar_len` is `-EINVAL`.
 *
 * @param ranges - the validated ranges.
 * @param barStart - `pci_resource_start(pdev, bar)`.
 * @param barLen - `pci_resource_len(pdev, bar)`.
 * @returns the `phys_vec[]`, or the errno.
 */
export function fillPhysVec(
  ranges: readonly VfioRegionDmaRange[],
  barStart: bigint,
  barLen: bigint,
): Result<PhysVec[]> {
  const maxAddr = barStart + barLen;
  const out: PhysVec[] = [];
  for (const [i, r] of ranges.entries()) {
    if (r.length === 0n) return err("EINVAL", () => `dma_ranges[${i}] has length 0`);
    const paddr = barStart + r.offset;
    const end = paddr + r.length;
    if (paddr > U64_MAX || end > U64_MAX) {
      return err("EOVERFLOW", () => `dma_ranges[${i}]: BAR start + offset + length overflows`);
    }
    if (end > maxAddr) return err("EINVAL", () => `dma_ranges[${i}] ends past the end of the BAR`);
    out.push({ paddr, len: r.length });
  }
  return ok(out);
}
