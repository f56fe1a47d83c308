import fc from "fast-check";
import { match } from "ts-pattern";
import { describe, expect, it } from "vitest";
import {
  EMAIL_WIDTH,
  accept,
  bigintReplacer,
  kernelError,
  negotiate,
  negotiationEvents,
  offer,
  pal,
  renderJson,
  renderMermaid,
  renderText,
  rfcMappingTypesV1,
  sgt,
  wrapLine,
} from "@dmabuf-ref/core";
import type { TraceEvent } from "@dmabuf-ref/core";

const offers = [offer(pal, {}), offer(sgt, { requiresP2P: true, p2pDevice: "vfio0" })];
const accepts = [accept(sgt, { device: "nic0", acceptsP2P: true }, "ib_core")];
const result = negotiate(offers, accepts, rfcMappingTypesV1);
const trace: TraceEvent[] = [
  ...negotiationEvents(
    { exporter: "vfio0", importer: "nic0" },
    offers,
    accepts,
    rfcMappingTypesV1.id,
    result,
  ),
  {
    kind: "ioctl",
    process: "qemu",
    target: "iommufd",
    name: "IOMMU_IOAS_MAP_FILE",
    result: { ok: false, error: kernelError("ENODEV", "the VFIO dma-buf is revoked") },
  },
  {
    kind: "note",
    actor: "qemu",
    text: "maps again after FLR; the old area stays dead until unmap",
  },
];

describe("text renderer", () => {
  it("renders one numbered actor -> actor line per event, email-safe", () => {
    expect(renderText(trace)).toMatchInlineSnapshot(`
      "  1 nic0 -> vfio0: attach (rfc-mapping-types-v1): offers [pal, sgt] x
            accepts [sgt]
        2 vfio0 -> nic0: pair 0/0 pal x sgt: different types and no converter
            between them
        3 vfio0 -> nic0: pair 1/0 sgt: skipped: EOPNOTSUPP:
            pci_p2pdma_distance(vfio0, nic0) < 0: not P2P reachable
        4 vfio0 -> nic0: attach fails: EINVAL: no acceptable pair: offers
            [pal, sgt] x accepts [sgt]
        5 qemu -> iommufd: IOMMU_IOAS_MAP_FILE = -ENODEV: the VFIO dma-buf is
            revoked
        6 qemu: maps again after FLR; the old area stays dead until unmap
      "
    `);
  });

  it("no rendered line exceeds 72 columns, whatever the text", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme-ascii", maxLength: 400 }),
        fc.string({ maxLength: 30 }),
        (text, actor) => {
          const out = renderText([{ kind: "note", actor: actor === "" ? "a" : actor, text }]);
          for (const line of out.trimEnd().split("\n")) {
            expect(line.length).toBeLessThanOrEqual(EMAIL_WIDTH);
            expect(line).toMatch(/^[\x20-\x7e]*$/);
          }
        },
      ),
    );
  });

  it("wrapping keeps every word, in order", () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z]{1,90}$/), { maxLength: 40 }), (words) => {
        const lines = wrapLine(words.join(" "), 72, 6);
        expect(lines.every((l) => l.length <= 72)).toBe(true);
        expect(lines.join("").replace(/ /g, "")).toBe(words.join(""));
      }),
    );
  });
});

describe("a CPU access through a dma-buf mmap (the cpu event)", () => {
  const load = (
    outcome: "ok" | "fault" | "violation",
    actor: string,
    detail: string,
  ): TraceEvent => ({
    kind: "cpu",
    actor,
    process: "client",
    addr: 0x7f00_0000_0000n,
    len: 8n,
    dir: "read",
    outcome,
    detail,
  });

  it("a load the exporter's fault handler refuses reads as client -> device: CPU load ...: FAULT (SIGBUS ...)", () => {
    expect(renderText([load("fault", "vfio0", "SIGBUS: buf 1 revoked, PTEs zapped")]))
      .toMatchInlineSnapshot(`
      "  1 client -> vfio0: CPU load 0x7f0000000000+0x8: FAULT (SIGBUS: buf 1
            revoked, PTEs zapped)
      "
    `);
  });

  it("with no VMA at the address the process answers itself: a note, no arrow", () => {
    const out = renderMermaid([load("fault", "client", "SIGSEGV: no VMA at this address")]);
    expect(out).toContain(
      "    Note over p0: CPU load 0x7f0000000000+0x8: FAULT (SIGSEGV: no VMA at this address)",
    );
  });

  it("a store that reached memory that does not decode says VIOLATION, and serialises its address as 0x", () => {
    const e: TraceEvent = {
      kind: "cpu",
      actor: "vfio0",
      process: "client",
      addr: 0x7f00_0000_0000n,
      len: 8n,
      dir: "write",
      outcome: "violation",
      detail: "vfio0.bar0+0x0 does not decode",
    };
    expect(renderText([e])).toContain("CPU store 0x7f0000000000+0x8: VIOLATION");
    expect(JSON.parse(renderJson([e]))).toEqual([
      expect.objectContaining({ kind: "cpu", addr: "0x7f0000000000", outcome: "violation" }),
    ]);
  });
});

describe("mermaid renderer", () => {
  it("renders a sequenceDiagram with participants in order of appearance", () => {
    const out = renderMermaid(trace);
    expect(out.split("\n").slice(0, 5)).toEqual([
      "sequenceDiagram",
      "    participant p0 as nic0",
      "    participant p1 as vfio0",
      "    participant p2 as qemu",
      "    participant p3 as iommufd",
    ]);
    expect(out).toContain(
      "    p0->>p1: attach (rfc-mapping-types-v1): offers [pal, sgt] x accepts [sgt]",
    );
    expect(out).toContain(
      "    Note over p2: maps again after FLR#59; the old area stays dead until unmap",
    );
  });
});

describe("json renderer", () => {
  it("serialises bigints as 0x strings and round-trips the events", () => {
    const out = JSON.parse(renderJson(trace)) as unknown[];
    expect(out).toHaveLength(trace.length);
    expect(out).toEqual(JSON.parse(JSON.stringify(trace)));
    expect(JSON.parse(JSON.stringify({ iova: 2n ** 63n + 1n }, bigintReplacer))).toEqual({
      iova: "0x8000000000000001",
    });
  });
});

describe("trace events are one discriminated union", () => {
  it("a match over TraceEvent that misses a kind does not compile", () => {
    // The missing case makes the result an error type; that is the point.
    const kindOf = (e: TraceEvent): string =>
      // eslint-disable-next-line @typescript-eslint/no-unsafe-return
      match(e)
        .with({ kind: "negotiate" }, () => "n")
        .with({ kind: "negotiate-pair" }, () => "p")
        .with({ kind: "negotiate-result" }, () => "r")
        .with({ kind: "ioctl" }, () => "i")
        // @ts-expect-error the "note" kind is not handled, so exhaustive() must not type-check
        .exhaustive();
    expect(kindOf(trace[0] as TraceEvent)).toBe("n");
  });
});
