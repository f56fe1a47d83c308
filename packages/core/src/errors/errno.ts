import * as z from "zod";

/**
 * The Linux errno values this model returns, with their x86-64 numbers
 * (include/uapi/asm-generic/errno-base.h and errno.h).
 *
 * @remarks
 * Only the errnos a modelled kernel path can return are listed; a path that
 * needs another one adds it here, so every errno in a trace is a real one.
 * `EDEADLOCK` is the same number as `EDEADLK` on x86-64.
 * @category uAPI
 */
export const ERRNO_NUMBERS = {
  /** Operation not permitted. */
  EPERM: 1,
  /** No such object: an unknown ID or IOVA (iommufd). */
  ENOENT: 2,
  /** I/O error: e.g. a KVM fault whose get_pfn failed. */
  EIO: 5,
  /** Non-zero bytes in the struct tail the kernel does not know (iommufd). */
  E2BIG: 7,
  /** Not a valid file descriptor. */
  EBADF: 9,
  /** Try again. */
  EAGAIN: 11,
  /** Out of memory. */
  ENOMEM: 12,
  /** A user pointer could not be read or written. */
  EFAULT: 14,
  /** Object in use. */
  EBUSY: 16,
  /** Already exists: an IOVA range overlaps an area. */
  EEXIST: 17,
  /** No such device: a revoked or closed VFIO dma-buf. */
  ENODEV: 19,
  /** Invalid argument; also "no mapping type matched". */
  EINVAL: 22,
  /** Too many open files (a process's fd table, or the model's memfd limit). */
  EMFILE: 24,
  /** Unknown ioctl or feature. */
  ENOTTY: 25,
  /** File too large: `ftruncate()` past the largest file (a memfd beyond the model's limit). */
  EFBIG: 27,
  /** No free IOVA space. */
  ENOSPC: 28,
  /** Resource deadlock would occur (same number as EDEADLK). */
  EDEADLOCK: 35,
  /** File descriptor in bad state: a dma-buf already revoked. */
  EBADFD: 77,
  /** Output array too small (IOAS_IOVA_RANGES). */
  EMSGSIZE: 90,
  /** Operation not supported; from match(), "skip this pair". */
  EOPNOTSUPP: 95,
  /**
   * Address already in use: an IOAS area conflicts with a new reservation or
   * with a raised IOVA alignment (iommufd).
   */
  EADDRINUSE: 98,
  /** Arithmetic overflow of an address or length. */
  EOVERFLOW: 75,
} as const;

/**
 * The name of an errno as the kernel headers spell it, e.g. `"ENODEV"`.
 *
 * @category uAPI
 */
export type Errno = keyof typeof ERRNO_NUMBERS;

/**
 * Every modelled errno name, in a stable order (for zod and for listings).
 *
 * @category uAPI
 */
export const ERRNO_NAMES = Object.keys(ERRNO_NUMBERS) as [Errno, ...Errno[]];

/**
 * zod schema accepting exactly the modelled errno names.
 *
 * @category uAPI
 */
export const errnoSchema = z.enum(ERRNO_NAMES);

/**
 * The errno number userspace sees, e.g. `errnoNumber("ENODEV") === 19`;
 * an ioctl returns its negation.
 *
 * @param errno - the errno name.
 * @returns the positive errno number.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoNumber } from "@dmabuf-ref/core";
 *
 * // A call that fails with ENODEV returns -19 to userspace.
 * assert.equal(errnoNumber("ENODEV"), 19);
 * assert.equal(errnoNumber("E2BIG"), 7);
 * assert.equal(errnoNumber("EDEADLOCK"), 35);
 * ```
 * @category uAPI
 */
export function errnoNumber(errno: Errno): number {
  return ERRNO_NUMBERS[errno];
}
