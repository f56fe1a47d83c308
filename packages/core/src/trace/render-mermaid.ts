import { describeEvent } from "./describe.js";
import type { TraceEvent } from "./event.js";

/**
 * Renders events as a Mermaid `sequenceDiagram` for RFC documents:
 * participants in order of first appearance, one message or note per event.
 *
 * @param events - the trace.
 * @returns the diagram source, ending with a newline.
 *
 * @example
 * ```text
 * sequenceDiagram
 *     participant p0 as iommufd
 *     participant p1 as vfio0
 *     p0->>p1: attach (rfc-mapping-types-v1): offers [pal, sgt] x accepts [pal]
 * ```
 */
export function renderMermaid(events: readonly TraceEvent[]): string {
  const ids = new Map<string, string>();
  const lines = events.map(describeEvent);
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
