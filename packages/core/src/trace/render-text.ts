import { describeEvent } from "./describe.js";
import type { TraceEvent } from "./event.js";
import { NO_NAMES, nameBuffers } from "./buffer-names.js";
import type { BufferNames } from "./buffer-names.js";

/**
 * The widest line an email-safe rendering may have (DESIGN §3.8).
 *
 * @category Tracing
 */
export const EMAIL_WIDTH = 72;

/**
 * Breaks a line into pieces of at most `width` columns at spaces,
 * continuation pieces indented by `indent` spaces; a word longer than the
 * room left is split hard so no line ever exceeds `width`.
 *
 * @param line - the line to wrap (no newlines).
 * @param width - the maximum columns.
 * @param indent - spaces before every continuation line.
 * @returns the wrapped lines.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrapLine } from "@dmabuf-ref/core";
 *
 * const lines = wrapLine("  5 qemu -> iommufd: IOMMU_IOAS_MAP_FILE = -ENODEV: revoked", 40, 6);
 * assert.deepEqual(lines, [
 *   "  5 qemu -> iommufd: IOMMU_IOAS_MAP_FILE",
 *   "      = -ENODEV: revoked",
 * ]);
 * assert.ok(lines.every((l) => l.length <= 40));
 * ```
 * @category Tracing
 */
export function wrapLine(line: string, width: number, indent: number): string[] {
  if (indent >= width) throw new RangeError("indent must be narrower than width");
  const pad = " ".repeat(indent);
  const lead = /^ */.exec(line)?.[0] ?? "";
  const words = line
    .slice(lead.length)
    .split(/ +/)
    .filter((w) => w.length > 0);
  const out: string[] = [];
  let current = lead;
  let fresh = true; // nothing but indentation on the current line yet
  for (const word of words) {
    const sep = fresh ? "" : " ";
    if (current.length + sep.length + word.length <= width) {
      current += sep + word;
      fresh = false;
      continue;
    }
    if (!fresh) {
      out.push(current);
      current = pad;
    }
    let rest = word;
    while (current.length + rest.length > width) {
      const room = width - current.length;
      out.push(current + rest.slice(0, room));
      rest = rest.slice(room);
      current = pad;
    }
    current += rest;
    fresh = false;
  }
  out.push(current);
  return out;
}

/**
 * Renders events as plain ASCII text for an email: one numbered line per
 * event, `from -> to: what`, wrapped so no line exceeds 72 columns.
 *
 * @param events - the trace.
 * @param width - the column limit (default {@link EMAIL_WIDTH}).
 * @param names - the file's names of dma-bufs (`as: buf0`), used for the
 *   model's ids (default: none).
 * @returns the text, ending with a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelError, renderText } from "@dmabuf-ref/core";
 *
 * const text = renderText([
 *   { kind: "export", owner: "vfio0", buf: 1, size: 0x10000n },
 *   {
 *     kind: "ioctl",
 *     process: "qemu",
 *     target: "iommufd",
 *     name: "IOMMU_IOAS_MAP_FILE",
 *     result: { ok: false, error: kernelError("ENODEV", "the VFIO dma-buf is revoked") },
 *   },
 * ]);
 * assert.equal(
 *   text,
 *   "  1 vfio0: dma_buf_export: buf 1, size 0x10000\n" +
 *     "  2 qemu -> iommufd: IOMMU_IOAS_MAP_FILE = -ENODEV: the VFIO dma-buf is\n" +
 *     "      revoked\n",
 * );
 * ```
 * @category Tracing
 */
export function renderText(
  events: readonly TraceEvent[],
  width = EMAIL_WIDTH,
  names: BufferNames = NO_NAMES,
): string {
  const numberWidth = Math.max(3, String(events.length).length);
  const lines = events.flatMap((event, i) => {
    const { from, to, text } = describeEvent(event);
    const head = `${String(i + 1).padStart(numberWidth)} ${from}${to === undefined ? "" : ` -> ${to}`}: `;
    // Named before wrapping: a user's name may be longer than `buf 1`.
    return wrapLine(asciiOnly(nameBuffers(head + text, names)), width, numberWidth + 3);
  });
  return lines.join("\n") + "\n";
}

/** Replaces characters that do not survive every mail client with ASCII. */
function asciiOnly(s: string): string {
  return s
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2013\u2014]/g, "-")
    .replace(/\u00a7/g, "S")
    .replace(/[^\x20-\x7e]/g, "?");
}
