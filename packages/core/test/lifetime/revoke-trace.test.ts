import { describe, expect, it } from "vitest";
import { referenceWorld, renderMermaid, renderText, runScript } from "@dmabuf-ref/core";
import type { TraceEvent } from "@dmabuf-ref/core";
import { mappedWorld } from "./setup.js";

/**
 * The canonical revoke with DMA in flight, as an RFC would show it: the
 * device's job keeps full access until its fence signals, the exporter then
 * waits for the importer's unmap, and a late access faults in the IOMMU.
 */
function revokeWithDmaInFlight(): TraceEvent[] {
  const m = mappedWorld(referenceWorld());
  const run = runScript(
    m.world,
    [
      { kind: "lock", buf: m.buf, holder: m.holder },
      { kind: "dma-submit", att: m.att, addr: m.dma, len: 0x1000n, dir: "write", holder: m.holder },
      { kind: "unlock", buf: m.buf, holder: m.holder },
      { kind: "revoke", buf: m.buf, permanent: false, by: "FLR" },
      (c) => ({ kind: "dma-access", job: c[1] ?? -1 }),
      (c) => ({ kind: "signal", job: c[1] ?? -1 }),
      { kind: "dma", device: "dev0", addr: m.dma, len: 0x1000n, dir: "read" },
    ],
    "importer",
  );
  expect(run.world.violations.size).toBe(0);
  return [
    {
      kind: "note",
      actor: "exp0",
      text: "ref-importer mapped buf for dev0; dev0 has a write in flight",
    },
    ...run.events,
  ];
}

describe("the revoke trace, rendered for RFC documents", () => {
  const events = revokeWithDmaInFlight();

  it("reads as email-safe text: one line per event, at most 72 columns", async () => {
    const text = renderText(events);
    for (const line of text.trimEnd().split("\n")) expect(line.length).toBeLessThanOrEqual(72);
    await expect(text).toMatchFileSnapshot("../../../../rfc/examples/revoke-in-flight-dma.txt");
  });

  it("renders as a Mermaid sequence diagram", async () => {
    await expect(renderMermaid(events)).toMatchFileSnapshot(
      "../../../../rfc/examples/revoke-in-flight-dma.mmd",
    );
  });
});
