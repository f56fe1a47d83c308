import type { Errno } from "./errno.js";

/**
 * A failure as the kernel reports it: the errno a call returns, plus the
 * sentence naming the check that failed (what a maintainer would put in a
 * comment beside the `return -EINVAL;`).
 *
 * @remarks
 * DESIGN §3.7: operations that fail by contract return this inside a
 * {@link Result}; bugs in the model itself throw instead.
 */
export interface KernelError {
  /** The errno name the kernel returns, e.g. `"ENODEV"`. */
  readonly errno: Errno;
  /** One sentence naming the failed check, e.g. "dma-buf is revoked". */
  readonly message: string;
}

/**
 * Builds a {@link KernelError}.
 *
 * @param errno - the errno the kernel returns.
 * @param message - the sentence naming the failed check.
 * @returns a frozen error value.
 */
export function kernelError(errno: Errno, message: string): KernelError {
  return Object.freeze({ errno, message });
}

/**
 * Formats an error the way it reads in a trace or an email:
 * `"ENODEV: dma-buf is revoked"`.
 *
 * @param error - the error to format.
 * @returns the errno name, a colon and the sentence.
 */
export function formatKernelError(error: KernelError): string {
  return `${error.errno}: ${error.message}`;
}
