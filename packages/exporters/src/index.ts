/**
 * `@dmabuf-ref/exporters`: exporter drivers (the model of each driver's
 * `dma_buf_ops`) over `@dmabuf-ref/core`.
 *
 * @packageDocumentation
 */
export { vfioPciExporter } from "./vfio-pci/driver.js";
export type { VfioPciSlices } from "./vfio-pci/driver.js";
export {
  vfioOptionsFor,
  vfioProfileOptions,
  vfioProfileOptionsSchema,
} from "./vfio-pci/profile-options.js";
export type { VfioProfileOptions } from "./vfio-pci/profile-options.js";
export { isVfioPciExporter } from "./vfio-pci/config.js";
export type { VfioPciExporter } from "./vfio-pci/config.js";
export {
  VFIO_PCI_ROM_REGION_INDEX,
  vfioBarConfigSchema,
  vfioCloseOrderSchema,
  vfioDeviceConfigSchema,
  vfioPciConfigSchema,
} from "./vfio-pci/config.js";
export type {
  VfioBarConfig,
  VfioCloseOrder,
  VfioDeviceConfig,
  VfioPciConfig,
  VfioPciConfigInput,
} from "./vfio-pci/config.js";
export { vfioPciActionSchema } from "./vfio-pci/actions.js";
export type { VfioPciAction } from "./vfio-pci/actions.js";
export { O_CLOEXEC, O_RDWR, vfioExportArgsSchema } from "./vfio-pci/export-args.js";
export type { VfioExportArgs } from "./vfio-pci/export-args.js";
export { KMALLOC_MAX_SIZE } from "./vfio-pci/vfio_pci_dmabuf.js";
export {
  vfioDeviceFeatureIoctl,
  vfioDeviceResetIoctl,
  vfioHotResetIoctl,
  vfioPciConfigOf,
  vfioIoctlActionSchema,
} from "./vfio-pci/vfio_main.js";
export {
  VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE,
  VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR,
  VFIO_DMABUF_MEMATTR_NC,
  VFIO_DMABUF_MEMATTR_WC,
  encodeDmaBufRevokeFeature,
  encodeDmaBufMemattrFeature,
} from "./vfio-pci/vfio_pci_dmabuf_revoke.js";
export type { DmaBufFdFeatureArgs } from "./vfio-pci/vfio_pci_dmabuf_revoke.js";
export {
  VFIO_CONFIG_SPACE_SIZE,
  PCI_COMMAND,
  PCI_COMMAND_MEMORY,
  VFIO_PM_CAP,
  VFIO_PMCSR,
  PCI_PM_CTRL_STATE_MASK,
  VFIO_PCIE_CAP,
  VFIO_PCIE_DEVCTL,
  PCI_EXP_DEVCTL_BCR_FLR,
  configChunks,
  vfioConfigWrite,
} from "./vfio-pci/vfio_pci_config.js";
export type { ConfigChunk } from "./vfio-pci/vfio_pci_config.js";
export {
  DMA_IOVA_USE_SWIOTLB,
  fillPhysVec,
  validateDmaRanges,
} from "./vfio-pci/vfio_pci_dmabuf.js";
export { PAGE_SIZE } from "./vfio-pci/page.js";
export { SG_ENTRY_MAX } from "./vfio-pci/vfio_pci_dmabuf_ops.js";
export { vfioGetPfn } from "./vfio-pci/vfio_pci_dmabuf_ops.js";
export { vfioOffers } from "./vfio-pci/offers.js";
export { INITIAL_DEVICE_STATE, vfioMemoryEnabled } from "./vfio-pci/state.js";
export type { VfioDeviceState, VfioPowerState } from "./vfio-pci/state.js";
export type { VfioDmaBufPriv, VfioKrefState } from "./vfio-pci/vfio_pci_dmabuf.js";
export type { VfioVma } from "./vfio-pci/vma.js";
export type { VfioOpKind, VfioOperation } from "./vfio-pci/operation.js";
export { vfioDeviceState, vfioDmaBufPriv, vfioOperations, vfioVmas } from "./vfio-pci/inspect.js";
export { GPU_PAGE_SIZE, gpuExporter, isGpuExporter } from "./gpu/driver.js";
export type { GpuExporter } from "./gpu/driver.js";
export { gpuConfigSchema, gpuDeviceConfigSchema, gpuSriovConfigSchema } from "./gpu/config.js";
export type { GpuConfig, GpuConfigInput, GpuDeviceConfig, GpuSriovConfig } from "./gpu/config.js";
export { gpuActionSchema, gpuExportArgsSchema, gpuPlacementSchema } from "./gpu/actions.js";
export type { GpuAction, GpuExportArgs, GpuPlacement } from "./gpu/actions.js";
export { iovInterconnect } from "./gpu/iov-interconnect.js";
export { rfcMappingTypesV1Iov } from "./gpu/iov-profile.js";
export { gpuOffers } from "./gpu/offers.js";
export { gpuGetPfn } from "./gpu/get-pfn.js";
export { gpuPrivOf, gpuSliceOf } from "./gpu/state.js";
export type { GpuBoPriv, GpuDriverState, GpuMove, GpuMoves } from "./gpu/state.js";
export type { GpuSlices } from "./gpu/driver.js";
export type { VfioOpQueue, VfioVmaSpace } from "./vfio-pci/slices.js";
export {
  RDMA_PAGE_SIZE,
  isRdmaExporter,
  rdmaExporter,
  rdmaOffers,
  rdmaPrivOf,
} from "./rdma/driver.js";
export type { RdmaDmaBufPriv, RdmaExporter } from "./rdma/driver.js";
export {
  rdmaActionSchema,
  rdmaConfigSchema,
  rdmaDeviceConfigSchema,
  rdmaExportArgsSchema,
} from "./rdma/config.js";
export type {
  RdmaAction,
  RdmaConfig,
  RdmaConfigInput,
  RdmaDeviceConfig,
  RdmaExportArgs,
} from "./rdma/config.js";
