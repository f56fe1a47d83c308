/**
 * The VFIO/iommufd and VFIO->RDMA scenarios (issues 4, 5), now files in
 * rfc/scenarios run by the explorer: each fact is asserted of the file's
 * reference run (what `dmabuf-ref scenario NAME` prints and rfc/traces
 * keeps) or of its verdicts over every interleaving. The two scenarios a
 * file cannot express yet stay TypeScript, and `dmabuf-ref scenario` runs
 * both kinds.
 */
import { scenarioFiles } from "../src/explore/catalogue.js";
import { describe, expect, it } from "vitest";
import type { TraceEvent } from "@dmabuf-ref/core";
import { runEdited, runFile } from "./support/run-scenario.js";
import type { FileRun } from "./support/run-scenario.js";
import { REPO_ROOT, json, runCli } from "./run-cli.js";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function dmaOutcomes(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));
}

/**
 * A file with dev1's first DMA run at the end of `init`, before every
 * thread: the order the TypeScript scenario told its story in.
 */
function dmaFirst(name: string): FileRun {
  return runEdited(name, (file) => ({
    ...file,
    init: [...file.init, ...(file.threads["dev1"] ?? []).slice(0, 1)],
    threads: Object.fromEntries(Object.entries(file.threads).filter(([t]) => t !== "dev1")),
    expect: [{ forall: "no-violation" }],
  }));
}

/** The 15 scenarios of issues 4, 5 and 7 that files replace. */
const CONVERTED = [
  "qemu-p2p-flr",
  "flr-without-unmap",
  "close-revokes-forever",
  "close-order-window",
  "kref-underflow",
  "mmap-perm-revoke",
  "iommufd-selftest-dmabuf-simple",
  "iommufd-selftest-dmabuf-revoke",
  "pinned-rdma-refused",
  "odp-rdma-accepted",
  "vfio-to-kvm-private-mmio",
  "kvm-close-order",
  "gpu-evict-moves-kvm",
  "gpu-to-iommufd-spdk",
  "gpu-movable-needs-pin-for-iommufd",
];

describe("scenarios are files; TypeScript remains only where a file cannot express one yet", () => {
  it("every scenario of issues 4, 5 and 7 is a file of rfc/scenarios, and no TypeScript scenario is left", () => {
    const files = new Set(scenarioFiles().map((f) => f.name));
    for (const name of [...CONVERTED, "type1-pfn-fishing", "capability-query"])
      expect(files.has(name), name).toBe(true);
    expect(readdirSync(join(REPO_ROOT, "packages/cli/src/scenarios"))).toEqual(["machine.ts"]);
    expect(files.size).toBeGreaterThanOrEqual(26);
  });

  it.each(CONVERTED.map((n) => [n]))(
    "%s: every expectation holds under its declared profile",
    (name) => {
      const r = runFile(name);
      expect(r.verdicts.filter((v) => v.holds !== true).map((v) => v.expr)).toEqual([]);
    },
  );
});

describe("the VFIO/iommufd scenarios (issue 4) under their declared profiles", () => {
  it("qemu-p2p-flr: unmap, FLR, map again, and the guest's DMA works again with no violation", () => {
    const r = runFile("qemu-p2p-flr");
    expect(dmaOutcomes(r.events)).toEqual(["ok", "ok"]);
    expect(r.violations).toBe(0);
    expect(r.verdict("forall vmm[0] == ok and vmm[1] == ok and vmm[2] == ok")).toBe(true);
    expect(r.verdict("forall dev1[1] == ok")).toBe(true);
    expect(r.verdict("forall no-violation")).toBe(true);
    // Run before the VMM's first call, the guest's first DMA lands.
    expect(dmaOutcomes(dmaFirst("qemu-p2p-flr").initEvents)).toEqual(["ok"]);
  });

  it("flr-without-unmap: DMA after the revoke faults, never a violation, and the area stays dead until unmap + map", () => {
    const r = runFile("flr-without-unmap");
    expect(r.outcomes.get("vmm")).toEqual(["ok", "fault", "ok", "ok", "ok"]);
    expect(r.verdict("forall vmm[1] == fault")).toBe(true);
    expect(r.verdict("forall vmm[2] == ok and vmm[3] == ok and vmm[4] == ok")).toBe(true);
    // dev1's DMA racing the FLR: ok before the revoke, or a fault.
    expect(r.verdict("exists dev1[0] == ok")).toBe(true);
    expect(dmaOutcomes(dmaFirst("flr-without-unmap").initEvents)).toEqual(["ok"]);
    expect(r.verdict("forall no-violation")).toBe(true);
    expect(r.violations).toBe(0);
  });

  it("flr-without-unmap: after the FLR the trace shows invalidate, then the fence wait, then the unmap", () => {
    const { events } = runFile("flr-without-unmap");
    const flr = events.findIndex((e) => e.kind === "note" && e.text.includes("FLR"));
    const after = events.slice(flr);
    const invalidate = after.findIndex((e) => e.kind === "invalidate");
    const fences = after.findIndex(
      (e) => e.kind === "wait" && e.what === "fences" && e.state === "done",
    );
    const unmap = after.findIndex((e) => e.kind === "ioctl" && e.name === "IOMMU_IOAS_UNMAP");
    expect(flr).toBeGreaterThan(0);
    expect(invalidate).toBeGreaterThan(0);
    expect(fences).toBeGreaterThan(invalidate);
    expect(unmap).toBeGreaterThan(fences);
  });

  it("close-revokes-forever: after close, map and attach are ENODEV, the old IOVA faults and the dma-buf fd stays valid", () => {
    const r = runFile("close-revokes-forever");
    expect(r.verdict("forall vmm[2] == ENODEV and vmm[3] == ENODEV")).toBe(true);
    expect(r.verdict("forall vmm[0] == ok and vmm[1] == fault")).toBe(true);
    expect(r.steps.find((s) => s.thread === "vmm" && s.call.startsWith("attach"))?.call).toMatch(
      /= -ENODEV: the VFIO dma-buf is revoked$/,
    );
    // The fd stays valid: the revoked dma-buf is still there, not released.
    expect(r.world.bufs.size).toBe(1);
    expect(r.events.some((e) => e.kind === "release")).toBe(false);
    expect(r.violations).toBe(0);
  });

  it("type1-pfn-fishing: DMA through PFNs type1 took from a BAR's VMA is a violation after unbind", () => {
    const r = runFile("type1-pfn-fishing");
    expect(dmaOutcomes(r.events)).toEqual(["ok", "violation"]);
    expect(r.violations).toBeGreaterThan(0);
    expect(r.allHold).toBe(true);
  });

  it("the iommufd selftests give the kernel's errnos", () => {
    const simple = runFile("iommufd-selftest-dmabuf-simple");
    const revoke = runFile("iommufd-selftest-dmabuf-revoke");
    expect(simple.outcomes.get("selftest")).toEqual(["EINVAL", "EINVAL", "EINVAL", "ok"]);
    expect(revoke.outcomes.get("selftest")).toEqual([
      "ok",
      "ok",
      "ok",
      "ENODEV",
      "ok",
      "ok",
      "ok",
      "ok",
    ]);
    expect(simple.allHold && revoke.allHold).toBe(true);
  });

  it.each([["rfc-mapping-types-v1"], ["proposal-converters"]])(
    "under %s the mock is a PAL exporter and the iommufd selftests still give the kernel's errnos",
    (profile) => {
      const simple = runFile("iommufd-selftest-dmabuf-simple", profile);
      const revoke = runFile("iommufd-selftest-dmabuf-revoke", profile);
      const failed = [...simple.verdicts, ...revoke.verdicts].filter((v) => v.holds !== true);
      expect(failed.map((v) => v.expr)).toEqual([]);
      expect(simple.outcomes.get("selftest")).toEqual(["EINVAL", "EINVAL", "EINVAL", "ok"]);
      expect(revoke.outcomes.get("selftest")?.[3]).toBe("ENODEV");
      expect(simple.violations + revoke.violations).toBe(0);
      // PAL, not sgt: the mock's mapping is a PAL range (or core's domain mapping).
      const maps = [...simple.events, ...revoke.events].flatMap((e) =>
        e.kind === "map" ? [e.detail] : [],
      );
      expect(maps.length).toBeGreaterThan(0);
      for (const d of maps) expect(d).toMatch(/^(pal |domain )/);
    },
  );

  it("capability-query: the proposal's answer agrees with trying, for VFIO and for a foreign exporter", () => {
    const r = runFile("capability-query");
    expect(r.outcomes.get("q")).toEqual(["ok", "EOPNOTSUPP"]);
    expect(r.outcomes.get("map")).toEqual(["ok", "EOPNOTSUPP"]);
    expect(r.allHold).toBe(true);
  });
});

describe("the VFIO -> RDMA scenarios (issue 5)", () => {
  it("pinned-rdma-refused: VFIO refuses the pinned RDMA importer, which is not revocable", () => {
    const r = runFile("pinned-rdma-refused");
    expect(r.verdict("forall app[0] == EOPNOTSUPP")).toBe(true);
    expect(r.steps.find((s) => s.thread === "app")?.call).toMatch(/= -EOPNOTSUPP: /);
    // Nothing mapped, no attachment left behind, and the FLR after it is uneventful.
    expect(r.world.atts.size).toBe(0);
    expect(r.events.some((e) => e.kind === "map" || e.kind === "invalidate")).toBe(false);
    expect(r.violations).toBe(0);
  });

  it("odp-rdma-accepted: an ODP MR is accepted, faults after an FLR, and re-maps on its next fault", () => {
    const r = runFile("odp-rdma-accepted");
    expect(dmaOutcomes(r.events)).toEqual(["ok", "fault", "ok"]);
    expect(r.verdict("forall app[4] == fault")).toBe(true);
    expect(r.verdict("forall app[5] == ok and app[6] == ok")).toBe(true);
    expect(r.violations).toBe(0);
  });
});

describe("dmabuf-ref scenario", () => {
  it("--list --json gives name, profile and expectation of every scenario file", () => {
    const run = runCli("scenario", "--list", "--json");
    expect(run.status).toBe(0);
    const list = json(run) as { name: string; profile: string; expectation: string }[];
    expect(list.map((s) => s.name)).toEqual(scenarioFiles().map((f) => f.name));
    expect(list.every((s) => s.expectation.length > 0)).toBe(true);
    // One sentence, ASCII: it heads a trace that goes into email.
    expect(list.every((s) => /^[\x20-\x7e]+$/.test(s.expectation))).toBe(true);
  });

  it("every listed scenario runs and meets its expectations (exit 0)", () => {
    const list = json(runCli("scenario", "--list", "--json")) as { name: string }[];
    for (const { name } of list) expect(runCli("scenario", name).status, name).toBe(0);
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
