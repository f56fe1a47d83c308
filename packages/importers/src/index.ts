/**
 * `@dmabuf-ref/importers`: importer drivers (the model of each driver's
 * `dma_buf_attach_ops` and uAPI) over `@dmabuf-ref/core`.
 *
 * @packageDocumentation
 */
export {
  IOMMUFD,
  IOMMUFD_APERTURE_LAST,
  IOMMUFD_GLOBAL_DEVICE,
  IOMMUFD_IOVA_ALIGNMENT,
  IOMMUFD_MAX_NPFNS,
  IOMMUFD_MSI_WINDOW,
} from "./iommufd/constants.js";
export type { IovaInterval } from "./iommufd/constants.js";
export { iommufdImporter } from "./iommufd/driver.js";
export { iommufdConfigSchema } from "./iommufd/config.js";
export type { IommufdConfig } from "./iommufd/config.js";
export { iommufdAccepts } from "./iommufd/accepts.js";
export { iommufdActionSchema } from "./iommufd/action.js";
export type { IommufdAction } from "./iommufd/action.js";
export type { IoctlOptions } from "./iommufd/main.js";
export type { AttachDeviceOptions } from "./iommufd/device.js";
export { iommufdAccessRw } from "./iommufd/device.js";
export { iommufdCutIova } from "./iommufd/io_pagetable.js";
export { iommufdImportCapabilities, iommufdImportCapability } from "./iommufd/capability.js";
export type { ImportCapability } from "./iommufd/capability.js";
export type { ImportStage } from "./iommufd/pages-dmabuf.js";
export { CAPABILITY_PROPOSAL_BANNER, renderImportCapabilities } from "./iommufd/capability-text.js";
export { iommufdStateOf } from "./iommufd/objects.js";
export { iommufdSelftestMock, iommufdTestCmd } from "./iommufd/selftest.js";
export type {
  IommufdArea,
  IommufdAreaRef,
  IommufdDevice,
  IommufdDmabufPages,
  IommufdIoas,
  IommufdPages,
  IommufdPagesEntry,
  IommufdHwpt,
  IommufdDeviceObject,
  IommufdHwptObject,
  IommufdIoasObject,
  IommufdObject,
  IommufdState,
  IommufdTrack,
  IommufdUserPages,
  IommufdCtx,
  IommufdDeviceAttachment,
  IommufdFilePages,
} from "./iommufd/types.js";
export {
  KVM,
  KVM_MAX_ORDER,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MEM_VFIO_DMABUF,
  KVM_PAGE,
} from "./kvm/constants.js";
export { kvmAccepts, kvmImporter } from "./kvm/driver.js";
export { kvmProfileOptions, kvmProfileOptionsSchema } from "./kvm/profile-options.js";
export type { KvmProfileOptions } from "./kvm/profile-options.js";
export { rdmaProfileOptions, rdmaProfileOptionsSchema } from "./rdma/profile-options.js";
export type { RdmaProfileOptions } from "./rdma/profile-options.js";
export { iommufdProfileOptions, iommufdProfileOptionsSchema } from "./iommufd/profile-options.js";
export type { IommufdProfileOptions } from "./iommufd/profile-options.js";
export type { KvmMemslotArgs, KvmMemslotStage } from "./kvm/memslot.js";
export { stage2Covers } from "./kvm/fault.js";
export type { KvmGuestAccessArgs, KvmGuestAccessOutcome } from "./kvm/access.js";
export type { KvmFaultArgs, KvmFaultOutcome } from "./kvm/fault.js";
export type { KvmCacheAttr } from "./kvm/state.js";
export { kvmInvalidateMappings } from "./kvm/invalidate.js";
export { kvmActionSchema } from "./kvm/action.js";
export type { KvmAction } from "./kvm/action.js";
export { kvmStateOf } from "./kvm/state.js";
export type { KvmSlot, KvmStage2Entry, KvmState } from "./kvm/state.js";
export { RDMA_IMPORTERS } from "./rdma/constants.js";
export type { RdmaImporterName } from "./rdma/constants.js";
export {
  rdmaAccepts,
  rdmaOdpImporter,
  rdmaPinnedImporter,
  rdmaPinnedRevocableImporter,
} from "./rdma/driver.js";
export type { RdmaImporter, RdmaSlices } from "./rdma/driver.js";
export type { IommufdSlices } from "./iommufd/objects.js";
export type { KvmSlices } from "./kvm/driver.js";
export type { KvmMemslot } from "./kvm/state.js";
export type { IbUmemDmabufGetArgs, UmemGetStage } from "./rdma/umem.js";
export { rdmaOdpInvalidate } from "./rdma/odp.js";
export type { RdmaOdpFaultArgs } from "./rdma/odp.js";
export { rdmaPinnedRevoke } from "./rdma/revocable.js";
export { rdmaActionSchema } from "./rdma/action.js";
export type { RdmaAction } from "./rdma/action.js";
export { rdmaStateOf } from "./rdma/state.js";
export type { RdmaState, RdmaUmem } from "./rdma/state.js";
export { VFIO_TYPE1, VFIO_TYPE1_PAGE_SIZE } from "./vfio-type1/constants.js";
export { vfioType1Importer, vfioType1ActionSchema } from "./vfio-type1/driver.js";
export type { VfioType1Action, VfioType1Slices } from "./vfio-type1/driver.js";
export { vfioDmaDoMap, vfioDmaDoUnmap } from "./vfio-type1/vfio_dma.js";
export type { VfioDmaMapArgs, VfioDmaMapFlag, VfioDmaUnmapArgs } from "./vfio-type1/vfio_dma.js";
export { vaddrGetPfns } from "./vfio-type1/vaddr_get_pfns.js";
export type { UserPfns } from "./vfio-type1/vaddr_get_pfns.js";
export { vfioDmaList, vfioType1StateOf } from "./vfio-type1/state.js";
export type { VfioDma, VfioDmaChunk, VfioType1State } from "./vfio-type1/state.js";
