/**
 * The scenarios whose story the kernel of 2026 changed or added (issue 11):
 * the close-order window exists only in the old order, Matt Evans' REVOKE
 * feature, and the v7.1-rc kref underflow as the option vfio-kref-rearm.
 */
import { describe, expect, it } from "vitest";
import { linux710, linux71, linux72, proposalConverters } from "@dmabuf-ref/core";
import { runScenario } from "./support/run-scenario.js";

describe("close-order-window (kernel-model §2.5, d97708701434)", () => {
  it("under linux-6.19 (disable, then cleanup) a DMA between the two reaches the disabled BAR: one violation", () => {
    const r = runScenario("close-order-window");
    expect(r.met, r.text).toBe(true);
    expect(r.violations).toBe(1);
    expect(r.text).toContain(
      "disable-then-cleanup: DMA before close ok, in the window violation, after close fault",
    );
  });

  it.each([linux710, linux71, linux72])(
    "under $id the cleanup comes first: no window, no violation, not met",
    (profile) => {
      const r = runScenario("close-order-window", profile);
      expect(r.met).toBe(false);
      expect(r.violations).toBe(0);
      expect(r.text).toContain("cleanup-then-disable:");
      expect(r.text).toContain("after close fault");
    },
  );
});

describe("mmap-perm-revoke (kernel-model §2.6)", () => {
  it("DMA_BUF_REVOKE revokes a mapped and mmap()ed dma-buf for good: faults, ENODEV, EBADFD, no violation", () => {
    const r = runScenario("mmap-perm-revoke");
    expect(r.met, r.text).toBe(true);
    expect(r.violations).toBe(0);
    expect(r.text).toContain("REVOKE again EBADFD");
  });

  it("the ioctl returns after the importer's unmap: the invalidate comes before the ioctl's return", () => {
    const { events } = runScenario("mmap-perm-revoke");
    const start = events.findIndex(
      (e) => e.kind === "note" && e.text.includes("DMA_BUF_REVOKE: buf"),
    );
    const ret = events.findIndex(
      (e, i) => i > start && e.kind === "ioctl" && e.name === "VFIO_DEVICE_FEATURE",
    );
    const inv = events.findIndex((e, i) => i > start && e.kind === "invalidate");
    expect(start).toBeGreaterThan(0);
    expect(inv).toBeGreaterThan(start);
    expect(ret).toBeGreaterThan(inv);
  });

  it.each([linux71, proposalConverters])(
    "under $id there is no dma-buf mmap: the story stops, not met",
    (profile) => {
      const r = runScenario("mmap-perm-revoke", profile);
      expect(r.met).toBe(false);
      expect(r.text).toContain("stopped");
    },
  );
});

describe("kref-underflow (kernel-model §2.5, c64a647c84f3)", () => {
  it("with vfio-kref-rearm: false a close after a memory-disable revoke blocks for ever with a contract violation", () => {
    const r = runScenario("kref-underflow");
    expect(r.met, r.text).toBe(true);
    expect(r.violations).toBe(1);
    expect(r.text).toContain(
      "kref re-arm off: close never completes, kref underflowed, 1 contract violation(s)",
    );
  });

  it("with the re-arm the same close completes with no violation", () => {
    expect(runScenario("kref-underflow").text).toContain(
      "kref re-arm on: close completes, kref armed, 0 contract violation(s)",
    );
  });
});
