/*
 * Lines of a listing that pastes into an email: a fixed-width prefix of
 * columns (padded names), then text wrapped at 72 columns with its
 * continuation lines indented under the text's first column.
 */
import { EMAIL_WIDTH, wrapLine } from "@dmabuf-ref/core";

/**
 * A listing row: `prefix` as given (its padding kept), then `text`
 * wrapped to the columns left of 72, continuations under the text.
 *
 * @param prefix - the row's columns, padded.
 * @param text - the free text after them.
 * @param width - the total width (default 72).
 * @returns the row's lines.
 */
export function columnsRow(prefix: string, text: string, width = EMAIL_WIDTH): string[] {
  const room = width - prefix.length;
  // A prefix too wide for a text column: the text goes below it, indented.
  if (room < 20) return [prefix.trimEnd(), ...wrapLine(`    ${text}`, width, 4)];
  const parts = wrapLine(text, room, 0);
  return parts.map((part, i) => (i === 0 ? prefix : " ".repeat(prefix.length)) + part);
}
