import type { FieldLayout, StructLayout } from "./layout.js";
import { offsetofEnd } from "./layout.js";
import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_OPTION,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_UNMAP,
  IOMMU_TEST_CMD,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_IOAS_CHANGE_PROCESS,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VFIO_IOAS,
  IOMMU_VIOMMU_ALLOC,
  iommuHwptInvalidate,
  iommuIoasChangeProcess,
  iommuVdeviceAlloc,
  iommuVfioIoas,
  iommuViommuAlloc,
  iommuDestroy,
  iommuHwInfo,
  iommuHwInfoVtd,
  iommuHwptAlloc,
  iommuIoasAllowIovas,
  iommuIoasCopy,
  iommuOption,
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
} from "./iommufd.js";
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  vfioDeviceAttachIommufdPt,
  vfioDeviceBindIommufd,
  vfioDeviceDetachIommufdPt,
} from "./vfio-cdev.js";
import {
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_RESET,
  vfioDeviceFeature,
  vfioDeviceFeatureDmaBuf,
  vfioRegionDmaRange,
} from "./vfio.js";
import {
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  vfioDeviceInfo,
  vfioIrqInfo,
  vfioPciHotReset,
  vfioRegionInfo,
} from "./vfio-device.js";

/**
 * A struct's name, size and members, without its codec (what listings print).
 *
 * @category uAPI
 */
export interface StructInfo {
  /** The kernel's struct name. */
  readonly name: string;
  /** `sizeof`, excluding any flexible array. */
  readonly size: number;
  /** Members in header order. */
  readonly fields: readonly FieldLayout[];
}

/**
 * Every modelled uAPI struct's layout (codec included), in listing order:
 * what the uAPI tests round-trip and `dmabuf-ref uapi layout` lists.
 *
 * @category uAPI
 */
export const UAPI_LAYOUTS: readonly StructLayout<unknown>[] = Object.freeze([
  vfioDeviceFeature,
  vfioDeviceFeatureDmaBuf,
  vfioRegionDmaRange,
  iommuDestroy,
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIovaRange,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  iommuIoasAllowIovas,
  iommuIoasCopy,
  iommuOption,
  iommuHwptAlloc,
  iommuHwInfo,
  iommuHwInfoVtd,
  iommuVfioIoas,
  iommuHwptInvalidate,
  iommuViommuAlloc,
  iommuVdeviceAlloc,
  iommuIoasChangeProcess,
  vfioDeviceBindIommufd,
  vfioDeviceAttachIommufdPt,
  vfioDeviceDetachIommufdPt,
  vfioDeviceInfo,
  vfioRegionInfo,
  vfioIrqInfo,
  vfioPciHotReset,
  iommuTestCmd,
  iommuTestCmdAddReserved,
  iommuTestCmdMemoryLimit,
  iommuTestCmdDmabufGet,
  iommuTestCmdDmabufRevoke,
] as readonly StructLayout<unknown>[]);

/**
 * Every modelled uAPI struct, by its kernel name (for `dmabuf-ref uapi layout`).
 *
 * @category uAPI
 */
export const UAPI_STRUCTS: readonly StructInfo[] = Object.freeze(
  UAPI_LAYOUTS.map(({ name, size, fields }) => ({ name, size, fields })),
);

/**
 * One modelled ioctl: its macro name, number, argument struct and, for
 * iommufd, the `min_size` its dispatcher enforces.
 *
 * @category uAPI
 */
export interface IoctlInfo {
  /** The kernel macro, e.g. `"IOMMU_IOAS_MAP_FILE"`. */
  readonly name: string;
  /** The ioctl number. */
  readonly number: number;
  /** Which uAPI family's size rules apply. */
  readonly family: "iommufd" | "vfio";
  /** The argument struct's name, if it takes one. */
  readonly struct?: string;
  /** iommufd `min_size` (`offsetofend` of the last mandatory member). */
  readonly minSize?: number;
}

/**
 * Every modelled ioctl, by macro name (for `dmabuf-ref uapi ioctl`).
 *
 * @category uAPI
 */
export const UAPI_IOCTLS: readonly IoctlInfo[] = Object.freeze([
  {
    name: "IOMMU_DESTROY",
    number: IOMMU_DESTROY,
    family: "iommufd",
    struct: "iommu_destroy",
    minSize: offsetofEnd(iommuDestroy, "id"),
  },
  {
    name: "IOMMU_IOAS_ALLOC",
    number: IOMMU_IOAS_ALLOC,
    family: "iommufd",
    struct: "iommu_ioas_alloc",
    minSize: offsetofEnd(iommuIoasAlloc, "out_ioas_id"),
  },
  {
    name: "IOMMU_IOAS_IOVA_RANGES",
    number: IOMMU_IOAS_IOVA_RANGES,
    family: "iommufd",
    struct: "iommu_ioas_iova_ranges",
    minSize: offsetofEnd(iommuIoasIovaRanges, "out_iova_alignment"),
  },
  {
    name: "IOMMU_IOAS_MAP",
    number: IOMMU_IOAS_MAP,
    family: "iommufd",
    struct: "iommu_ioas_map",
    minSize: offsetofEnd(iommuIoasMap, "iova"),
  },
  {
    name: "IOMMU_IOAS_UNMAP",
    number: IOMMU_IOAS_UNMAP,
    family: "iommufd",
    struct: "iommu_ioas_unmap",
    minSize: offsetofEnd(iommuIoasUnmap, "length"),
  },
  {
    name: "IOMMU_IOAS_MAP_FILE",
    number: IOMMU_IOAS_MAP_FILE,
    family: "iommufd",
    struct: "iommu_ioas_map_file",
    minSize: offsetofEnd(iommuIoasMapFile, "iova"),
  },
  {
    name: "IOMMU_IOAS_ALLOW_IOVAS",
    number: IOMMU_IOAS_ALLOW_IOVAS,
    family: "iommufd",
    struct: "iommu_ioas_allow_iovas",
    minSize: offsetofEnd(iommuIoasAllowIovas, "allowed_iovas"),
  },
  {
    name: "IOMMU_IOAS_COPY",
    number: IOMMU_IOAS_COPY,
    family: "iommufd",
    struct: "iommu_ioas_copy",
    minSize: offsetofEnd(iommuIoasCopy, "src_iova"),
  },
  {
    name: "IOMMU_OPTION",
    number: IOMMU_OPTION,
    family: "iommufd",
    struct: "iommu_option",
    minSize: offsetofEnd(iommuOption, "val64"),
  },
  {
    name: "IOMMU_HWPT_ALLOC",
    number: IOMMU_HWPT_ALLOC,
    family: "iommufd",
    struct: "iommu_hwpt_alloc",
    minSize: offsetofEnd(iommuHwptAlloc, "__reserved"),
  },
  {
    name: "IOMMU_GET_HW_INFO",
    number: IOMMU_GET_HW_INFO,
    family: "iommufd",
    struct: "iommu_hw_info",
    minSize: offsetofEnd(iommuHwInfo, "__reserved_2"),
  },
  {
    name: "IOMMU_VFIO_IOAS",
    number: IOMMU_VFIO_IOAS,
    family: "iommufd",
    struct: "iommu_vfio_ioas",
    minSize: offsetofEnd(iommuVfioIoas, "__reserved"),
  },
  {
    name: "IOMMU_HWPT_INVALIDATE",
    number: IOMMU_HWPT_INVALIDATE,
    family: "iommufd",
    struct: "iommu_hwpt_invalidate",
    minSize: offsetofEnd(iommuHwptInvalidate, "__reserved"),
  },
  {
    name: "IOMMU_VIOMMU_ALLOC",
    number: IOMMU_VIOMMU_ALLOC,
    family: "iommufd",
    struct: "iommu_viommu_alloc",
    minSize: offsetofEnd(iommuViommuAlloc, "out_viommu_id"),
  },
  {
    name: "IOMMU_VDEVICE_ALLOC",
    number: IOMMU_VDEVICE_ALLOC,
    family: "iommufd",
    struct: "iommu_vdevice_alloc",
    minSize: offsetofEnd(iommuVdeviceAlloc, "virt_id"),
  },
  {
    name: "IOMMU_IOAS_CHANGE_PROCESS",
    number: IOMMU_IOAS_CHANGE_PROCESS,
    family: "iommufd",
    struct: "iommu_ioas_change_process",
    minSize: offsetofEnd(iommuIoasChangeProcess, "__reserved"),
  },
  {
    name: "VFIO_DEVICE_BIND_IOMMUFD",
    number: VFIO_DEVICE_BIND_IOMMUFD,
    family: "vfio",
    struct: "vfio_device_bind_iommufd",
  },
  {
    name: "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
    number: VFIO_DEVICE_ATTACH_IOMMUFD_PT,
    family: "vfio",
    struct: "vfio_device_attach_iommufd_pt",
  },
  {
    name: "VFIO_DEVICE_DETACH_IOMMUFD_PT",
    number: VFIO_DEVICE_DETACH_IOMMUFD_PT,
    family: "vfio",
    struct: "vfio_device_detach_iommufd_pt",
  },
  {
    name: "VFIO_DEVICE_FEATURE",
    number: VFIO_DEVICE_FEATURE,
    family: "vfio",
    struct: "vfio_device_feature",
  },
  { name: "VFIO_DEVICE_RESET", number: VFIO_DEVICE_RESET, family: "vfio" },
  {
    name: "VFIO_DEVICE_GET_INFO",
    number: VFIO_DEVICE_GET_INFO,
    family: "vfio",
    struct: "vfio_device_info",
  },
  {
    name: "VFIO_DEVICE_GET_REGION_INFO",
    number: VFIO_DEVICE_GET_REGION_INFO,
    family: "vfio",
    struct: "vfio_region_info",
  },
  {
    name: "VFIO_DEVICE_GET_IRQ_INFO",
    number: VFIO_DEVICE_GET_IRQ_INFO,
    family: "vfio",
    struct: "vfio_irq_info",
  },
  {
    name: "VFIO_DEVICE_PCI_HOT_RESET",
    number: VFIO_DEVICE_PCI_HOT_RESET,
    family: "vfio",
    struct: "vfio_pci_hot_reset",
  },
  {
    // CONFIG_IOMMUFD_TEST only; the union's views are iommu_test_cmd_<member>.
    name: "IOMMU_TEST_CMD",
    number: IOMMU_TEST_CMD,
    family: "iommufd",
    struct: "iommu_test_cmd",
    minSize: offsetofEnd(iommuTestCmd, "last"),
  },
]);

/**
 * Looks a struct up by its kernel name.
 *
 * @param name - e.g. `"iommu_ioas_map_file"`.
 * @returns the struct, or undefined.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUapiStruct } from "@dmabuf-ref/core";
 *
 * const s = findUapiStruct("iommu_ioas_map_file");
 * assert.equal(s?.size, 40);
 * assert.deepEqual(
 *   s?.fields.map((f) => f.name),
 *   ["size", "flags", "ioas_id", "fd", "start", "length", "iova"],
 * );
 * assert.equal(findUapiStruct("no_such_struct"), undefined);
 * ```
 * @category uAPI
 */
export function findUapiStruct(name: string): StructInfo | undefined {
  return UAPI_STRUCTS.find((s) => s.name === name);
}

/**
 * Looks an ioctl up by its macro name.
 *
 * @param name - e.g. `"VFIO_DEVICE_FEATURE"`.
 * @returns the ioctl, or undefined.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IOMMU_IOAS_MAP_FILE, findUapiIoctl } from "@dmabuf-ref/core";
 *
 * const info = findUapiIoctl("IOMMU_IOAS_MAP_FILE");
 * assert.equal(info?.number, IOMMU_IOAS_MAP_FILE);
 * assert.equal(info?.family, "iommufd");
 * assert.equal(info?.minSize, 40);
 * assert.equal(findUapiIoctl("VFIO_DEVICE_FEATURE")?.minSize, undefined);
 * ```
 * @category uAPI
 */
export function findUapiIoctl(name: string): IoctlInfo | undefined {
  return UAPI_IOCTLS.find((i) => i.name === name);
}
