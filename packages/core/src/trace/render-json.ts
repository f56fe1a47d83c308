import type { TraceEvent } from "./event.js";

/**
 * `JSON.stringify` replacer for the model's values: a bigint (a u64 address
 * or length) becomes a `"0x…"` string so no precision is lost.
 *
 * @param _key - unused.
 * @param value - the value being serialised.
 * @returns the value, with bigints as hex strings.
 */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `0x${value.toString(16)}` : value;
}

/**
 * Renders events as a JSON array, bigints as `"0x…"` strings.
 *
 * @param events - the trace.
 * @returns pretty-printed JSON, ending with a newline.
 */
export function renderJson(events: readonly TraceEvent[]): string {
  return JSON.stringify(events, bigintReplacer, 2) + "\n";
}
