import { err, ok } from "../errors/result.js";
import type { Result } from "../errors/result.js";
import { _IO } from "./ioctl.js";
import * as z from "zod";
import { defineStruct, readScalar, writeScalar } from "./layout.js";
import type { FieldLayout, FieldSpec, StructLayout, StructValue } from "./layout.js";

/**
 * `IOMMUFD_TYPE`: the ioctl type byte `';'` (include/uapi/linux/iommufd.h, kernel-model §3.1).
 *
 * @category uAPI
 */
export const IOMMUFD_TYPE = 0x3b;

/**
 * `IOMMU_DESTROY = _IO(';', 0x80)`: destroy any object by id.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_DESTROY
 * @category uAPI
 */
export const IOMMU_DESTROY = _IO(IOMMUFD_TYPE, 0x80);
/**
 * `IOMMU_IOAS_ALLOC = _IO(';', 0x81)`: allocate an IO address space.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_ALLOC
 * @category uAPI
 */
export const IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, 0x81);
/**
 * `IOMMU_IOAS_IOVA_RANGES = _IO(';', 0x84)`: query allowed IOVA ranges and alignment.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_IOVA_RANGES
 * @category uAPI
 */
export const IOMMU_IOAS_IOVA_RANGES = _IO(IOMMUFD_TYPE, 0x84);
/**
 * `IOMMU_IOAS_MAP = _IO(';', 0x85)`: map user memory at an IOVA.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_MAP
 * @category uAPI
 */
export const IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, 0x85);
/**
 * `IOMMU_IOAS_UNMAP = _IO(';', 0x86)`: unmap whole areas covered by a range.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_UNMAP
 * @category uAPI
 */
export const IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, 0x86);
/**
 * `IOMMU_IOAS_MAP_FILE = _IO(';', 0x8f)` = 0x3B8F: map a memfd or dma-buf slice
 * (kernel-model §3.1).
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_MAP_FILE
 * @category uAPI
 */
export const IOMMU_IOAS_MAP_FILE = _IO(IOMMUFD_TYPE, 0x8f);

/**
 * `IOMMU_IOAS_ALLOW_IOVAS = _IO(';', 0x82)`: set the ranges automatic placement stays inside.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_ALLOW_IOVAS
 * @category uAPI
 */
export const IOMMU_IOAS_ALLOW_IOVAS = _IO(IOMMUFD_TYPE, 0x82);
/**
 * `IOMMU_IOAS_COPY = _IO(';', 0x83)`: map another IOAS's pages again, without a new pin.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_COPY
 * @category uAPI
 */
export const IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, 0x83);
/**
 * `IOMMU_OPTION = _IO(';', 0x87)`: get or set RLIMIT_MODE (global) or HUGE_PAGES (per IOAS).
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_OPTION
 * @category uAPI
 */
export const IOMMU_OPTION = _IO(IOMMUFD_TYPE, 0x87);
/**
 * `IOMMU_HWPT_ALLOC = _IO(';', 0x89)`: allocate a HW page table (an IOMMU domain) for a
 * bound device.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_HWPT_ALLOC
 * @category uAPI
 */
export const IOMMU_HWPT_ALLOC = _IO(IOMMUFD_TYPE, 0x89);
/**
 * `IOMMU_GET_HW_INFO = _IO(';', 0x8a)`: describe the IOMMU behind a bound device.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_GET_HW_INFO
 * @category uAPI
 */
export const IOMMU_GET_HW_INFO = _IO(IOMMUFD_TYPE, 0x8a);

/**
 * `IOMMU_IOAS_MAP_FIXED_IOVA`: use the given IOVA, which must be free.
 *
 * @category uAPI
 */
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
/**
 * `IOMMU_IOAS_MAP_WRITEABLE`: DMA may write.
 *
 * @category uAPI
 */
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
/**
 * `IOMMU_IOAS_MAP_READABLE`: DMA may read.
 *
 * @category uAPI
 */
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

/**
 * `struct iommu_destroy` = `size`@0, `id`@4 (8 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_destroy
 * @category uAPI
 */
export const iommuDestroy = defineStruct("iommu_destroy", [
  ["size", "u32"],
  ["id", "u32"],
] as const);

/**
 * `struct iommu_ioas_alloc` = `size`@0, `flags`@4 (must be 0), `out_ioas_id`@8 (12 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_alloc
 * @category uAPI
 */
export const iommuIoasAlloc = defineStruct("iommu_ioas_alloc", [
  ["size", "u32"],
  ["flags", "u32"],
  ["out_ioas_id", "u32"],
] as const);

/**
 * `struct iommu_iova_range` = `start` u64@0, `last` u64@8 (inclusive).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_iova_range
 * @category uAPI
 */
export const iommuIovaRange = defineStruct("iommu_iova_range", [
  ["start", "aligned_u64"],
  ["last", "aligned_u64"],
] as const);

/**
 * `struct iommu_ioas_iova_ranges` = `size`@0, `ioas_id`@4, `num_iovas`@8,
 * `__reserved`@12, `allowed_iovas` u64@16 (user pointer to
 * `struct iommu_iova_range[]`), `out_iova_alignment` u64@24 (32 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_iova_ranges
 * @category uAPI
 */
export const iommuIoasIovaRanges = defineStruct("iommu_ioas_iova_ranges", [
  ["size", "u32"],
  ["ioas_id", "u32"],
  ["num_iovas", "u32"],
  ["__reserved", "u32"],
  ["allowed_iovas", "aligned_u64"],
  ["out_iova_alignment", "aligned_u64"],
] as const);

/**
 * `struct iommu_ioas_map` = `size`@0, `flags`@4, `ioas_id`@8, `__reserved`@12,
 * `user_va` u64@16, `length` u64@24, `iova` u64@32 in/out (40 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_map
 * @category uAPI
 */
export const iommuIoasMap = defineStruct("iommu_ioas_map", [
  ["size", "u32"],
  ["flags", "u32"],
  ["ioas_id", "u32"],
  ["__reserved", "u32"],
  ["user_va", "aligned_u64"],
  ["length", "aligned_u64"],
  ["iova", "aligned_u64"],
] as const);

/**
 * `struct iommu_ioas_map_file` = `size` u32@0, `flags` u32@4, `ioas_id`
 * u32@8, `fd` s32@12, `start` u64@16 (byte offset into the file), `length`
 * u64@24, `iova` u64@32 in/out (40 bytes; kernel-model §3.1).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_map_file
 * @category uAPI
 */
export const iommuIoasMapFile = defineStruct("iommu_ioas_map_file", [
  ["size", "u32"],
  ["flags", "u32"],
  ["ioas_id", "u32"],
  ["fd", "s32"],
  ["start", "aligned_u64"],
  ["length", "aligned_u64"],
  ["iova", "aligned_u64"],
] as const);

/**
 * `struct iommu_ioas_unmap` = `size`@0, `ioas_id`@4, `iova` u64@8, `length`
 * u64@16 (in: bytes; out: bytes unmapped) (24 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_unmap
 * @category uAPI
 */
export const iommuIoasUnmap = defineStruct("iommu_ioas_unmap", [
  ["size", "u32"],
  ["ioas_id", "u32"],
  ["iova", "aligned_u64"],
  ["length", "aligned_u64"],
] as const);

/**
 * `struct iommu_ioas_allow_iovas` = `size`@0, `ioas_id`@4, `num_iovas`@8,
 * `__reserved`@12, `allowed_iovas` u64@16 (user pointer to `num_iovas`
 * `struct iommu_iova_range`) (24 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_allow_iovas
 * @category uAPI
 */
export const iommuIoasAllowIovas = defineStruct("iommu_ioas_allow_iovas", [
  ["size", "u32"],
  ["ioas_id", "u32"],
  ["num_iovas", "u32"],
  ["__reserved", "u32"],
  ["allowed_iovas", "aligned_u64"],
] as const);

/**
 * `struct iommu_ioas_copy` = `size`@0, `flags`@4 (the map flags),
 * `dst_ioas_id`@8, `src_ioas_id`@12, `length` u64@16, `dst_iova` u64@24
 * (in/out), `src_iova` u64@32 (40 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_copy
 * @category uAPI
 */
export const iommuIoasCopy = defineStruct("iommu_ioas_copy", [
  ["size", "u32"],
  ["flags", "u32"],
  ["dst_ioas_id", "u32"],
  ["src_ioas_id", "u32"],
  ["length", "aligned_u64"],
  ["dst_iova", "aligned_u64"],
  ["src_iova", "aligned_u64"],
] as const);

/**
 * `IOMMU_OPTION_RLIMIT_MODE`: how pinned pages are charged (0 user, 1 process); global, `object_id` 0.
 *
 * @category uAPI
 */
export const IOMMU_OPTION_RLIMIT_MODE = 0;
/**
 * `IOMMU_OPTION_HUGE_PAGES`: 1 (default) maps large pages where it can, 0 maps PAGE_SIZE only; per IOAS.
 *
 * @category uAPI
 */
export const IOMMU_OPTION_HUGE_PAGES = 1;
/**
 * `IOMMU_OPTION_OP_SET`: load the option's value from `val64`.
 *
 * @category uAPI
 */
export const IOMMU_OPTION_OP_SET = 0;
/**
 * `IOMMU_OPTION_OP_GET`: return the option's value in `val64`.
 *
 * @category uAPI
 */
export const IOMMU_OPTION_OP_GET = 1;

/**
 * `struct iommu_option` = `size`@0, `option_id`@4, `op` u16@8,
 * `__reserved` u16@10, `object_id`@12, `val64` u64@16 (24 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_option
 * @category uAPI
 */
export const iommuOption = defineStruct("iommu_option", [
  ["size", "u32"],
  ["option_id", "u32"],
  ["op", "u16"],
  ["__reserved", "u16"],
  ["object_id", "u32"],
  ["val64", "aligned_u64"],
] as const);

/**
 * `IOMMU_HWPT_ALLOC_NEST_PARENT`: a domain that can parent a nested one.
 *
 * @category uAPI
 */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
/**
 * `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`: the domain must track dirty IOVAs.
 *
 * @category uAPI
 */
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
/**
 * `IOMMU_HWPT_FAULT_ID_VALID`: `fault_id` names an IOMMUFD_FAULT object.
 *
 * @category uAPI
 */
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
/**
 * `IOMMU_HWPT_ALLOC_PASID`: a domain that may be attached to a PASID.
 *
 * @category uAPI
 */
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;
/**
 * `IOMMU_HWPT_DATA_NONE`: no driver data (a kernel-managed paging domain).
 *
 * @category uAPI
 */
export const IOMMU_HWPT_DATA_NONE = 0;

/**
 * `struct iommu_hwpt_alloc` = `size`@0, `flags`@4, `dev_id`@8, `pt_id`@12,
 * `out_hwpt_id`@16, `__reserved`@20, `data_type`@24, `data_len`@28,
 * `data_uptr` u64@32, `fault_id`@40, `__reserved2`@44 (48 bytes; `min_size`
 * is `offsetofend(__reserved)` = 24).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_hwpt_alloc
 * @category uAPI
 */
export const iommuHwptAlloc = defineStruct("iommu_hwpt_alloc", [
  ["size", "u32"],
  ["flags", "u32"],
  ["dev_id", "u32"],
  ["pt_id", "u32"],
  ["out_hwpt_id", "u32"],
  ["__reserved", "u32"],
  ["data_type", "u32"],
  ["data_len", "u32"],
  ["data_uptr", "aligned_u64"],
  ["fault_id", "u32"],
  ["__reserved2", "u32"],
] as const);

/**
 * `IOMMU_HW_INFO_FLAG_INPUT_TYPE`: `in_data_type` asks for one info type.
 *
 * @category uAPI
 */
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;
/**
 * `IOMMU_HW_INFO_TYPE_DEFAULT` (= `IOMMU_HW_INFO_TYPE_NONE`): whatever the driver reports.
 *
 * @category uAPI
 */
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
/**
 * `IOMMU_HW_INFO_TYPE_INTEL_VTD`: `struct iommu_hw_info_vtd`.
 *
 * @category uAPI
 */
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;

/**
 * `struct iommu_hw_info` = `size`@0, `flags`@4, `dev_id`@8, `data_len`@12,
 * `data_uptr` u64@16, `out_data_type`@24 (a union with `in_data_type`),
 * `out_max_pasid_log2` u8@28, `__reserved[3]` u8@29..31 (here
 * `__reserved`, `__reserved_1`, `__reserved_2`), `out_capabilities` u64@32
 * (40 bytes; `min_size` is `offsetofend(__reserved)` = 32).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_hw_info
 * @category uAPI
 */
export const iommuHwInfo = defineStruct("iommu_hw_info", [
  ["size", "u32"],
  ["flags", "u32"],
  ["dev_id", "u32"],
  ["data_len", "u32"],
  ["data_uptr", "aligned_u64"],
  ["out_data_type", "u32"],
  ["out_max_pasid_log2", "u8"],
  ["__reserved", "u8"],
  ["__reserved_1", "u8"],
  ["__reserved_2", "u8"],
  ["out_capabilities", "aligned_u64"],
] as const);

/**
 * `struct iommu_hw_info_vtd` = `flags`@0, `__reserved`@4, `cap_reg` u64@8,
 * `ecap_reg` u64@16 (24 bytes): what an Intel VT-d IOMMU reports.
 *
 * @kernel include/uapi/linux/iommufd.h iommu_hw_info_vtd
 * @category uAPI
 */
export const iommuHwInfoVtd = defineStruct("iommu_hw_info_vtd", [
  ["flags", "u32"],
  ["__reserved", "u32"],
  ["cap_reg", "aligned_u64"],
  ["ecap_reg", "aligned_u64"],
] as const);

/**
 * A struct copied in by {@link copyIommufdStruct}.
 *
 * @category uAPI
 */
export interface CopiedStruct<V> {
  /** The decoded struct, zero-extended when the user's was shorter. */
  readonly value: V;
  /** The `size` userspace passed (responses copy back at most this much). */
  readonly userSize: number;
}

/**
 * The iommufd size rule (iommufd_fops_ioctl + copy_struct_from_user,
 * kernel-model §3.1), in the kernel's order: read the leading `u32 size`
 * (`EFAULT` if the buffer is shorter); `size` below the ioctl's minimum
 * (`offsetofend` of its last mandatory member) -> `EINVAL`; a `size` larger
 * than the kernel's struct whose extra tail is not all zero -> `E2BIG`;
 * a shorter-than-known struct is zero-extended.
 *
 * @param layout - the kernel's view of the struct.
 * @param minSize - the ioctl's `min_size`.
 * @param buffer - the user buffer; it must hold `size` bytes.
 * @returns the decoded struct and the user's `size`, or the errno.
 * @kernel include/linux/uaccess.h copy_struct_from_user
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   IOMMU_IOAS_MAP_FILE,
 *   copyIommufdStruct,
 *   findUapiIoctl,
 *   iommuIoasMapFile,
 * } from "@dmabuf-ref/core";
 *
 * const minSize = findUapiIoctl("IOMMU_IOAS_MAP_FILE")?.minSize ?? 0;
 * assert.equal(IOMMU_IOAS_MAP_FILE, 0x3b8f);
 * const arg = { size: 40, flags: 3, ioas_id: 2, fd: 7, start: 0n, length: 0x200000n, iova: 0n };
 * const copied = copyIommufdStruct(iommuIoasMapFile, minSize, iommuIoasMapFile.encode(arg));
 * assert.ok(copied.ok);
 * assert.equal(copied.value.value.length, 0x200000n);
 * // A size below offsetofend(iova) is EINVAL.
 * const short = copyIommufdStruct(
 *   iommuIoasMapFile,
 *   minSize,
 *   iommuIoasMapFile.encode({ ...arg, size: 32 }),
 * );
 * assert.equal(short.ok ? undefined : short.error.errno, "EINVAL");
 * ```
 * @category uAPI
 */
export function copyIommufdStruct<V>(
  layout: StructLayout<V>,
  minSize: number,
  buffer: Uint8Array,
): Result<CopiedStruct<V>> {
  if (buffer.length < 4) return err("EFAULT", "get_user of the leading u32 size faulted");
  const userSize = new DataView(buffer.buffer, buffer.byteOffset, 4).getUint32(0, true);
  if (userSize < minSize) {
    return err(
      "EINVAL",
      () => `size ${userSize} is below the minimum ${minSize} of ${layout.name}`,
    );
  }
  // copy_struct_from_user checks the unknown tail first, word by word from
  // its start: a non-zero byte it can read is E2BIG even if the buffer ends
  // before `size`; running off the buffer is EFAULT.
  if (userSize > layout.size) {
    const readable = buffer.subarray(layout.size, Math.min(userSize, buffer.length));
    if (readable.some((b) => b !== 0)) {
      return err("E2BIG", () => `bytes past the ${layout.size}-byte ${layout.name} are not zero`);
    }
  }
  if (buffer.length < userSize) {
    return err("EFAULT", () => `size ${userSize} runs past the ${buffer.length}-byte user buffer`);
  }
  const known = new Uint8Array(layout.size);
  known.set(buffer.subarray(0, Math.min(userSize, layout.size)));
  return ok({ value: layout.decode(known), userSize });
}

/**
 * `iommufd_ucmd_respond`: what the kernel writes back, `min(size, sizeof)`
 * bytes of the struct, leaving any longer user tail untouched.
 *
 * @param layout - the struct.
 * @param value - the response value.
 * @param userSize - the user's `size`.
 * @returns the bytes copied to userspace.
 * @kernel drivers/iommu/iommufd/iommufd_private.h iommufd_ucmd_respond
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuIoasAlloc, respondIommufdStruct } from "@dmabuf-ref/core";
 *
 * // IOMMU_IOAS_ALLOC writes out_ioas_id back: min(size, sizeof) bytes.
 * const out = respondIommufdStruct(iommuIoasAlloc, { size: 12, flags: 0, out_ioas_id: 2 }, 12);
 * assert.equal(out.length, 12);
 * assert.equal(iommuIoasAlloc.decode(out).out_ioas_id, 2);
 * ```
 * @category uAPI
 */
export function respondIommufdStruct<V>(
  layout: StructLayout<V>,
  value: V,
  userSize: number,
): Uint8Array {
  return layout.encode(value).subarray(0, Math.min(userSize, layout.size));
}

/**
 * `IOMMU_VFIO_IOAS = _IO(';', 0x88)`: get, set or clear the IOAS that
 * iommufd's VFIO container compatibility uses (`ictx->vfio_ioas`).
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_VFIO_IOAS
 * @category uAPI
 */
export const IOMMU_VFIO_IOAS = _IO(IOMMUFD_TYPE, 0x88);
/**
 * `IOMMU_VFIO_IOAS_GET`: return the compatibility IOAS's id (none: `ENODEV`).
 *
 * @kernel include/uapi/linux/iommufd.h iommufd_vfio_ioas_op
 * @category uAPI
 */
export const IOMMU_VFIO_IOAS_GET = 0;
/**
 * `IOMMU_VFIO_IOAS_SET`: make `ioas_id` the compatibility IOAS.
 *
 * @kernel include/uapi/linux/iommufd.h iommufd_vfio_ioas_op
 * @category uAPI
 */
export const IOMMU_VFIO_IOAS_SET = 1;
/**
 * `IOMMU_VFIO_IOAS_CLEAR`: forget the compatibility IOAS (it is not destroyed).
 *
 * @kernel include/uapi/linux/iommufd.h iommufd_vfio_ioas_op
 * @category uAPI
 */
export const IOMMU_VFIO_IOAS_CLEAR = 2;

/**
 * `struct iommu_vfio_ioas` = `size`@0, `ioas_id`@4, `op` u16@8,
 * `__reserved` u16@10 (12 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_vfio_ioas
 * @category uAPI
 */
export const iommuVfioIoas = defineStruct("iommu_vfio_ioas", [
  ["size", "u32"],
  ["ioas_id", "u32"],
  ["op", "u16"],
  ["__reserved", "u16"],
] as const);

/**
 * `IOMMU_HWPT_INVALIDATE = _IO(';', 0x8d)`: invalidate a nested HWPT's or
 * a vIOMMU's caches with an array of driver-specific requests.
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_HWPT_INVALIDATE
 * @category uAPI
 */
export const IOMMU_HWPT_INVALIDATE = _IO(IOMMUFD_TYPE, 0x8d);

/**
 * `struct iommu_hwpt_invalidate` = `size`@0, `hwpt_id`@4, `data_uptr`
 * u64@8, `data_type`@16, `entry_len`@20, `entry_num`@24 (in: requests;
 * out: requests handled), `__reserved`@28 (32 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_hwpt_invalidate
 * @category uAPI
 */
export const iommuHwptInvalidate = defineStruct("iommu_hwpt_invalidate", [
  ["size", "u32"],
  ["hwpt_id", "u32"],
  ["data_uptr", "aligned_u64"],
  ["data_type", "u32"],
  ["entry_len", "u32"],
  ["entry_num", "u32"],
  ["__reserved", "u32"],
] as const);

/**
 * `IOMMU_VIOMMU_ALLOC = _IO(';', 0x90)`: allocate a virtual IOMMU over a
 * nesting-parent HWPT for a device (v6.13).
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_VIOMMU_ALLOC
 * @category uAPI
 */
export const IOMMU_VIOMMU_ALLOC = _IO(IOMMUFD_TYPE, 0x90);

/**
 * `struct iommu_viommu_alloc` = `size`@0, `flags`@4, `type`@8, `dev_id`@12,
 * `hwpt_id`@16, `out_viommu_id`@20, `data_len`@24, `__reserved`@28,
 * `data_uptr` u64@32 (40 bytes; `min_size` ends at `out_viommu_id`, the
 * struct's end before the driver data fields were added).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_viommu_alloc
 * @category uAPI
 */
export const iommuViommuAlloc = defineStruct("iommu_viommu_alloc", [
  ["size", "u32"],
  ["flags", "u32"],
  ["type", "u32"],
  ["dev_id", "u32"],
  ["hwpt_id", "u32"],
  ["out_viommu_id", "u32"],
  ["data_len", "u32"],
  ["__reserved", "u32"],
  ["data_uptr", "aligned_u64"],
] as const);

/**
 * `IOMMU_VDEVICE_ALLOC = _IO(';', 0x91)`: give a device a virtual id in a
 * vIOMMU (v6.13).
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_VDEVICE_ALLOC
 * @category uAPI
 */
export const IOMMU_VDEVICE_ALLOC = _IO(IOMMUFD_TYPE, 0x91);

/**
 * `struct iommu_vdevice_alloc` = `size`@0, `viommu_id`@4, `dev_id`@8,
 * `out_vdevice_id`@12, `virt_id` u64@16 (24 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_vdevice_alloc
 * @category uAPI
 */
export const iommuVdeviceAlloc = defineStruct("iommu_vdevice_alloc", [
  ["size", "u32"],
  ["viommu_id", "u32"],
  ["dev_id", "u32"],
  ["out_vdevice_id", "u32"],
  ["virt_id", "aligned_u64"],
] as const);

/**
 * `IOMMU_IOAS_CHANGE_PROCESS = _IO(';', 0x92)`: charge every pinned page
 * of the iommufd to the calling process (a live update hands the iommufd
 * to a new process; v6.14).
 *
 * @kernel include/uapi/linux/iommufd.h IOMMU_IOAS_CHANGE_PROCESS
 * @category uAPI
 */
export const IOMMU_IOAS_CHANGE_PROCESS = _IO(IOMMUFD_TYPE, 0x92);

/**
 * `struct iommu_ioas_change_process` = `size`@0, `__reserved`@4 (8 bytes).
 *
 * @kernel include/uapi/linux/iommufd.h iommu_ioas_change_process
 * @category uAPI
 */
export const iommuIoasChangeProcess = defineStruct("iommu_ioas_change_process", [
  ["size", "u32"],
  ["__reserved", "u32"],
] as const);

/**
 * `IOMMU_TEST_CMD = _IO(';', IOMMUFD_CMD_BASE + 32)` = 0x3BA0: iommufd's
 * selftest command, in the dispatch table only under CONFIG_IOMMUFD_TEST
 * (otherwise the number is unknown: `ENOTTY`). The model answers its two
 * dma-buf ops (kernel-model §3.6).
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h IOMMU_TEST_CMD
 * @category uAPI
 */
export const IOMMU_TEST_CMD = _IO(IOMMUFD_TYPE, 0x80 + 32);

/**
 * `IOMMU_TEST_OP_ADD_RESERVED` (1): reserve an IOVA range of an IOAS
 * (`cmd->id`) with no owner, as a device's reserved region would, so a
 * test can check that IOVA placement, `IOMMU_IOAS_IOVA_RANGES` and
 * `IOMMU_IOAS_ALLOW_IOVAS` respect it.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h IOMMU_TEST_OP_ADD_RESERVED
 * @category uAPI
 */
export const IOMMU_TEST_OP_ADD_RESERVED = 1;
/**
 * `IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT` (9): set the page count that
 * bounds the temporary memory iommufd's page batches use (a module-wide
 * variable, every test fixture's setup), so the selftests exercise the
 * batches' refill path.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT
 * @category uAPI
 */
export const IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9;
/**
 * `IOMMU_TEST_OP_DMABUF_GET` (22 in the selftest header's op enum, which
 * starts at `IOMMU_TEST_OP_ADD_RESERVED` = 1; appended after
 * `IOMMU_TEST_OP_PASID_CHECK_HWPT` = 21 by "iommufd/selftest: Add some
 * tests for the dmabuf flow"): make a kernel-memory mock dma-buf; the fd
 * is the ioctl's return value.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h IOMMU_TEST_OP_DMABUF_GET
 * @category uAPI
 */
export const IOMMU_TEST_OP_DMABUF_GET = 22;
/**
 * `IOMMU_TEST_OP_DMABUF_REVOKE` (23): set or clear the mock dma-buf's
 * `revoked` under its resv and notify its importers.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h IOMMU_TEST_OP_DMABUF_REVOKE
 * @category uAPI
 */
export const IOMMU_TEST_OP_DMABUF_REVOKE = 23;

/** `sizeof(struct iommu_test_cmd)`: the 16-byte header, the 48-byte union, `last`, padding. */
const TEST_CMD_SIZE = 72;
/** `offsetof(struct iommu_test_cmd, last)`: the union's largest member (`dirty`) ends at 64. */
const TEST_CMD_LAST = 64;

/**
 * One view of `struct iommu_test_cmd`: its header, one member of its
 * anonymous union (fields named `member.field`, at their offsets from 16;
 * none for the header-only view), and `last`; 72 bytes whatever the
 * member. An own builder because {@link defineStruct} lays members one
 * after the other and cannot place `last` past the union's largest member.
 */
function testCmdView<const M extends string, const F extends readonly FieldSpec[]>(
  member: M | null,
  fields: F,
): StructLayout<TestCmdView<M, StructValue<F>>> {
  const name = member === null ? "iommu_test_cmd" : `iommu_test_cmd_${member}`;
  const inner = defineStruct(`${name}.union`, fields);
  const all: FieldLayout[] = [
    { name: "size", offset: 0, size: 4, type: "u32" },
    { name: "op", offset: 4, size: 4, type: "u32" },
    { name: "id", offset: 8, size: 4, type: "u32" },
    { name: "__reserved", offset: 12, size: 4, type: "u32" },
    ...inner.fields.map((f) => ({
      ...f,
      name: `${member ?? ""}.${f.name}`,
      offset: 16 + f.offset,
    })),
    { name: "last", offset: TEST_CMD_LAST, size: 4, type: "u32" },
  ];
  const u32 = z.number().int().min(0).max(0xffffffff);
  const shape: Record<string, z.ZodType> = { size: u32, op: u32, id: u32, __reserved: u32 };
  const innerShape = (inner.schema as unknown as z.ZodObject).shape as Record<string, z.ZodType>;
  for (const [k, v] of Object.entries(innerShape)) shape[`${member ?? ""}.${k}`] = v;
  shape["last"] = u32;
  type V = TestCmdView<M, StructValue<F>>;
  return Object.freeze({
    name,
    size: TEST_CMD_SIZE,
    fields: Object.freeze(all),
    schema: z.object(shape) as unknown as z.ZodType<V>,
    encode(value: V): Uint8Array {
      const bytes = new Uint8Array(TEST_CMD_SIZE);
      const view = new DataView(bytes.buffer);
      const record = value as Record<string, number | bigint>;
      for (const f of all) writeScalar(view, f, record[f.name]);
      return bytes;
    },
    decode(bytes: Uint8Array, at = 0): V {
      if (bytes.length < at + TEST_CMD_SIZE) {
        throw new RangeError(
          `${name}: need ${TEST_CMD_SIZE} bytes at ${at}, have ${bytes.length - at}`,
        );
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, TEST_CMD_SIZE);
      const out: Record<string, number | bigint> = {};
      for (const f of all) out[f.name] = readScalar(view, f);
      return out as V;
    },
  });
}

/**
 * A view of `struct iommu_test_cmd`: the {@link TestCmdHeader} and the
 * members of one union member `M`, named `M.field` (as a C designator
 * `.M.field` names them).
 *
 * @category uAPI
 */
export type TestCmdView<M extends string, V> = TestCmdHeader & {
  -readonly [P in keyof V as `${M}.${P & string}`]: V[P];
};

/**
 * The members every view of `struct iommu_test_cmd` shares: `size`@0,
 * `op`@4, `id`@8, `__reserved`@12 and `last`@64.
 *
 * @category uAPI
 */
export interface TestCmdHeader {
  /** `sizeof` as the caller knows it (`min_size` is `offsetofend(last)` = 68). */
  size: number;
  /** The test op, e.g. {@link IOMMU_TEST_OP_DMABUF_GET}. */
  op: number;
  /** An object id for the ops that take one (not the dma-buf ops). */
  id: number;
  /** Not checked by `iommufd_test`. */
  __reserved: number;
  /** The member whose end is the ioctl's `min_size`. */
  last: number;
}

/**
 * `struct iommu_test_cmd` (drivers/iommu/iommufd/iommufd_test.h) as the
 * dispatcher sees it: `size` u32@0, `op` u32@4, `id` u32@8, `__reserved`
 * u32@12, a 48-byte union of the per-op members at 16 (here the view of no
 * member), `last` u32@64; 72 bytes, `min_size` `offsetofend(last)` = 68.
 * {@link iommuTestCmdAddReserved}, {@link iommuTestCmdMemoryLimit},
 * {@link iommuTestCmdDmabufGet} and {@link iommuTestCmdDmabufRevoke} are the
 * views with the members of the test ops the model answers.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h iommu_test_cmd
 * @category uAPI
 */
export const iommuTestCmd = testCmdView(null, [] as const);

/**
 * `struct iommu_test_cmd` with its union's `add_reserved` member: `{
 * aligned_u64 start; aligned_u64 length; }` at 16
 * (`add_reserved.start`@16, `add_reserved.length`@24), for
 * {@link IOMMU_TEST_OP_ADD_RESERVED}.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h iommu_test_cmd
 * @category uAPI
 */
export const iommuTestCmdAddReserved = testCmdView("add_reserved", [
  ["start", "aligned_u64"],
  ["length", "aligned_u64"],
] as const);

/**
 * `struct iommu_test_cmd` with its union's `memory_limit` member: `{ u32
 * limit; }` at 16 (`memory_limit.limit`@16), for
 * {@link IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT}.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h iommu_test_cmd
 * @category uAPI
 */
export const iommuTestCmdMemoryLimit = testCmdView("memory_limit", [["limit", "u32"]] as const);

/**
 * `struct iommu_test_cmd` with its union's `dmabuf_get` member: `{ u32
 * length; u32 open_flags; }` at 16 (`dmabuf_get.length`@16,
 * `dmabuf_get.open_flags`@20), for {@link IOMMU_TEST_OP_DMABUF_GET}.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h iommu_test_cmd
 * @category uAPI
 */
export const iommuTestCmdDmabufGet = testCmdView("dmabuf_get", [
  ["length", "u32"],
  ["open_flags", "u32"],
] as const);

/**
 * `struct iommu_test_cmd` with its union's `dmabuf_revoke` member: `{ s32
 * dmabuf_fd; u32 revoked; }` at 16 (`dmabuf_revoke.dmabuf_fd`@16,
 * `dmabuf_revoke.revoked`@20), for {@link IOMMU_TEST_OP_DMABUF_REVOKE}.
 *
 * @kernel drivers/iommu/iommufd/iommufd_test.h iommu_test_cmd
 * @category uAPI
 */
export const iommuTestCmdDmabufRevoke = testCmdView("dmabuf_revoke", [
  ["dmabuf_fd", "s32"],
  ["revoked", "u32"],
] as const);
