import { describeEvent } from "./describe.js";
import { NO_NAMES, nameBuffers } from "./buffer-names.js";
import type { BufferNames } from "./buffer-names.js";
import type { TraceEvent } from "./event.js";

/**
 * Renders events as a Mermaid `sequenceDiagram` for RFC documents:
 * participants in order of first appearance, one message or note per event.
 *
 * @param events - the trace.
 * @param names - the file's names of dma-bufs (`as: buf0`), used for the
 *   model's ids (default: none).
 * @returns the diagram source, ending with a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderMermaid } from "@dmabuf-ref/core";
 *
 * const diagram = renderMermaid([
 *   { kind: "export", owner: "vfio0", buf: 1, size: 0x10000n },
 *   { kind: "note", actor: "qemu", text: "maps buf 1; then FLR" },
 * ]);
 * assert.equal(
 *   diagram,
 *   [
 *     "sequenceDiagram",
 *     "    participant p0 as vfio0",
 *     "    participant p1 as qemu",
 *     "    Note over p0: dma_buf_export: buf 1, size 0x10000",
 *     "    Note over p1: maps buf 1#59; then FLR",
 *     "",
 *   ].join("\n"),
 * );
 * ```
 * @category Tracing
 */
export function renderMermaid(
  events: readonly TraceEvent[],
  names: BufferNames = NO_NAMES,
): string {
  const ids = new Map<string, string>();
  const lines = events.map((e) => {
    const d = describeEvent(e);
    const named = (t: string): string => nameBuffers(t, names);
    return d.to === undefined
      ? { from: named(d.from), text: named(d.text) }
      : { from: named(d.from), to: named(d.to), text: named(d.text) };
  });
  for (const { from, to } of lines) {
    for (const p of to === undefined ? [from] : [from, to]) {
      if (!ids.has(p)) ids.set(p, `p${ids.size}`);
    }
  }
  const idOf = (p: string): string => {
    const id = ids.get(p);
    if (id === undefined) throw new Error(`participant ${p} not declared`);
    return id;
  };
  const out = ["sequenceDiagram"];
  for (const [name, id] of ids) out.push(`    participant ${id} as ${escapeMermaid(name)}`);
  for (const { from, to, text } of lines) {
    out.push(
      to === undefined
        ? `    Note over ${idOf(from)}: ${escapeMermaid(text)}`
        : `    ${idOf(from)}->>${idOf(to)}: ${escapeMermaid(text)}`,
    );
  }
  return out.join("\n") + "\n";
}

/** Mermaid ends a message at `;` and treats `#` as an entity start; encode both. */
function escapeMermaid(s: string): string {
  return s.replace(/[#;]/g, (c) => (c === "#" ? "#35;" : "#59;"));
}
