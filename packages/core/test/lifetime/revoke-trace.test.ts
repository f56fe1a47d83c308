import { describe, expect, it } from "vitest";
import { renderMermaid, renderText, revokeWithDmaInFlight } from "@dmabuf-ref/core";

describe("the revoke trace, rendered for RFC documents", () => {
  const example = revokeWithDmaInFlight();

  it("the worked revoke with DMA in flight records no violation and faults the late access", () => {
    expect(example.run.world.violations.size).toBe(0);
    const dma = example.events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));
    expect(dma).toEqual(["ok", "fault"]);
  });

  // The committed rfc/examples/revoke-in-flight-dma.{txt,mmd} are compared
  // with the code by the CLI's rendered-RFC test, with every other rendering.
  it("reads as email-safe text: one line per event, at most 72 columns", () => {
    const text = renderText(example.events);
    for (const line of text.trimEnd().split("\n")) expect(line.length).toBeLessThanOrEqual(72);
  });

  it("renders as a Mermaid sequence diagram", () => {
    expect(renderMermaid(example.events).split("\n")[0]).toBe("sequenceDiagram");
  });
});
