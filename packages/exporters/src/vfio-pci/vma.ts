/**
 * A process's `mmap()` of a VFIO dma-buf (Matt Evans, "Support mmap() of a
 * VFIO DMABUF", kernel-model §2.6): a shared VMA over part of the buffer.
 * It holds a reference to the dma-buf's file; revoke zaps its PTEs and the
 * fault handler refuses to re-insert them while the buffer is revoked.
 *
 * @category Drivers
 */
export interface VfioVma {
  /** The process that mapped it. */
  readonly process: string;
  /** The dma-buf id. */
  readonly buf: number;
  /** The user virtual address of the first byte. */
  readonly addr: bigint;
  /** Length in bytes (whole pages). */
  readonly len: bigint;
  /** Byte offset into the dma-buf (`vm_pgoff << PAGE_SHIFT`). */
  readonly offset: bigint;
  /** The caching the buffer's MEMATTR gave it when mapped: NC (0) or WC (1). */
  readonly memattr: number;
}
