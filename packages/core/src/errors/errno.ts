import * as z from "zod";

/**
 * The Linux errno values this model returns, with their x86-64 numbers
 * (include/uapi/asm-generic/errno-base.h and errno.h).
 *
 * @remarks
 * Only the errnos a modelled kernel path can return are listed; a path that
 * needs another one adds it here, so every errno in a trace is a real one.
 * `EDEADLOCK` is the same number as `EDEADLK` on x86-64.
 */
export const ERRNO_NUMBERS = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  EDEADLOCK: 35,
  EBADFD: 77,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EOVERFLOW: 75,
} as const;

/** The name of an errno as the kernel headers spell it, e.g. `"ENODEV"`. */
export type Errno = keyof typeof ERRNO_NUMBERS;

/** Every modelled errno name, in a stable order (for zod and for listings). */
export const ERRNO_NAMES = Object.keys(ERRNO_NUMBERS) as [Errno, ...Errno[]];

/** zod schema accepting exactly the modelled errno names. */
export const errnoSchema = z.enum(ERRNO_NAMES);

/**
 * The errno number userspace sees, e.g. `errnoNumber("ENODEV") === 19`;
 * an ioctl returns its negation.
 *
 * @param errno - the errno name.
 * @returns the positive errno number.
 */
export function errnoNumber(errno: Errno): number {
  return ERRNO_NUMBERS[errno];
}
