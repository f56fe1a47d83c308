/**
 * An address, length or flag word as traces and error messages print it:
 * lower-case hexadecimal with `0x`, as the kernel's `%#llx` does.
 *
 * @param v - the value (a u64 quantity).
 * @returns e.g. `"0x4000000000"`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hex } from "@dmabuf-ref/core";
 *
 * // A 256 GiB BAR address, as %#llx prints it.
 * assert.equal(hex(0x4000000000n), "0x4000000000");
 * assert.equal(hex(0n), "0x0");
 * ```
 * @category Tracing
 */
export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
