import type { KernelError, LazyText } from "./kernel-error.js";
import { kernelError } from "./kernel-error.js";
import type { Errno } from "./errno.js";

/**
 * The success arm of a {@link Result}: the kernel call returned >= 0.
 *
 * @category uAPI
 */
export interface Ok<T> {
  /** Discriminant: the call succeeded. */
  readonly ok: true;
  /** What the call produced. */
  readonly value: T;
}

/**
 * The failure arm of a {@link Result}: the kernel call returned `-errno`.
 *
 * @category uAPI
 */
export interface Err<E = KernelError> {
  /** Discriminant: the call failed. */
  readonly ok: false;
  /** The errno and the failed check. */
  readonly error: E;
}

/**
 * The outcome of a kernel call that can fail by contract: a value, or a
 * {@link KernelError} (the C convention of returning 0 / a pointer or `-errno`).
 *
 * @category uAPI
 */
export type Result<T, E = KernelError> = Ok<T> | Err<E>;

/**
 * Wraps a successful value.
 *
 * @param value - what the call produced.
 * @returns `{ ok: true, value }`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ok } from "@dmabuf-ref/core";
 * import type { Result } from "@dmabuf-ref/core";
 *
 * // IOMMU_IOAS_ALLOC returned 0 and wrote out_ioas_id = 2.
 * const r: Result<number> = ok(2);
 * assert.ok(r.ok);
 * assert.equal(r.value, 2);
 * ```
 * @category uAPI
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { err, formatKernelError } from "@dmabuf-ref/core";
 *
 * const r = err("EBADF", "fd 7 is not a dma-buf");
 * assert.equal(r.ok, false);
 * assert.equal(r.error.errno, "EBADF");
 * assert.equal(formatKernelError(r.error), "EBADF: fd 7 is not a dma-buf");
 * ```
 * @category uAPI
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { err, fail, ok } from "@dmabuf-ref/core";
 * import type { Result } from "@dmabuf-ref/core";
 *
 * const inner = (): Result<number> => err("ENOMEM", "kmalloc of the ranges failed");
 * // The outer call returns the inner call's error unchanged, as `return rc;` does.
 * function outer(): Result<string> {
 *   const r = inner();
 *   if (!r.ok) return fail(r.error);
 *   return ok(`fd ${r.value}`);
 * }
 * const r = outer();
 * assert.equal(r.ok ? undefined : r.error.errno, "ENOMEM");
 * ```
 * @category uAPI
 */
export function fail(error: KernelError): Err {
  return { ok: false, error };
}
