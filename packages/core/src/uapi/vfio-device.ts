/*
 * The VFIO device-info ioctls a VMM issues before it maps anything
 * (include/uapi/linux/vfio.h): what the device is (VFIO_DEVICE_GET_INFO),
 * where each region sits in the device fd's file offsets and how big it is
 * (VFIO_DEVICE_GET_REGION_INFO), its interrupts (VFIO_DEVICE_GET_IRQ_INFO),
 * and the bus reset's argument (VFIO_DEVICE_PCI_HOT_RESET). Every struct
 * starts with `argsz`; the handlers copy `minsz` bytes and refuse a smaller
 * `argsz` with EINVAL. The behaviour is in the exporters package
 * (vfio_pci_ioctl_info.ts); these are the layouts and the macros.
 */
import { _IO } from "./ioctl.js";
import { defineStruct, offsetofEnd } from "./layout.js";
import { VFIO_BASE, VFIO_TYPE } from "./vfio.js";

/**
 * `VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7)` = 0x3B6B.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_GET_INFO
 * @category uAPI
 */
export const VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7);
/**
 * `VFIO_DEVICE_GET_REGION_INFO = _IO(VFIO_TYPE, VFIO_BASE + 8)` = 0x3B6C.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_GET_REGION_INFO
 * @category uAPI
 */
export const VFIO_DEVICE_GET_REGION_INFO = _IO(VFIO_TYPE, VFIO_BASE + 8);
/**
 * `VFIO_DEVICE_GET_IRQ_INFO = _IO(VFIO_TYPE, VFIO_BASE + 9)` = 0x3B6D.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_GET_IRQ_INFO
 * @category uAPI
 */
export const VFIO_DEVICE_GET_IRQ_INFO = _IO(VFIO_TYPE, VFIO_BASE + 9);
/**
 * `VFIO_DEVICE_PCI_HOT_RESET = _IO(VFIO_TYPE, VFIO_BASE + 13)` = 0x3B71.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_PCI_HOT_RESET
 * @category uAPI
 */
export const VFIO_DEVICE_PCI_HOT_RESET = _IO(VFIO_TYPE, VFIO_BASE + 13);

/**
 * `VFIO_DEVICE_FLAGS_RESET`: the device supports `VFIO_DEVICE_RESET`.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
/**
 * `VFIO_DEVICE_FLAGS_PCI`: a vfio-pci device.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
/**
 * `VFIO_DEVICE_FLAGS_CAPS`: `cap_offset` points at a capability chain.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7;

/**
 * `VFIO_REGION_INFO_FLAG_READ`: the region can be read (`pread()` on the device fd).
 *
 * @category uAPI
 */
export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
/**
 * `VFIO_REGION_INFO_FLAG_WRITE`: the region can be written.
 *
 * @category uAPI
 */
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
/**
 * `VFIO_REGION_INFO_FLAG_MMAP`: the region can be mmapped at its `offset`.
 *
 * @category uAPI
 */
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
/**
 * `VFIO_REGION_INFO_FLAG_CAPS`: `cap_offset` points at a capability chain.
 *
 * @category uAPI
 */
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

// BARs are region indexes 0-5 and the ROM 6 (`VFIO_PCI_ROM_REGION_INDEX`, exported by mm/layout.ts).
/**
 * `VFIO_PCI_CONFIG_REGION_INDEX`: the function's config space.
 *
 * @category uAPI
 */
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
/**
 * `VFIO_PCI_VGA_REGION_INDEX`: legacy VGA ranges (only for a VGA-class device).
 *
 * @category uAPI
 */
export const VFIO_PCI_VGA_REGION_INDEX = 8;
/**
 * `VFIO_PCI_NUM_REGIONS`: the fixed regions; device-specific regions follow.
 *
 * @category uAPI
 */
export const VFIO_PCI_NUM_REGIONS = 9;

/**
 * `VFIO_PCI_INTX_IRQ_INDEX`.
 *
 * @category uAPI
 */
export const VFIO_PCI_INTX_IRQ_INDEX = 0;
/**
 * `VFIO_PCI_MSI_IRQ_INDEX`.
 *
 * @category uAPI
 */
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
/**
 * `VFIO_PCI_MSIX_IRQ_INDEX`.
 *
 * @category uAPI
 */
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
/**
 * `VFIO_PCI_ERR_IRQ_INDEX`: AER error notification (PCIe functions only).
 *
 * @category uAPI
 */
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
/**
 * `VFIO_PCI_REQ_IRQ_INDEX`: the device-release request.
 *
 * @category uAPI
 */
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
/**
 * `VFIO_PCI_NUM_IRQS`.
 *
 * @category uAPI
 */
export const VFIO_PCI_NUM_IRQS = 5;

/**
 * `VFIO_IRQ_INFO_EVENTFD`: signalled through an eventfd.
 *
 * @category uAPI
 */
export const VFIO_IRQ_INFO_EVENTFD = 1 << 0;
/**
 * `VFIO_IRQ_INFO_MASKABLE`: can be masked with `VFIO_DEVICE_SET_IRQS`.
 *
 * @category uAPI
 */
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1;
/**
 * `VFIO_IRQ_INFO_AUTOMASKED`: masked by the kernel when it fires (INTx).
 *
 * @category uAPI
 */
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
/**
 * `VFIO_IRQ_INFO_NORESIZE`: the vector count cannot grow once enabled.
 *
 * @category uAPI
 */
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3;

/**
 * `struct vfio_device_info` = `argsz`@0, `flags`@4, `num_regions`@8,
 * `num_irqs`@12, `cap_offset`@16, `pad`@20 (24 bytes).
 *
 * @kernel include/uapi/linux/vfio.h vfio_device_info
 * @category uAPI
 */
export const vfioDeviceInfo = defineStruct("vfio_device_info", [
  ["argsz", "u32"],
  ["flags", "u32"],
  ["num_regions", "u32"],
  ["num_irqs", "u32"],
  ["cap_offset", "u32"],
  ["pad", "u32"],
] as const);

/**
 * `struct vfio_region_info` = `argsz`@0, `flags`@4, `index`@8,
 * `cap_offset`@12, `size` u64@16, `offset` u64@24 (32 bytes). `offset` is
 * the region's file offset on the device fd, `VFIO_PCI_INDEX_TO_OFFSET(index)`.
 *
 * @kernel include/uapi/linux/vfio.h vfio_region_info
 * @category uAPI
 */
export const vfioRegionInfo = defineStruct("vfio_region_info", [
  ["argsz", "u32"],
  ["flags", "u32"],
  ["index", "u32"],
  ["cap_offset", "u32"],
  ["size", "u64"],
  ["offset", "u64"],
] as const);

/**
 * `struct vfio_irq_info` = `argsz`@0, `flags`@4, `index`@8, `count`@12 (16 bytes).
 *
 * @kernel include/uapi/linux/vfio.h vfio_irq_info
 * @category uAPI
 */
export const vfioIrqInfo = defineStruct("vfio_irq_info", [
  ["argsz", "u32"],
  ["flags", "u32"],
  ["index", "u32"],
  ["count", "u32"],
] as const);

/**
 * `struct vfio_pci_hot_reset` = `argsz`@0, `flags`@4 (must be 0),
 * `count`@8, `group_fds[]` s32@12 (12 bytes without the array). A device
 * opened through its cdev passes `count` 0 (the zero-length array form);
 * group fds are the legacy container path.
 *
 * @kernel include/uapi/linux/vfio.h vfio_pci_hot_reset
 * @category uAPI
 */
export const vfioPciHotReset = defineStruct(
  "vfio_pci_hot_reset",
  [
    ["argsz", "u32"],
    ["flags", "u32"],
    ["count", "u32"],
  ] as const,
  { name: "group_fds", elementType: "s32" },
);

/**
 * `minsz` of `VFIO_DEVICE_GET_INFO`: `offsetofend(num_irqs)` = 16.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_INFO_MINSZ = offsetofEnd(vfioDeviceInfo, "num_irqs");
/**
 * `minsz` of `VFIO_DEVICE_GET_REGION_INFO`: `offsetofend(offset)` = 32.
 *
 * @category uAPI
 */
export const VFIO_REGION_INFO_MINSZ = offsetofEnd(vfioRegionInfo, "offset");
/**
 * `minsz` of `VFIO_DEVICE_GET_IRQ_INFO`: `offsetofend(count)` = 16.
 *
 * @category uAPI
 */
export const VFIO_IRQ_INFO_MINSZ = offsetofEnd(vfioIrqInfo, "count");
/**
 * `minsz` of `VFIO_DEVICE_PCI_HOT_RESET`: `offsetofend(count)` = 12.
 *
 * @category uAPI
 */
export const VFIO_PCI_HOT_RESET_MINSZ = offsetofEnd(vfioPciHotReset, "count");
