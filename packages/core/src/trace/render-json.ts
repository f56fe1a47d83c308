import type { TraceEvent } from "./event.js";

/**
 * `JSON.stringify` replacer for the model's values: a bigint (a u64 address
 * or length) becomes a `"0x…"` string so no precision is lost.
 *
 * @param _key - unused.
 * @param value - the value being serialised.
 * @returns the value, with bigints as hex strings.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bigintReplacer } from "@dmabuf-ref/core";
 *
 * const json = JSON.stringify({ iova: 0x100000n, length: 0x200000n }, bigintReplacer);
 * assert.equal(json, '{"iova":"0x100000","length":"0x200000"}');
 * ```
 * @category Tracing
 */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `0x${value.toString(16)}` : value;
}

/**
 * Renders events as a JSON array, bigints as `"0x…"` strings.
 *
 * @param events - the trace.
 * @returns pretty-printed JSON, ending with a newline.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderJson } from "@dmabuf-ref/core";
 *
 * const json = renderJson([{ kind: "export", owner: "vfio0", buf: 1, size: 0x10000n }]);
 * assert.deepEqual(JSON.parse(json), [
 *   { kind: "export", owner: "vfio0", buf: 1, size: "0x10000" },
 * ]);
 * assert.ok(json.endsWith("\n"));
 * ```
 * @category Tracing
 */
export function renderJson(events: readonly TraceEvent[]): string {
  return JSON.stringify(events, bigintReplacer, 2) + "\n";
}
