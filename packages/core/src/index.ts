/**
 * `@dmabuf-ref/core`: the vocabulary and rules of dma-buf mapping-type
 * negotiation and revoke, with no driver specifics (DESIGN §2).
 *
 * @packageDocumentation
 */
export { ERRNO_NAMES, ERRNO_NUMBERS, errnoNumber, errnoSchema } from "./errors/errno.js";
export type { Errno } from "./errors/errno.js";
export { formatKernelError, kernelError, textReader } from "./errors/kernel-error.js";
export type { KernelError, LazyText } from "./errors/kernel-error.js";
export { err, fail, ok } from "./errors/result.js";
export type { Err, Ok, Result } from "./errors/result.js";
export {
  U64_MAX,
  deviceIdSchema,
  physVecCodec,
  physVecSchema,
  slicePhysVecs,
  u64Schema,
} from "./schemas.js";
export type { PhysVec } from "./schemas.js";

export {
  defineMappingType,
  isPayloadOf,
  mappingPayload,
  payloadAs,
} from "./mapping-types/define.js";
export type {
  AnyMappingType,
  MappingType,
  MappingTypeSpec,
  MatchVerdict,
  ReadonlyDeep,
} from "./mapping-types/define.js";
export { p2pTopology } from "./mapping-types/match-context.js";
export type { MatchContext, P2PDistance } from "./mapping-types/match-context.js";
export { sgt } from "./mapping-types/sgt.js";
export { pal } from "./mapping-types/pal.js";
export { iommuDomain } from "./mapping-types/iommu-domain.js";
export { vfioIommufdMapSymbol, vfioIommufdPrivate } from "./mapping-types/vfio-iommufd-private.js";
export { kvmCacheAttrSchema, kvmPfn } from "./mapping-types/kvm-pfn.js";
export { BUILTIN_MAPPING_TYPES, findMappingType } from "./mapping-types/builtins.js";

export { accept, offer } from "./negotiation/offer.js";
export type { ExporterOffer, ImporterAccept } from "./negotiation/offer.js";
export { defineConverter } from "./negotiation/converter.js";
export type { Converted, Converter, ConverterSpec } from "./negotiation/converter.js";
export { palToIommuDomain, palToSgt } from "./negotiation/builtin-converters.js";
export { describePairOutcome } from "./negotiation/pair-outcome.js";
export type {
  NotConsideredBecause,
  PairAborted,
  PairMatched,
  PairNoCommonType,
  PairNotConsidered,
  PairNotExported,
  PairOutcome,
  PairSkipped,
  PairTypeAbsent,
} from "./negotiation/pair-outcome.js";
export { negotiate } from "./negotiation/negotiate.js";
export type { NegotiatedMatch, NegotiationResult, PairReport } from "./negotiation/negotiate.js";

export { defineProfile, driverOptions } from "./profiles/profile.js";
export type { Profile, ProfileId, ProfileInput, ProfileRules } from "./profiles/profile.js";
export { linux619 } from "./profiles/linux-6.19.js";
export { linux710, linux71, linux72 } from "./profiles/linux-7.1.js";
export { rfcMappingTypesV1 } from "./profiles/rfc-mapping-types-v1.js";
export { proposalConverters } from "./profiles/proposal-converters.js";
export { proposalVfioDmabufMmap } from "./profiles/proposal-vfio-dmabuf-mmap.js";
export { DEFAULT_PROFILE_ID, PROFILES, findProfile } from "./profiles/registry.js";

export {
  IOC_NONE,
  IOC_READ,
  IOC_WRITE,
  _IO,
  _IOR,
  _IOW,
  _IOWR,
  formatIoctlNumber,
  ioc,
  iocFields,
} from "./uapi/ioctl.js";
export type { IoctlFields } from "./uapi/ioctl.js";
export { defineStruct, offsetofEnd, readScalar, writeScalar } from "./uapi/layout.js";
export type {
  FieldLayout,
  FieldSpec,
  ScalarType,
  StructLayout,
  StructValue,
} from "./uapi/layout.js";
export {
  VFIO_BASE,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_MASK,
  VFIO_DEVICE_FEATURE_MINSZ,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_DEVICE_RESET,
  VFIO_TYPE,
  encodeDmaBufFeature,
  parseVfioDeviceFeature,
  vfioCheckFeature,
  vfioDeviceFeature,
  vfioDeviceFeatureDmaBuf,
  vfioRegionDmaRange,
} from "./uapi/vfio.js";
export type {
  DmaBufFeatureArgs,
  DmaBufFeatureData,
  VfioDeviceFeature,
  VfioDeviceFeatureDmaBuf,
  VfioFeatureRequest,
  VfioRegionDmaRange,
} from "./uapi/vfio.js";
export type { CopiedStruct, TestCmdHeader, TestCmdView } from "./uapi/iommufd.js";
export {
  IOMMUFD_TYPE,
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  IOMMU_TEST_CMD,
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_DMABUF_GET,
  IOMMU_TEST_OP_DMABUF_REVOKE,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
  copyIommufdStruct,
  iommuDestroy,
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  iommuIovaRange,
  iommuTestCmd,
  iommuTestCmdAddReserved,
  iommuTestCmdDmabufGet,
  iommuTestCmdDmabufRevoke,
  iommuTestCmdMemoryLimit,
  respondIommufdStruct,
} from "./uapi/iommufd.js";
export {
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_OPTION,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  iommuHwInfo,
  iommuHwInfoVtd,
  iommuHwptAlloc,
  iommuIoasAllowIovas,
  iommuIoasCopy,
  iommuOption,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_IOAS_CHANGE_PROCESS,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOMMU_VIOMMU_ALLOC,
  iommuHwptInvalidate,
  iommuIoasChangeProcess,
  iommuVdeviceAlloc,
  iommuVfioIoas,
  iommuViommuAlloc,
} from "./uapi/iommufd.js";
export {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT_MINSZ,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_BIND_IOMMUFD_MINSZ,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_IOMMUFD_PT_MINSZ,
  VFIO_DEVICE_DETACH_PASID,
  vfioDeviceAttachIommufdPt,
  vfioDeviceBindIommufd,
  vfioDeviceDetachIommufdPt,
} from "./uapi/vfio-cdev.js";
export {
  VFIO_DEVICE_FLAGS_CAPS,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_INFO_MINSZ,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_MINSZ,
  VFIO_IRQ_INFO_NORESIZE,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_HOT_RESET_MINSZ,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VFIO_PCI_REQ_IRQ_INDEX,
  VFIO_PCI_VGA_REGION_INDEX,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  VFIO_REGION_INFO_MINSZ,
  vfioDeviceInfo,
  vfioIrqInfo,
  vfioPciHotReset,
  vfioRegionInfo,
} from "./uapi/vfio-device.js";
export {
  UAPI_IOCTLS,
  UAPI_LAYOUTS,
  UAPI_STRUCTS,
  findUapiIoctl,
  findUapiStruct,
} from "./uapi/registry.js";
export type { IoctlInfo, StructInfo } from "./uapi/registry.js";

export type { TraceEvent, TraceEventKind, WaitFor } from "./trace/event.js";
export { describeEvent } from "./trace/describe.js";
export type { EventLine } from "./trace/describe.js";
export { TraceRecorder } from "./trace/recorder.js";
export { EMAIL_WIDTH, renderText, wrapLine } from "./trace/render-text.js";
export { renderMermaid } from "./trace/render-mermaid.js";
export { nameBuffers } from "./trace/buffer-names.js";
export type { BufferNames } from "./trace/buffer-names.js";
export { bigintReplacer, renderJson } from "./trace/render-json.js";
export { negotiationEvents } from "./trace/negotiation-events.js";
export {
  MAX_MATCH_ENTRIES,
  acceptsDocumentSchema,
  offersDocumentSchema,
  parseAcceptsDocument,
  parseOffersDocument,
  parseTopologyDocument,
  topologyDocumentSchema,
} from "./negotiation/documents.js";
export type {
  AcceptsDocument,
  DocumentIssue,
  DocumentResult,
  OffersDocument,
} from "./negotiation/documents.js";

export type { Codec } from "./encoding/codec.js";
export {
  NOTHING,
  arrayCodec,
  boolCodec,
  decodedWith,
  encodedWith,
  intCodec,
  isEncodedWith,
  nullableCodec,
  oneOfCodec,
  optionalCodec,
  recordCodec,
  stringCodec,
  u64Codec,
} from "./encoding/codecs.js";
export type { Encoded } from "./encoding/codecs.js";

export {
  fabricDeviceSchema,
  hostBridgeSchema,
  p2pDistanceIn,
  p2pMapType,
  regionAt,
  regionKindSchema,
  regionSchema,
  switchSchema,
  topologySchema,
} from "./fabric/topology.js";
export type {
  FabricDevice,
  Hardware,
  HostBridge,
  P2PMapType,
  PciSwitch,
  Region,
  Topology,
} from "./fabric/topology.js";
export { IOVA_PAGE, allocIova, domainOf, iommuMap, iommuUnmap, translate } from "./fabric/iommu.js";
export type { Translated } from "./fabric/iommu.js";
export { firstFitIn, regionContaining, regionNamed, setRegionStatus } from "./fabric/regions.js";
export { dmaMapRanges, dmaUnmapIova } from "./fabric/dma-map.js";
export type { DmaEntry, DmaMapped } from "./fabric/dma-map.js";
export { access } from "./fabric/access.js";
export { endGrants, grantAccess, grantIn } from "./fabric/grants.js";
export type { GrantRequest, Granted } from "./fabric/grants.js";
export type { AccessOutcome, AccessResult } from "./fabric/access.js";

export {
  WORLD_SLICES,
  createWorld,
  hashWorld,
  hashWorld2,
  worldWith,
  worldsEqual,
} from "./world/world.js";
export type { World } from "./world/world.js";
export {
  SLICES_PER_DRIVER,
  arrivalOrder,
  arrivalPush,
  arrivalQueueSlice,
  arrivalRemove,
  defineSlice,
  setCodec,
  tableCodec,
  tableSlice,
} from "./world/driver-slice.js";
export type { ArrivalQueue, DriverSlice, SliceDef } from "./world/driver-slice.js";
export { readSlice, writeSlice } from "./machine/slices.js";
export type { DmaBufState, RevokeState } from "./world/dmabuf-state.js";
export { bufWith } from "./world/dmabuf-state.js";
export { attachRevocable } from "./world/attachment-state.js";
export type { AttachmentState, IovaRange, MappingState } from "./world/attachment-state.js";
export type { DmaDirection, DmaJob } from "./world/job.js";
export type { Grant } from "./world/grant.js";
export type { RegionState, RegionStatus } from "./world/region-state.js";
export { emptyDomain } from "./world/domain-state.js";
export type { DomainState, IommuMapping } from "./world/domain-state.js";
export { DomainMappings } from "./world/domain-state.js";
export type { TaskKind, TaskState } from "./world/task-state.js";
export type { Violation, ViolationKind } from "./world/violation.js";
export {
  deviceIndex,
  exporterOf,
  importerOf,
  isKernelError,
  lookupAtt,
  lookupBuf,
  mustAtt,
  mustBuf,
  recordViolation,
} from "./world/access.js";
export type { Recorded } from "./world/access.js";

export { boot, defineMachine } from "./machine/machine.js";
export { callSymbol, defineSymbol, provideSymbol } from "./machine/symbol.js";
export { actionOp, defineDriverOp, driverOpCall, driverOpsOf } from "./machine/driver-op.js";
export type { OpName } from "./machine/driver-op.js";
export { pendingOps, pendingSteps } from "./machine/pending.js";
export type { PendingStep } from "./machine/pending.js";
export { candidateOps } from "./machine/candidates.js";
export { nextOps, walk } from "./machine/walk.js";
export type { WalkStep } from "./machine/walk.js";
export type {
  AttachRequest,
  DriverStep,
  DriverOp,
  DriverSymbol,
  ExportStep,
  ExporterDriver,
  ImporterDriver,
  MapStep,
  Machine,
  OpProvider,
  ProvidedSymbol,
} from "./machine/machine.js";
export type { Effect } from "./world/effect.js";

export type { Op, OpKind } from "./lifetime/op.js";
export { CORE_OP_KINDS } from "./lifetime/op.js";
export { parseOp, plainOp, plainOpSchema } from "./lifetime/op-schema.js";
export type { OpParse, PlainOp } from "./lifetime/op-schema.js";
export {
  blocked,
  done,
  failed,
  failedAt,
  returned,
  stepOf,
  worldAfter,
} from "./lifetime/outcome.js";
export type {
  BlockedArm,
  CallOutcome,
  FailedArm,
  RanArm,
  StepOutcome,
  SyscallReturn,
  UserWrite,
} from "./lifetime/outcome.js";
export { mustRun } from "./lifetime/must-run.js";
export { negotiateAttach, offersOf } from "./lifetime/attach-negotiation.js";
export { step } from "./lifetime/step.js";
export { createDmaBuf } from "./lifetime/create.js";
export type { ExportInfo } from "./lifetime/create.js";
export { attachBuf, detachAtt } from "./lifetime/attach.js";
export { mapAtt, unmapAtt } from "./lifetime/map.js";
export { mapSgtable } from "./lifetime/map-sgtable.js";
export { syncDomainGrants } from "./lifetime/domain-grants.js";
export { pinAtt, unpinAtt } from "./lifetime/pin.js";
export { pinsOnMap } from "./lifetime/pin-rule.js";
export { assertResvHeld, holderActor, resvLock, resvUnlock } from "./lifetime/resv.js";
export {
  accessDma,
  deviceDma,
  signalFence,
  submitDma,
  unsignalledFences,
} from "./lifetime/fence.js";
export { invalidateMappings } from "./lifetime/invalidate.js";
export {
  REVOKE_PROGRAM,
  UNREVOKE_PROGRAM,
  setRevoked,
  startRevoke,
  startUnrevoke,
  stepTask,
  taskHolder,
  taskOn,
} from "./lifetime/revoke.js";
export type { TaskStep } from "./lifetime/revoke.js";
export { setRegion } from "./lifetime/region.js";
export { closeBuf, dmaBufGet, dropFileRef, openFds } from "./lifetime/release.js";
export { createdBy, runScript, settle } from "./lifetime/scheduler.js";
export type { ScriptEntry, ScriptResult, ScriptRun } from "./lifetime/scheduler.js";

export {
  referenceExportArgsSchema,
  referenceExporter,
  refExporterPriv,
} from "./reference/exporter.js";
export type { RefExporterPriv } from "./reference/exporter.js";
export {
  CORRECT_SUBMIT,
  firstDmaAddress,
  importerHolder,
  owedUnmapHolder,
  owedUnmaps,
  referenceImporter,
  releaseOp,
  submitOp,
} from "./reference/importer.js";
export type { SubmitPolicy } from "./reference/importer.js";
export { referenceMachine, referenceTopology } from "./reference/machine.js";
export { revokeWithDmaInFlight } from "./reference/revoke-example.js";
export type { RevokeExample } from "./reference/revoke-example.js";
export { privatePhys } from "./lifetime/private-phys.js";
export {
  exploreBreadthFirst,
  revokeProtocolOps,
  revokeProtocolStart,
} from "./reference/revoke-protocol.js";
export type { BreadthFirstResult, RevokeProtocolStart } from "./reference/revoke-protocol.js";
export { defineDriver } from "./machine/define-driver.js";
export type {
  ActionUnion,
  ActionsSpec,
  DriverSpecBase,
  DefinedDriver,
  DefinedExporter,
  DefinedImporter,
  ExporterCallbacks,
  ExporterSpec,
  ImporterCallbacks,
  ImporterSpec,
  SliceRecord,
} from "./machine/define-driver.js";
export { hex } from "./trace/hex.js";

// Process memory (mm): a process's address space, memfds, mmap/munmap/close and GUP pins.
export type { Memfd, ProcessMm, Vma, VmaBacking } from "./world/mm-state.js";
export {
  ANON_REGION_SIZE,
  DEFAULT_PROCESS,
  MAX_MEMFDS,
  MAX_MEMFD_SIZE,
  MAX_PROCESSES,
  MEMFD_FD_BASE,
  MM_DRIVER,
  MM_PAGE_SIZE,
  TASK_SIZE,
  VFIO_PCI_OFFSET_SHIFT,
  VFIO_PCI_ROM_REGION_INDEX,
  anonBase,
  anonRegionName,
  memfdBase,
  memfdFd,
  memfdIdOfFd,
  memfdRegionName,
  mmPhysBase,
  vfioPciIndexToOffset,
} from "./mm/layout.js";
export { deviceMapped, openMemfd, processMm, vmasOf } from "./mm/state.js";
export { vmaHolding } from "./mm/vma-set.js";
export {
  holdPages,
  memfdPages,
  pinMemfdPages,
  pinUserPages,
  releasePages,
  userPages,
} from "./mm/gup.js";
export type { PagePiece, PinOptions, Pinned } from "./mm/gup.js";
export { mmap, munmap } from "./mm/mmap.js";
export type { MmDone, MmapRequest } from "./mm/mmap.js";
export { closeFd, memfdCreate } from "./mm/memfd.js";
export { MM_OPS, mmAct, mmActionSchema, mmOp } from "./mm/driver.js";
export type { MmAction } from "./mm/driver.js";

export { breadthFirst } from "./explore/breadth-first.js";
export type {
  SearchBounds,
  SearchStart,
  SearchSpace,
  SearchStats,
  SearchTree,
} from "./explore/breadth-first.js";
export { FingerprintSet, IntColumn } from "./explore/fingerprint-set.js";
export {
  IOMMU_DEFAULT_APERTURE_LAST,
  IOMMU_DEFAULT_PGSIZE_BITMAP,
  IOMMU_MSI_WINDOW,
  iommuAperture,
  iommuPgsizeBitmap,
  iommuReservedRegions,
} from "./fabric/iommu-geometry.js";
export type { IommuGeometryConfig, IovaInterval } from "./fabric/iommu-geometry.js";
export { driverConfigs } from "./machine/driver-config.js";
export type { DriverConfigs } from "./machine/driver-config.js";
