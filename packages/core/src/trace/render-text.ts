import { describeEvent } from "./describe.js";
import type { TraceEvent } from "./event.js";

/** The widest line an email-safe rendering may have (DESIGN §3.8). */
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
 * @returns the text, ending with a newline.
 *
 * @example
 * ```text
 *   1 iommufd -> vfio0: attach (rfc-mapping-types-v1): offers [pal, sgt]
 *       x accepts [pal]
 * ```
 */
export function renderText(events: readonly TraceEvent[], width = EMAIL_WIDTH): string {
  const numberWidth = Math.max(3, String(events.length).length);
  const lines = events.flatMap((event, i) => {
    const { from, to, text } = describeEvent(event);
    const head = `${String(i + 1).padStart(numberWidth)} ${from}${to === undefined ? "" : ` -> ${to}`}: `;
    return wrapLine(asciiOnly(head + text), width, numberWidth + 3);
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
