import { describe, expect, it } from "vitest";
import { renderMermaid, renderText, revokeWithDmaInFlight } from "@dmabuf-ref/core";

describe("the revoke trace, rendered for RFC documents", () => {
  const example = revokeWithDmaInFlight();

  it("the worked revoke with DMA in flight records no violation and faults the late access", () => {
    expect(example.run.world.violations.size).toBe(0);
    const dma = example.events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));
    expect(dma).toEqual(["ok", "fault"]);
  });

  it("reads as email-safe text: one line per event, at most 72 columns", async () => {
    const text = renderText(example.events);
    for (const line of text.trimEnd().split("\n")) expect(line.length).toBeLessThanOrEqual(72);
    await expect(text).toMatchFileSnapshot("../../../../rfc/examples/revoke-in-flight-dma.txt");
  });

  it("renders as a Mermaid sequence diagram", async () => {
    await expect(renderMermaid(example.events)).toMatchFileSnapshot(
      "../../../../rfc/examples/revoke-in-flight-dma.mmd",
    );
  });
});
