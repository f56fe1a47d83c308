/**
 * An address, length or flag word as traces and error messages print it:
 * lower-case hexadecimal with `0x`, as the kernel's `%#llx` does.
 *
 * @param v - the value (a u64 quantity).
 * @returns e.g. `"0x4000000000"`.
 */
export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
