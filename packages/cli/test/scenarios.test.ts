import { scenarioFiles } from "../src/explore/catalogue.js";
import { describe, expect, it } from "vitest";
import type { TraceEvent } from "@dmabuf-ref/core";
import { SCENARIOS } from "../src/scenarios/registry.js";
import { runScenario } from "./support/run-scenario.js";
import type { ScenarioRun } from "./support/run-scenario.js";
import { json, runCli } from "./run-cli.js";

const declared = (name: string): ScenarioRun => runScenario(name);

function dmaOutcomes(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));
}

describe("the VFIO/iommufd scenarios (issue 4) under their declared profiles", () => {
  it.each(SCENARIOS.map((s) => [s.name]))("%s meets its stated expectation", (name) => {
    const r = declared(name);
    expect(r.met, r.text).toBe(true);
  });

  it("qemu-p2p-flr: unmap, FLR, map again, and the guest's DMA works again with no violation", () => {
    const r = declared("qemu-p2p-flr");
    expect(dmaOutcomes(r.events)).toEqual(["ok", "ok"]);
    expect(r.violations).toBe(0);
  });

  it("flr-without-unmap: DMA after the revoke faults, never a violation, and the area stays dead until unmap + map", () => {
    const r = declared("flr-without-unmap");
    expect(dmaOutcomes(r.events)).toEqual(["ok", "fault", "ok"]);
    expect(r.violations).toBe(0);
  });

  it("flr-without-unmap: after the FLR the trace shows invalidate, then the fence wait, then the unmap", () => {
    const { events } = declared("flr-without-unmap");
    const flr = events.findIndex((e) => e.kind === "note" && e.text.includes("FLR"));
    const after = events.slice(flr);
    const invalidate = after.findIndex((e) => e.kind === "invalidate");
    const fences = after.findIndex(
      (e) => e.kind === "wait" && e.what === "fences" && e.state === "done",
    );
    const unmap = after.findIndex((e) => e.kind === "ioctl" && e.name === "IOMMU_IOAS_UNMAP");
    expect(invalidate).toBeGreaterThan(0);
    expect(fences).toBeGreaterThan(invalidate);
    expect(unmap).toBeGreaterThan(fences);
  });

  it("close-revokes-forever: after close, map and attach are ENODEV and the dma-buf fd stays valid", () => {
    const r = declared("close-revokes-forever");
    expect(r.text).toContain("MAP_FILE ENODEV, attach ENODEV, fd valid");
  });

  it("type1-pfn-fishing: DMA through PFNs taken from a VMA is a violation after unbind", () => {
    const r = declared("type1-pfn-fishing");
    expect(dmaOutcomes(r.events)).toEqual(["ok", "violation"]);
    expect(r.violations).toBeGreaterThan(0);
  });

  it("the iommufd selftests give the kernel's errnos", () => {
    expect(declared("iommufd-selftest-dmabuf-simple").text).toContain(
      "got EINVAL, EINVAL, EINVAL, ok",
    );
    expect(declared("iommufd-selftest-dmabuf-revoke").text).toContain("got ok, ENODEV, ok, ok, ok");
  });

  it.each([["rfc-mapping-types-v1"], ["proposal-converters"]])(
    "under %s the mock is a PAL exporter and the iommufd selftests still give the kernel's errnos",
    (profile) => {
      const simple = runScenario("iommufd-selftest-dmabuf-simple", profile);
      const revoke = runScenario("iommufd-selftest-dmabuf-revoke", profile);
      expect(simple.text).toContain("got EINVAL, EINVAL, EINVAL, ok");
      expect(revoke.text).toContain("got ok, ENODEV, ok, ok, ok");
      expect(simple.violations + revoke.violations).toBe(0);
    },
  );

  it("capability-query: the proposal's answer agrees with trying, for VFIO and for a foreign exporter", () => {
    const r = declared("capability-query");
    expect(r.text).toMatch(
      /predicted ok, MAP_FILE ok; buf \d+: predicted EOPNOTSUPP, MAP_FILE EOPNOTSUPP/,
    );
    expect(
      r.events.some((e) => e.kind === "note" && e.text.toLowerCase().includes("proposal")),
    ).toBe(true);
  });
});

describe("the VFIO -> RDMA scenarios (issue 5)", () => {
  it("pinned-rdma-refused: VFIO refuses the pinned RDMA importer, which is not revocable", () => {
    expect(declared("pinned-rdma-refused").text).toContain(
      "ib_umem_dmabuf_get_pinned EOPNOTSUPP, 0 attachment(s) left",
    );
  });

  it("odp-rdma-accepted: an ODP MR is accepted, faults after an FLR, and re-maps on its next fault", () => {
    const r = declared("odp-rdma-accepted");
    expect(dmaOutcomes(r.events)).toEqual(["ok", "fault", "ok"]);
    expect(r.violations).toBe(0);
  });
});

describe("dmabuf-ref scenario", () => {
  it("--list --json gives name, profile and expectation of every scenario: the files of rfc/scenarios, then the TypeScript ones no file replaces", () => {
    const run = runCli("scenario", "--list", "--json");
    expect(run.status).toBe(0);
    const list = json(run) as { name: string; profile: string; expectation: string }[];
    const files = scenarioFiles().map((f) => f.name);
    const names = new Set(files);
    const typescript = SCENARIOS.filter((s) => !names.has(s.name));
    expect(list.map((s) => s.name)).toEqual([...files, ...typescript.map((s) => s.name)]);
    expect(list.slice(files.length).map((s) => s.profile)).toEqual(
      typescript.map((s) => s.profile),
    );
    expect(list.every((s) => s.expectation.length > 0)).toBe(true);
  });

  it("--format json prints the scenario report and exits 0 when the expectation is met", () => {
    const run = runCli("scenario", "flr-without-unmap", "--format", "json");
    expect(run.status).toBe(0);
    const out = json(run) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(
      expect.arrayContaining([
        "scenario",
        "profile",
        "events",
        "violations",
        "faults",
        "expectation",
      ]),
    );
    expect(out).toMatchObject({
      scenario: "flr-without-unmap",
      profile: "linux-7.1",
      violations: [],
    });
    expect(out["expectation"]).toMatchObject({ met: true });
  });

  it("--profile overrides the declared profile and an unmet expectation exits 1", () => {
    const run = runCli(
      "scenario",
      "vfio-to-kvm-private-mmio",
      "--profile",
      "linux-7.1",
      "--format",
      "json",
    );
    expect(run.status).toBe(1);
    expect(json(run)).toMatchObject({
      profile: "linux-7.1",
      expectation: { met: false },
    });
  });

  it("text output is email-safe and mermaid output is a sequence diagram", () => {
    const text = runCli("scenario", "qemu-p2p-flr");
    expect(text.status).toBe(0);
    for (const line of text.stdout.trimEnd().split("\n"))
      expect(line.length).toBeLessThanOrEqual(72);
    const mermaid = runCli("scenario", "qemu-p2p-flr", "--format", "mermaid");
    expect(mermaid.stdout.startsWith("sequenceDiagram\n")).toBe(true);
  });

  it("an unknown scenario, a missing name or a bad format exits 2", () => {
    expect(runCli("scenario", "nope").status).toBe(2);
    expect(runCli("scenario").status).toBe(2);
    expect(runCli("scenario", "qemu-p2p-flr", "--format", "yaml").status).toBe(2);
  });
});
