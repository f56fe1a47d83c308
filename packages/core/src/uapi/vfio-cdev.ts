/*
 * The VFIO device cdev ioctls that hand a device to iommufd
 * (include/uapi/linux/vfio.h; drivers/vfio/device_cdev.c): bind the device
 * to an iommufd, attach it to an IOAS or HWPT, detach it. Each struct
 * starts with `argsz`; the handlers copy `minsz` bytes and refuse a smaller
 * `argsz` with EINVAL.
 */
import { _IO } from "./ioctl.js";
import { defineStruct, offsetofEnd } from "./layout.js";
import { VFIO_BASE, VFIO_TYPE } from "./vfio.js";

/**
 * `VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18)` = 0x3B76.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_BIND_IOMMUFD
 * @category uAPI
 */
export const VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18);
/**
 * `VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19)` = 0x3B77.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * @category uAPI
 */
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19);
/**
 * `VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20)` = 0x3B78.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_DETACH_IOMMUFD_PT
 * @category uAPI
 */
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20);

/**
 * `VFIO_DEVICE_ATTACH_PASID`: attach the PASID in `pasid`, not the whole device.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0;
/**
 * `VFIO_DEVICE_DETACH_PASID`: detach the PASID in `pasid`, not the whole device.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_DETACH_PASID = 1 << 0;

/**
 * `struct vfio_device_bind_iommufd` = `argsz`@0, `flags`@4 (must be 0),
 * `iommufd` s32@8 (the iommufd's fd), `out_devid`@12 (the device object id
 * iommufd gave it) (16 bytes).
 *
 * @kernel include/uapi/linux/vfio.h vfio_device_bind_iommufd
 * @category uAPI
 */
export const vfioDeviceBindIommufd = defineStruct("vfio_device_bind_iommufd", [
  ["argsz", "u32"],
  ["flags", "u32"],
  ["iommufd", "s32"],
  ["out_devid", "u32"],
] as const);

/**
 * `struct vfio_device_attach_iommufd_pt` = `argsz`@0, `flags`@4,
 * `pt_id`@8 (in: an IOAS or HWPT id; out: the HWPT the device is attached
 * through), `pasid`@12 (read only with `VFIO_DEVICE_ATTACH_PASID`) (16 bytes).
 *
 * @kernel include/uapi/linux/vfio.h vfio_device_attach_iommufd_pt
 * @category uAPI
 */
export const vfioDeviceAttachIommufdPt = defineStruct("vfio_device_attach_iommufd_pt", [
  ["argsz", "u32"],
  ["flags", "u32"],
  ["pt_id", "u32"],
  ["pasid", "u32"],
] as const);

/**
 * `struct vfio_device_detach_iommufd_pt` = `argsz`@0, `flags`@4, `pasid`@8
 * (read only with `VFIO_DEVICE_DETACH_PASID`) (12 bytes).
 *
 * @kernel include/uapi/linux/vfio.h vfio_device_detach_iommufd_pt
 * @category uAPI
 */
export const vfioDeviceDetachIommufdPt = defineStruct("vfio_device_detach_iommufd_pt", [
  ["argsz", "u32"],
  ["flags", "u32"],
  ["pasid", "u32"],
] as const);

/**
 * `minsz` of `VFIO_DEVICE_BIND_IOMMUFD`: `offsetofend(out_devid)` = 16.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_BIND_IOMMUFD_MINSZ = offsetofEnd(vfioDeviceBindIommufd, "out_devid");
/**
 * `minsz` of `VFIO_DEVICE_ATTACH_IOMMUFD_PT`: `offsetofend(pt_id)` = 12.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT_MINSZ = offsetofEnd(vfioDeviceAttachIommufdPt, "pt_id");
/**
 * `minsz` of `VFIO_DEVICE_DETACH_IOMMUFD_PT`: `offsetofend(flags)` = 8.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_DETACH_IOMMUFD_PT_MINSZ = offsetofEnd(vfioDeviceDetachIommufdPt, "flags");
