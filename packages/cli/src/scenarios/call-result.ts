import type { KernelError } from "@dmabuf-ref/core";

/** What one call returned: a value, or the errno. */
export type CallResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KernelError };
