/**
 * The GPU->iommufd scenarios (kernel-model §3.3, §4.4), files in
 * rfc/scenarios: the SPDK/DPDK target path, and why iommufd needs a pin on
 * a movable BO.
 */
import { describe, expect, it } from "vitest";
import { PROFILES } from "@dmabuf-ref/core";
import type { TraceEvent } from "@dmabuf-ref/core";
import { runFile, runInit } from "./support/run-scenario.js";

const dmaOutcomes = (events: readonly TraceEvent[]): string[] =>
  events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));

describe("gpu-to-iommufd-spdk (proposal-converters)", () => {
  it("a GPU BO mapped into an IOAS is reached through core's domain mapping, then faults after its revoke", () => {
    const r = runFile("gpu-to-iommufd-spdk");
    expect(r.profile).toBe("proposal-converters");
    expect(r.allHold).toBe(true);
    expect(r.verdict("exists nic1[0] == ok and nic1[1] == fault")).toBe(true);
    expect(r.verdict("forall nic1[0] != fault or nic1[1] == fault")).toBe(true);
    expect(r.verdict("forall no-violation")).toBe(true);
    // The run where the first DMA lands and the second faults, in that order.
    const w = r.verdicts.find((v) => v.expr === "nic1[0] == ok and nic1[1] == fault")?.witness;
    expect(dmaOutcomes((w ?? []).flatMap((s) => s.events))).toEqual(["ok", "fault"]);
    expect(r.violations).toBe(0);
  });

  it("core, not iommufd, maps the BO into the domain: the trace shows a converted map and no iommufd iommu_map", () => {
    const { events } = runFile("gpu-to-iommufd-spdk");
    expect(
      events.some((e) => e.kind === "map" && e.importer === "iommufd" && /^domain /.test(e.detail)),
    ).toBe(true);
    expect(events.some((e) => e.kind === "note" && e.text.startsWith("iommu_map area"))).toBe(
      false,
    );
  });

  it("under linux-7.1 the story stops at MAP_FILE with EOPNOTSUPP: not a VFIO dma-buf", () => {
    const init = runInit("gpu-to-iommufd-spdk", "linux-7.1");
    expect(init.outcomes.get("init")?.[3]).toBe("EOPNOTSUPP");
    expect(init.steps[3]?.call).toMatch(/= -EOPNOTSUPP: .*not a VFIO dma-buf/);
    const r = runFile("gpu-to-iommufd-spdk", "linux-7.1");
    expect(r.allHold).toBe(false);
    expect(r.outcomes.get("nic1")).toEqual(["blocked", "blocked"]);
  });
});

describe("gpu-movable-needs-pin-for-iommufd (every built-in profile)", () => {
  it("iommufd pins a movable BO under proposal-converters: MAP_FILE ok, evict EBUSY, DMA ok", () => {
    const r = runFile("gpu-movable-needs-pin-for-iommufd");
    expect(r.allHold).toBe(true);
    expect(r.outcomes.get("spdk")).toEqual(["ok"]);
    expect(r.outcomes.get("ttm")).toEqual(["EBUSY"]);
    expect(r.outcomes.get("nic1")).toEqual(["ok"]);
    expect(r.verdict("forall spdk[0] == ok and nic1[0] == ok")).toBe(true);
  });

  it("the trace under proposal-converters shows TTM's eviction refused and the NIC's DMA still ok", () => {
    const r = runFile("gpu-movable-needs-pin-for-iommufd");
    expect(dmaOutcomes(r.events)).toEqual(["ok"]);
    expect(r.steps.find((s) => s.thread === "ttm")?.call).toMatch(/= -EBUSY: .*pinned/);
  });

  it.each(
    PROFILES.filter((p) => p.id !== "proposal-converters").map((p) => [
      p.id,
      p.id === "rfc-mapping-types-v1" ? "EINVAL" : "EOPNOTSUPP",
    ]),
  )("under %s iommufd refuses the import with %s, with no violation", (profile, errno) => {
    const r = runFile("gpu-movable-needs-pin-for-iommufd", profile);
    expect(r.outcomes.get("spdk")).toEqual([errno]);
    expect(r.verdict("forall no-violation")).toBe(true);
  });
});
