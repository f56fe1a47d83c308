import { bigintReplacer } from "@dmabuf-ref/core";

/**
 * Serialises a CLI result as JSON (bigints as `"0x…"` strings).
 *
 * @param value - the result.
 * @returns pretty-printed JSON with a trailing newline.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, bigintReplacer, 2) + "\n";
}
