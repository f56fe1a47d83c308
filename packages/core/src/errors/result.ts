import type { KernelError, LazyText } from "./kernel-error.js";
import { kernelError } from "./kernel-error.js";
import type { Errno } from "./errno.js";

/** The success arm of a {@link Result}: the kernel call returned >= 0. */
export interface Ok<T> {
  /** Discriminant: the call succeeded. */
  readonly ok: true;
  /** What the call produced. */
  readonly value: T;
}

/** The failure arm of a {@link Result}: the kernel call returned `-errno`. */
export interface Err<E = KernelError> {
  /** Discriminant: the call failed. */
  readonly ok: false;
  /** The errno and the failed check. */
  readonly error: E;
}

/**
 * The outcome of a kernel call that can fail by contract: a value, or a
 * {@link KernelError} (the C convention of returning 0 / a pointer or `-errno`).
 */
export type Result<T, E = KernelError> = Ok<T> | Err<E>;

/**
 * Wraps a successful value.
 *
 * @param value - what the call produced.
 * @returns `{ ok: true, value }`.
 */
export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

/**
 * Wraps a failure, building the {@link KernelError} from an errno and the
 * sentence naming the failed check.
 *
 * @param errno - the errno the kernel returns.
 * @param message - the failed check.
 * @returns `{ ok: false, error }`.
 */
export function err(errno: Errno, message: LazyText): Err {
  return { ok: false, error: kernelError(errno, message) };
}

/**
 * Wraps an existing {@link KernelError} as a failure (to pass an inner
 * call's error up unchanged, as `return rc;` does).
 *
 * @param error - the error to return.
 * @returns `{ ok: false, error }`.
 */
export function fail(error: KernelError): Err {
  return { ok: false, error };
}
