/**
 * The KVM importer's driver name (kernel-model §5.1).
 *
 * @category Drivers
 */
export const KVM = "kvm";

/**
 * `KVM_MEM_VFIO_DMABUF` (1 << 3), the memslot flag of Xu Yilun's RFC for
 * `KVM_SET_USER_MEMORY_REGION2`: the dma-buf fd travels in the
 * `guest_memfd` field (kernel-model §5.1).
 *
 * @category uAPI
 */
export const KVM_MEM_VFIO_DMABUF = 1 << 3;

/**
 * `KVM_MEM_LOG_DIRTY_PAGES` (1 << 0): dirty logging, which a dma-buf memslot refuses (kernel-model §5.1).
 *
 * @category uAPI
 */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;

/**
 * `KVM_MEM_READONLY` (1 << 1): guest stores exit to userspace instead of reaching memory.
 *
 * @category uAPI
 */
export const KVM_MEM_READONLY = 1 << 1;

/**
 * `KVM_MEM_GUEST_MEMFD` (1 << 2): a guest_memfd slot, which a dma-buf memslot cannot also be (kernel-model §5.1).
 *
 * @category uAPI
 */
export const KVM_MEM_GUEST_MEMFD = 1 << 2;

/**
 * `PAGE_SIZE` on x86-64: one guest frame (GFN) and one host frame (PFN) (kernel-model §5.1).
 *
 * @category Drivers
 */
export const KVM_PAGE = 0x1000n;

/**
 * The largest `max_order` `get_pfn` reports in the model: 1 GiB (a PUD, order 18 of 4 KiB pages; kernel-model §5.1).
 *
 * @category Drivers
 */
export const KVM_MAX_ORDER = 18;
