/**
 * The VFIO type1 IOMMU backend's driver name in the machine: the module
 * `vfio_iommu_type1` (drivers/vfio/vfio_iommu_type1.c), the container's
 * `VFIO_TYPE1v2_IOMMU` that `VFIO_IOMMU_MAP_DMA` reaches.
 *
 * @category Drivers
 */
export const VFIO_TYPE1 = "vfio-type1";

/**
 * `PAGE_SIZE` on x86-64: the least `iommu->pgsize_bitmap` is raised to (`vfio_update_pgsize_bitmap`).
 *
 * @category Drivers
 */
export const VFIO_TYPE1_PAGE_SIZE = 0x1000n;
