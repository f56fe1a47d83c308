/**
 * The scenarios whose story the kernel of 2026 changed or added (issue 11),
 * files in rfc/scenarios: the close-order window exists only in the old
 * order, Matt Evans' REVOKE feature, and the v7.1-rc kref underflow as the
 * machine option vfio-kref-rearm.
 */
import { describe, expect, it } from "vitest";
import { linux619, linux710, linux71, linux72, proposalConverters } from "@dmabuf-ref/core";
import type { TraceEvent } from "@dmabuf-ref/core";
import type { ScenarioCall } from "../src/explore/scenario-file.js";
import { runEdited, runFile, runInit } from "./support/run-scenario.js";
import type { FileRun } from "./support/run-scenario.js";

/** The index of the first note starting with `text`, or -1. */
const noteAt = (events: readonly TraceEvent[], text: string): number =>
  events.findIndex((e) => e.kind === "note" && e.text.startsWith(text));

describe("close-order-window (kernel-model §2.5, d97708701434)", () => {
  it("under linux-6.19 (disable, then cleanup) a DMA between the two reaches the disabled BAR: a violation", () => {
    const r = runFile("close-order-window", linux619);
    expect(r.verdict("forall no-violation")).toBe(false);
    const w = r.verdicts[0]?.witness ?? [];
    const events = w.flatMap((s) => s.events);
    const disable = noteAt(events, "vfio_pci_core_disable()");
    const violation = events.findIndex(
      (e) => e.kind === "dma" && e.device === "dev1" && e.outcome === "violation",
    );
    expect(disable).toBeGreaterThanOrEqual(0);
    expect(violation).toBeGreaterThan(disable);
    // Before the close the DMA is ok, after it a fault: the window is the only way in.
    expect(r.verdict("exists dev1[0] == ok")).toBe(true);
    expect(r.verdict("exists dev1[0] == fault")).toBe(true);
    expect(r.verdict("forall vmm[0] == ok")).toBe(true);
  });

  it.each([linux710, linux71, linux72])(
    "under $id the cleanup comes first: no window, no violation, and after close the DMA faults",
    (profile) => {
      const r = runFile("close-order-window", profile);
      expect(r.allHold).toBe(true);
      expect(r.verdict("forall no-violation")).toBe(true);
      expect(noteAt(r.events, "vfio_pci_core_disable()")).toBeGreaterThan(
        noteAt(r.events, "vfio_pci_dma_buf_cleanup()"),
      );
      expect(noteAt(r.events, "vfio_pci_dma_buf_cleanup()")).toBeGreaterThan(0);
      expect(r.outcomes.get("dev1")).toEqual(["fault"]);
      expect(r.violations).toBe(0);
    },
  );
});

/**
 * The reference-run outcomes of a thread's calls that `pick` selects, in
 * order: the facts below name calls by what they are, not by their index,
 * so they survive a file that adds a call.
 */
function outcomesOf(r: FileRun, thread: string, pick: (call: ScenarioCall) => boolean): string[] {
  const calls = r.file.threads[thread] ?? [];
  const got = r.outcomes.get(thread) ?? [];
  return calls.flatMap((c, i) => (pick(c) ? [got[i] ?? "missing"] : []));
}

const isIoctl =
  (name: string, feature?: string) =>
  (c: ScenarioCall): boolean =>
    "ioctl" in c &&
    c.ioctl === name &&
    (feature === undefined || JSON.stringify(c).includes(`"feature":"${feature}"`));
const isOp =
  (op: string) =>
  (c: ScenarioCall): boolean =>
    "op" in c && c.op === op;
const isEvent =
  (event: string) =>
  (c: ScenarioCall): boolean =>
    "event" in c && c.event === event;

describe("mmap-perm-revoke (kernel-model §2.6)", () => {
  it("DMA_BUF_REVOKE revokes a mapped and mmap()ed dma-buf for good: faults, ENODEV, EBADFD, no violation", () => {
    const r = runFile("mmap-perm-revoke");
    expect(r.verdicts.filter((v) => v.holds !== true).map((v) => v.expr)).toEqual([]);
    expect(r.verdict("forall no-violation")).toBe(true);
    // The first REVOKE is ok, the second EBADFD.
    expect(outcomesOf(r, "vmm", isIoctl("VFIO_DEVICE_FEATURE", "DMA_BUF_REVOKE"))).toEqual([
      "ok",
      "EBADFD",
    ]);
    // dev1's DMA after it faults; MAP_FILE and mmap are ENODEV, even after
    // a memory-disable/enable cycle (which un-revokes only a temporary revoke).
    expect(outcomesOf(r, "vmm", isEvent("dma"))).toEqual(["fault"]);
    expect(outcomesOf(r, "vmm", isIoctl("IOMMU_IOAS_MAP_FILE"))).toEqual(["ENODEV", "ENODEV"]);
    expect(outcomesOf(r, "vmm", isOp("mmap"))).toEqual(["ENODEV"]);
    expect(
      outcomesOf(r, "vmm", (c) => isEvent("memory-disable")(c) || isEvent("memory-enable")(c)),
    ).toEqual(["ok", "ok"]);
    expect(r.violations).toBe(0);
  });

  it("the ioctl returns after the importer's unmap: the invalidate comes before the ioctl's return", () => {
    const { events } = runFile("mmap-perm-revoke");
    const start = noteAt(events, "DMA_BUF_REVOKE: buf");
    const ret = events.findIndex(
      (e, i) => i > start && e.kind === "ioctl" && e.name === "VFIO_DEVICE_FEATURE",
    );
    const inv = events.findIndex((e, i) => i > start && e.kind === "invalidate");
    expect(start).toBeGreaterThan(0);
    expect(inv).toBeGreaterThan(start);
    expect(ret).toBeGreaterThan(inv);
  });

  it.each([linux71, proposalConverters])(
    "under $id there is no dma-buf mmap and no REVOKE feature: the expectations fail",
    (profile) => {
      const init = runInit("mmap-perm-revoke", profile);
      expect(init.outcomes.get("init")?.[4]).toBe("EINVAL");
      const r = runFile("mmap-perm-revoke", profile);
      expect(r.allHold).toBe(false);
      // Feature 13 does not exist: the first REVOKE is ENOTTY.
      expect(outcomesOf(r, "vmm", isIoctl("VFIO_DEVICE_FEATURE", "DMA_BUF_REVOKE"))[0]).toBe(
        "ENOTTY",
      );
      expect(r.verdict("forall no-violation")).toBe(true);
    },
  );
});

describe("kref-underflow (kernel-model §2.5, c64a647c84f3)", () => {
  it("with vfio-kref-rearm: false a close after a memory-disable revoke blocks for ever with a contract violation", () => {
    const r = runFile("kref-underflow");
    expect(r.allHold).toBe(true);
    expect(r.outcomes.get("vmm")).toEqual(["ok", "blocked"]);
    expect(r.verdict("forall vmm[1] == blocked")).toBe(true);
    expect(r.verdict("forall not no-violation")).toBe(true);
    const violations = [...r.world.violations.values()];
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ kind: "contract" });
    expect(JSON.stringify(violations[0])).toContain("underflow");
  });

  it("with the re-arm the same close completes with no violation", () => {
    const r = runEdited("kref-underflow", (file) => ({
      ...file,
      machine:
        file.machine === "default"
          ? file.machine
          : { ...file.machine, vfio: { ...file.machine.vfio, krefRearm: true } },
      expect: [{ forall: "no-violation" }, { forall: "no-deadlock" }],
    }));
    expect(r.allHold).toBe(true);
    expect(r.outcomes.get("vmm")).toEqual(["ok", "ok"]);
    expect(r.violations).toBe(0);
    expect(noteAt(r.events, "close complete")).toBeGreaterThan(0);
  });
});
