/**
 * The GPU->iommufd scenarios (kernel-model §3.3, §4.4): the SPDK/DPDK
 * target path, and why iommufd needs a pin on a movable BO.
 */
import { describe, expect, it } from "vitest";
import type { TraceEvent } from "@dmabuf-ref/core";
import { runScenario as run } from "./support/run-scenario.js";

/** The declared profile's run. */
const declared = (name: string): ReturnType<typeof run> => run(name);

const dmaOutcomes = (events: readonly TraceEvent[]): string[] =>
  events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));

describe("gpu-to-iommufd-spdk (proposal-converters)", () => {
  it("a GPU BO mapped into an IOAS is reached through core's domain mapping, then faults after its revoke", () => {
    const r = declared("gpu-to-iommufd-spdk");
    expect(r.met, r.text).toBe(true);
    expect(dmaOutcomes(r.events)).toEqual(["ok", "fault"]);
    expect(r.violations).toBe(0);
  });

  it("core, not iommufd, maps the BO into the domain: the trace shows a converted map and no iommufd iommu_map", () => {
    const { events } = declared("gpu-to-iommufd-spdk");
    expect(
      events.some((e) => e.kind === "map" && e.importer === "iommufd" && /^domain /.test(e.detail)),
    ).toBe(true);
    expect(events.some((e) => e.kind === "note" && e.text.startsWith("iommu_map area"))).toBe(
      false,
    );
  });

  it("under linux-7.1 the story stops at MAP_FILE with EOPNOTSUPP: not a VFIO dma-buf", () => {
    const r = run("gpu-to-iommufd-spdk", "linux-7.1");
    expect(r.met).toBe(false);
    expect(r.text).toMatch(/stopped: EOPNOTSUPP: .*not a VFIO dma-buf/);
  });
});

describe("gpu-movable-needs-pin-for-iommufd (every built-in profile)", () => {
  it("iommufd pins a movable BO under proposal-converters and is refused elsewhere, with no violation", () => {
    const r = declared("gpu-movable-needs-pin-for-iommufd");
    expect(r.met, r.text).toBe(true);
    expect(r.text).toContain("linux-6.19: MAP_FILE EOPNOTSUPP");
    expect(r.text).toContain("linux-7.1: MAP_FILE EOPNOTSUPP");
    expect(r.text).toContain("rfc-mapping-types-v1: MAP_FILE EINVAL");
    expect(r.text).toContain("proposal-converters: pinned: MAP_FILE ok, evict EBUSY, DMA ok");
  });

  it("the trace under proposal-converters shows TTM's eviction refused and the NIC's DMA still ok", () => {
    const { events } = declared("gpu-movable-needs-pin-for-iommufd");
    expect(dmaOutcomes(events)).toEqual(["ok"]);
    expect(events.some((e) => e.kind === "error" && e.error.errno === "EBUSY")).toBe(true);
  });

  it("the verdict is the same whichever profile it is run under", () => {
    expect(run("gpu-movable-needs-pin-for-iommufd", "linux-7.1").met).toBe(true);
  });
});
