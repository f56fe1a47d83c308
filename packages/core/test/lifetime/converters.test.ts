import { describe, expect, it } from "vitest";
import {
  accept,
  boot,
  createDmaBuf,
  defineMachine,
  dmaUnmapIova,
  domainOf,
  iommuDomain,
  mappingPayload,
  mustAtt,
  mustBuf,
  NOTHING,
  offer,
  ok as okResult,
  pal,
  payloadAs,
  proposalConverters,
  referenceImporter,
  runScript,
  sgt,
  topologySchema,
} from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Machine } from "@dmabuf-ref/core";

const BAR = 0x40_0000_0000n;
const topology = topologySchema.parse({
  regions: [{ id: "pex0.bar0", kind: "bar", base: BAR, size: 0x100_0000n, device: "pex0" }],
  devices: [
    { id: "pex0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/** A PAL-only exporter of one BAR range, as the converters proposal wants exporters to be. */
const palExporter: ExporterDriver = {
  name: "pal-exporter",
  export: (_m, w, owner) => {
    const c = createDmaBuf(w, { exporter: "pal-exporter", owner, size: 0x20_0000n, priv: NOTHING });
    return okResult({ world: c.world, events: c.events, buf: c.buf });
  },
  offers: () => [offer(pal, { provider: "pex0" })],
  map: (_m, w, att) => {
    if (mustBuf(w, mustAtt(w, att).buf).revoked !== "usable") {
      return { ok: false, error: { errno: "ENODEV", message: "revoked" } };
    }
    const payload = mappingPayload(pal, { phys: [{ paddr: BAR, len: 0x20_0000n }] });
    return okResult({ world: w, events: [], mapping: { payload, grants: [], iova: [] } });
  },
  unmap: (_m, w, _att, mapping) => ({ world: dmaUnmapIova(w, mapping.iova), events: [] }),
  release: (_m, w) => ({ world: w, events: [] }),
};

function machine(importers: ImporterDriver[]): Machine {
  return defineMachine({
    profile: proposalConverters,
    topology,
    exporters: [palExporter],
    importers,
  });
}

describe("mapping through core's converters (kernel-model §4.4, proposal-converters)", () => {
  it("PAL->SGT: a PAL-only exporter is mapped for an SGT importer by core, and DMA reaches the BAR", () => {
    const m = machine([referenceImporter()]);
    const run = runScript(m, boot(m), [
      { kind: "export", exporter: "pal-exporter", owner: "pex0", args: null },
      (c) => ({
        kind: "attach",
        buf: c[0] ?? -1,
        importer: "ref-importer",
        device: "dev1",
        dynamic: true,
      }),
      (c) => ({ kind: "lock", buf: c[0] ?? -1, holder: "imp" }),
      (c) => ({ kind: "map", att: c[1] ?? -1, holder: "imp" }),
      (c) => ({ kind: "unlock", buf: c[0] ?? -1, holder: "imp" }),
    ]);
    expect(run.results.map((r) => r.status)).toEqual(["done", "done", "done", "done", "done"]);
    const att = run.world.atts.get(run.results[1]?.created ?? -1);
    expect(att).toMatchObject({ mapType: "sgt", exporterType: "pal", converter: "pal->sgt" });
    const entry = payloadAs(sgt, att?.mapping?.payload).entries[0];
    if (entry === undefined) throw new Error("no sgt entry");
    const dma = runScript(m, run.world, [
      { kind: "dma", device: "dev1", addr: entry.dmaAddress, len: 64n, dir: "write" },
    ]);
    expect(dma.events.find((e) => e.kind === "dma")).toMatchObject({
      outcome: "ok",
      detail: "pex0.bar0+0x0",
    });
    // A revoke makes the importer unmap; the converter's IOVA goes with it.
    const revoked = runScript(m, dma.world, [
      { kind: "revoke", buf: run.results[0]?.created ?? -1, permanent: false, by: "reset" },
      { kind: "dma", device: "dev1", addr: entry.dmaAddress, len: 64n, dir: "read" },
    ]);
    expect(revoked.events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []))).toEqual(["fault"]);
    expect(revoked.world.violations.size).toBe(0);
  });

  it("PAL->iommu-domain: core maps the exporter's memory into the importer's domain at its IOVA", () => {
    const domainImporter: ImporterDriver = {
      name: "domain-importer",
      allowPeer2peer: true,
      accepts: (m, w) => [
        accept(
          iommuDomain,
          {
            domain: String(domainOf(m, w, "dev1") ?? -1),
            iova: 0x8000_0000n,
            offset: 0x1000n,
            size: 0x10_0000n,
          },
          "domain-importer",
        ),
      ],
      invalidateMappings: (_m, w) => ({ world: w, events: [] }),
    };
    const m = machine([domainImporter]);
    const run = runScript(m, boot(m), [
      { kind: "export", exporter: "pal-exporter", owner: "pex0", args: null },
      (c) => ({
        kind: "attach",
        buf: c[0] ?? -1,
        importer: "domain-importer",
        device: null,
        dynamic: true,
      }),
      (c) => ({ kind: "lock", buf: c[0] ?? -1, holder: "imp" }),
      (c) => ({ kind: "map", att: c[1] ?? -1, holder: "imp" }),
      (c) => ({ kind: "unlock", buf: c[0] ?? -1, holder: "imp" }),
      { kind: "dma", device: "dev1", addr: 0x8000_0000n, len: 64n, dir: "write" },
      { kind: "dma", device: "dev1", addr: 0x8010_0000n, len: 64n, dir: "write" },
    ]);
    expect(run.results.map((r) => r.status)).toEqual([
      "done",
      "done",
      "done",
      "done",
      "done",
      "done",
      "done",
    ]);
    const outcomes = run.events.flatMap((e) =>
      e.kind === "dma" ? [`${e.outcome} ${e.detail}`] : [],
    );
    expect(outcomes[0]).toBe("ok pex0.bar0+0x1000"); // offset 0x1000 into the buffer
    expect(outcomes[1]?.startsWith("fault")).toBe(true); // past the mapped size
    expect(run.world.violations.size).toBe(0);
  });

  it("a converted map whose request runs past the buffer fails with EINVAL and changes nothing", () => {
    const bad: ImporterDriver = {
      name: "bad-importer",
      allowPeer2peer: true,
      accepts: (m, w) => [
        accept(
          iommuDomain,
          {
            domain: String(domainOf(m, w, "dev1") ?? -1),
            iova: 0n,
            offset: 0x1f_f000n,
            size: 0x2000n,
          },
          "bad-importer",
        ),
      ],
      invalidateMappings: (_m, w) => ({ world: w, events: [] }),
    };
    const m = machine([bad]);
    const set = runScript(m, boot(m), [
      { kind: "export", exporter: "pal-exporter", owner: "pex0", args: null },
      (c) => ({
        kind: "attach",
        buf: c[0] ?? -1,
        importer: "bad-importer",
        device: null,
        dynamic: true,
      }),
      (c) => ({ kind: "lock", buf: c[0] ?? -1, holder: "imp" }),
    ]);
    const map = runScript(m, set.world, [
      { kind: "map", att: set.results[1]?.created ?? -1, holder: "imp" },
    ]);
    expect(map.results[0]).toMatchObject({ status: "failed", error: { errno: "EINVAL" } });
    expect(map.world).toBe(set.world);
  });
});
