/**
 * The KVM scenarios (Xu Yilun's RFC, kernel-model §5.1, §4.4) under their
 * declared profiles and under linux-7.1 / the RFC, plus the get_pfn
 * addressing rule they rely on.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { boot, linux71, rfcMappingTypesV1 } from "@dmabuf-ref/core";
import type { TraceEvent } from "@dmabuf-ref/core";
import { KVM_PAGE } from "@dmabuf-ref/importers";
import { matrixMachine } from "../src/matrix/machine.js";
import { guestFault, setDmabufMemslot } from "../src/scenarios/kvm-guest.js";
import { VFIO0_BAR0 } from "../src/scenarios/machine.js";
import { SCENARIOS } from "../src/scenarios/registry.js";
import { runScenario as run } from "./support/run-scenario.js";
import { VmmSession } from "../src/scenarios/session.js";

/** The errnos of the guest faults and accesses KVM refused, in order. */
function faultErrnos(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) =>
    e.kind === "error" && e.call.startsWith("guest ") ? [e.error.errno] : [],
  );
}

/** The oracle's verdicts on the guest's own loads and stores (agent "kvm"), in order. */
function guestVerdicts(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) => (e.kind === "dma" && e.device === "kvm" ? [e.outcome] : []));
}

/** The text of KVM's successful faults, in order. */
function faults(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) =>
    e.kind === "note" && e.actor === "kvm" && e.text.startsWith("fault ") ? [e.text] : [],
  );
}

const BAR_PFN = VFIO0_BAR0 / KVM_PAGE;

describe("vfio-to-kvm-private-mmio (kernel-model §5.1, §4.4)", () => {
  it("meets its expectation under rfc-mapping-types-v1 with no violation", () => {
    const r = run("vfio-to-kvm-private-mmio");
    expect(r.met, r.text).toBe(true);
    expect(r.violations).toBe(0);
  });

  it("KVM faults the guest onto the BAR's PFN at the largest order, with no host-userspace mmap", () => {
    const r = run("vfio-to-kvm-private-mmio");
    expect(faults(r.events)[0]).toBe(
      `fault gfn 0x100010: get_pfn -> pfn 0x${(BAR_PFN + 0x10n).toString(16)}, order 9, uncached MMIO`,
    );
    expect(r.text).toContain("0 host VMA(s)");
  });

  it("KVM never maps VFIO MMIO cacheable: every fault is uncached MMIO", () => {
    const fs = faults(run("vfio-to-kvm-private-mmio").events);
    expect(fs.length).toBeGreaterThan(0);
    for (const f of fs) expect(f).toMatch(/uncached MMIO$/);
  });

  it("a guest fault on a revoked VFIO dma-buf memslot is EIO: during the FLR and after close", () => {
    expect(faultErrnos(run("vfio-to-kvm-private-mmio").events)).toEqual(["EIO", "EIO", "EIO"]);
  });

  it("the guest's stores reach the BAR before the FLR and after it, never during: the oracle sees no violation", () => {
    const r = run("vfio-to-kvm-private-mmio");
    expect(guestVerdicts(r.events)).toEqual(["ok", "ok"]);
    expect(r.violations).toBe(0);
  });

  it("an FLR's revoke zaps the memslot before the BAR stops decoding", () => {
    const { events } = run("vfio-to-kvm-private-mmio");
    const zap = events.findIndex((e) => e.kind === "note" && e.text.startsWith("zap memslot 1"));
    const down = events.findIndex(
      (e) => e.kind === "region" && e.region === "vfio0.bar0" && e.status === "inaccessible",
    );
    expect(zap).toBeGreaterThan(0);
    expect(down).toBeGreaterThan(zap);
  });

  it("after an FLR completes the guest re-faults the BAR: nothing re-maps by itself", () => {
    const r = run("vfio-to-kvm-private-mmio");
    const complete = r.events.findIndex((e) => e.kind === "note" && e.text === "FLR complete");
    const maps = r.events.flatMap((e, k) => (e.kind === "map" ? [k] : []));
    expect(maps.filter((k) => k > complete)).toHaveLength(1);
    expect(r.text).toContain(`after FLR pfn 0x${(BAR_PFN + 0x10n).toString(16)}`);
  });

  it("under linux-7.1 KVM_MEM_VFIO_DMABUF does not exist: EINVAL, and the expectation is not met", () => {
    const r = run("vfio-to-kvm-private-mmio", linux71);
    expect(r.met).toBe(false);
    expect(r.text).toContain("stopped: EINVAL: KVM_MEM_VFIO_DMABUF is an unknown memslot flag");
  });
});

describe("gpu-evict-moves-kvm (hypothetical; kernel-model §1.2, §5.1)", () => {
  it("under proposal-converters an evicted GPU BO re-faults onto system RAM, with no violation", () => {
    const r = run("gpu-evict-moves-kvm");
    expect(r.met, r.text).toBe(true);
    expect(r.violations).toBe(0);
    const [vram, ram] = faults(r.events);
    expect(vram).toMatch(/write-combine MMIO$/);
    expect(ram).toMatch(/write-back$/);
    expect(vram?.match(/pfn (0x[0-9a-f]+)/)?.[1]).not.toBe(ram?.match(/pfn (0x[0-9a-f]+)/)?.[1]);
  });

  it("the eviction zaps KVM's slot before the old VRAM placement is freed", () => {
    const { events } = run("gpu-evict-moves-kvm");
    const zap = events.findIndex((e) => e.kind === "note" && e.text.startsWith("zap memslot 2"));
    const freed = events.findIndex(
      (e) => e.kind === "region" && e.region.endsWith(".0") && e.status === "inaccessible",
    );
    expect(zap).toBeGreaterThan(0);
    expect(freed).toBeGreaterThan(zap);
  });

  it("says it is hypothetical", () => {
    expect(SCENARIOS.find((s) => s.name === "gpu-evict-moves-kvm")?.expectation).toMatch(
      /^hypothetical/,
    );
  });

  it("under rfc-mapping-types-v1 the GPU offers no get_pfn: the memslot fails with EINVAL", () => {
    const r = run("gpu-evict-moves-kvm", rfcMappingTypesV1);
    expect(r.met).toBe(false);
    expect(r.text).toContain("stopped: EINVAL: no acceptable pair");
  });
});

describe("get_pfn addressing of a VFIO memslot (kernel-model §5.1)", () => {
  const LEN = 0x20_0000n;
  const BASE = 0x10_0000n;
  const npages = Number(LEN / KVM_PAGE);

  test.prop([fc.integer({ min: 0, max: npages - 1 }), fc.integer({ min: 1, max: 64 })])(
    "any GFN inside the slot maps to the BAR base + its offset, uncached MMIO; past the slot is EFAULT",
    (page, past) => {
      const m = matrixMachine(rfcMappingTypesV1);
      const s = new VmmSession(m, boot(m));
      const fd = s.exportBar("vfio0", 0, [{ offset: 0n, length: LEN }]);
      if (!fd.ok) throw new Error(fd.error.message);
      if (!setDmabufMemslot(s, 1, BASE, fd.value, LEN).ok) throw new Error("memslot failed");
      const r = guestFault(s, 1, BASE + BigInt(page));
      if (!r.ok) throw new Error(r.error.message);
      expect(r.value).toEqual({
        pfn: BAR_PFN + BigInt(page),
        maxOrder: 9,
        cache: "uncached",
        mmio: true,
      });
      const out = guestFault(s, 1, BASE + LEN / KVM_PAGE + BigInt(past - 1));
      expect(out.ok ? "ok" : out.error.errno).toBe("EFAULT");
    },
  );
});

describe("kvm-close-order (kernel-model §2.5, §2.6, §5.1)", () => {
  it("in the old close order (6.19, 7.0.0-7.0.9, forced) a running guest reaches the disabled BAR through an entry not yet zapped: one violation", () => {
    const r = run("kvm-close-order");
    expect(r.met, r.text).toBe(true);
    expect(r.text).toContain("disable-then-cleanup: store in the window violation");
    expect(r.violations).toBe(1);
  });

  it("in linux-7.1's order (cleanup before disable, d97708701434) the zap comes first: the store in the window is ok and after close EIO", () => {
    expect(run("kvm-close-order").text).toContain(
      "cleanup-then-disable: store in the window ok, after close EIO, 0 violation(s)",
    );
  });

  it("under linux-7.1 the story cannot start (no KVM import): not met", () => {
    expect(run("kvm-close-order", linux71).met).toBe(false);
  });
});
