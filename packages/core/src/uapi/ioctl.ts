/**
 * `_IOC_NONE`: the ioctl passes no data, or a pointer whose size the number
 * does not encode (every iommufd and VFIO ioctl; include/uapi/asm-generic/ioctl.h).
 *
 * @category uAPI
 */
export const IOC_NONE = 0;
/**
 * `_IOC_WRITE`: userspace writes the argument to the kernel.
 *
 * @category uAPI
 */
export const IOC_WRITE = 1;
/**
 * `_IOC_READ`: the kernel writes the argument back to userspace.
 *
 * @category uAPI
 */
export const IOC_READ = 2;

/**
 * The fields of an ioctl number, as `_IOC_DIR/_IOC_TYPE/_IOC_NR/_IOC_SIZE` extract them.
 *
 * @category uAPI
 */
export interface IoctlFields {
  /** Direction bits (`IOC_NONE`, `IOC_WRITE`, `IOC_READ` or both). */
  readonly dir: number;
  /** The type byte, `';'` (0x3B) for VFIO and iommufd. */
  readonly type: number;
  /** The command number. */
  readonly nr: number;
  /** The argument size encoded in the number (0 for `_IO`). */
  readonly size: number;
}

/**
 * `_IOC(dir, type, nr, size)` with the asm-generic layout used on x86-64:
 * nr in bits 0–7, type in 8–15, size in 16–29, dir in 30–31.
 *
 * @param fields - direction, type byte, command number and argument size.
 * @returns the ioctl number as an unsigned 32-bit value.
 * @kernel include/uapi/asm-generic/ioctl.h _IOC
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IOC_NONE, ioc } from "@dmabuf-ref/core";
 *
 * // VFIO_DEVICE_FEATURE: _IO(VFIO_TYPE, VFIO_BASE + 17), no size in the number.
 * const n = ioc({ dir: IOC_NONE, type: 0x3b, nr: 100 + 17, size: 0 });
 * assert.equal(n, 0x3b75);
 * assert.throws(() => ioc({ dir: IOC_NONE, type: 0x3b, nr: 0x100, size: 0 }), RangeError);
 * ```
 * @category uAPI
 */
export function ioc({ dir, type, nr, size }: IoctlFields): number {
  if (dir < 0 || dir > 3 || type < 0 || type > 0xff || nr < 0 || nr > 0xff) {
    throw new RangeError("ioctl field out of range");
  }
  if (size < 0 || size >= 1 << 14) throw new RangeError("ioctl size must fit in 14 bits");
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/**
 * Splits an ioctl number into its fields (`_IOC_DIR`, `_IOC_TYPE`, `_IOC_NR`, `_IOC_SIZE`).
 *
 * @param number - the ioctl number.
 * @returns its fields.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IOC_NONE, IOMMU_IOAS_MAP_FILE, iocFields } from "@dmabuf-ref/core";
 *
 * assert.deepEqual(iocFields(IOMMU_IOAS_MAP_FILE), {
 *   dir: IOC_NONE,
 *   type: 0x3b,
 *   nr: 0x8f,
 *   size: 0,
 * });
 * ```
 * @category uAPI
 */
export function iocFields(number: number): IoctlFields {
  return {
    dir: (number >>> 30) & 0x3,
    type: (number >>> 8) & 0xff,
    nr: number & 0xff,
    size: (number >>> 16) & 0x3fff,
  };
}

/**
 * `_IO(type, nr)`: an ioctl with no size in its number.
 *
 * @param type - the type byte (a character code such as `";".charCodeAt(0)`).
 * @param nr - the command number.
 * @returns the ioctl number.
 * @kernel include/uapi/asm-generic/ioctl.h _IO
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VFIO_BASE, VFIO_DEVICE_RESET, VFIO_TYPE, _IO } from "@dmabuf-ref/core";
 *
 * // #define VFIO_DEVICE_RESET _IO(VFIO_TYPE, VFIO_BASE + 11)
 * assert.equal(_IO(VFIO_TYPE, VFIO_BASE + 11), VFIO_DEVICE_RESET);
 * assert.equal(VFIO_DEVICE_RESET, 0x3b6f);
 * ```
 * @category uAPI
 */
export function _IO(type: number, nr: number): number {
  return ioc({ dir: IOC_NONE, type, nr, size: 0 });
}

/**
 * `_IOR(type, nr, size)`: the kernel writes `size` bytes back.
 *
 * @param type - the type byte.
 * @param nr - the command number.
 * @param size - `sizeof` the argument.
 * @returns the ioctl number.
 * @kernel include/uapi/asm-generic/ioctl.h _IOR
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IOC_READ, _IOR, iocFields } from "@dmabuf-ref/core";
 *
 * // An ioctl whose 8-byte argument the kernel writes back.
 * const n = _IOR(0x3b, 0x10, 8);
 * assert.equal(n, 0x80083b10);
 * assert.equal(iocFields(n).dir, IOC_READ);
 * ```
 * @category uAPI
 */
export function _IOR(type: number, nr: number, size: number): number {
  return ioc({ dir: IOC_READ, type, nr, size });
}

/**
 * `_IOW(type, nr, size)`: userspace passes `size` bytes in.
 *
 * @param type - the type byte.
 * @param nr - the command number.
 * @param size - `sizeof` the argument.
 * @returns the ioctl number.
 * @kernel include/uapi/asm-generic/ioctl.h _IOW
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IOC_WRITE, _IOW, iocFields } from "@dmabuf-ref/core";
 *
 * // An ioctl that passes a 16-byte argument in.
 * const n = _IOW(0x3b, 0x10, 16);
 * assert.equal(n, 0x40103b10);
 * assert.deepEqual(iocFields(n), { dir: IOC_WRITE, type: 0x3b, nr: 0x10, size: 16 });
 * ```
 * @category uAPI
 */
export function _IOW(type: number, nr: number, size: number): number {
  return ioc({ dir: IOC_WRITE, type, nr, size });
}

/**
 * `_IOWR(type, nr, size)`: both directions.
 *
 * @param type - the type byte.
 * @param nr - the command number.
 * @param size - `sizeof` the argument.
 * @returns the ioctl number.
 * @kernel include/uapi/asm-generic/ioctl.h _IOWR
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IOC_READ, IOC_WRITE, _IOWR, iocFields } from "@dmabuf-ref/core";
 *
 * const n = _IOWR(0x3b, 0x10, 24);
 * assert.equal(n, 0xc0183b10);
 * assert.equal(iocFields(n).dir, IOC_READ | IOC_WRITE);
 * ```
 * @category uAPI
 */
export function _IOWR(type: number, nr: number, size: number): number {
  return ioc({ dir: IOC_READ | IOC_WRITE, type, nr, size });
}

/**
 * Formats an ioctl number as the kernel headers would print it: `0x3b8f`.
 *
 * @param number - the ioctl number.
 * @returns lower-case hex with a `0x` prefix.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IOMMU_IOAS_MAP_FILE, formatIoctlNumber } from "@dmabuf-ref/core";
 *
 * assert.equal(formatIoctlNumber(IOMMU_IOAS_MAP_FILE), "0x3b8f");
 * ```
 * @category uAPI
 */
export function formatIoctlNumber(number: number): string {
  return `0x${number.toString(16)}`;
}
