/**
 * The KVM scenarios (Xu Yilun's RFC, kernel-model §5.1, §4.4), files in
 * rfc/scenarios, under their declared profiles and under linux-7.1 / the
 * RFC, plus the get_pfn addressing rule they rely on.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { linux71, rfcMappingTypesV1 } from "@dmabuf-ref/core";
import type { TraceEvent } from "@dmabuf-ref/core";
import { vfioVmas } from "@dmabuf-ref/exporters";
import { KVM_PAGE } from "@dmabuf-ref/importers";
import { exploreScenario, loadScenario, referenceRun } from "../src/explore/explore.js";
import { scenarioFileSchema } from "../src/explore/scenario-file.js";
import { dmabufGetCall } from "../src/replay/vfio-feature.js";
import { VFIO0_BAR0 } from "../src/scenarios/machine.js";
import { json, runCli } from "./run-cli.js";
import { runEdited, runFile, runInit } from "./support/run-scenario.js";

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
  it("every expectation holds under rfc-mapping-types-v1 with no violation", () => {
    const r = runFile("vfio-to-kvm-private-mmio");
    expect(r.profile).toBe("rfc-mapping-types-v1");
    expect(r.allHold).toBe(true);
    expect(r.verdict("forall no-violation")).toBe(true);
    expect(r.violations).toBe(0);
  });

  it("KVM faults the guest onto the BAR's PFN at the largest order, with no host-userspace mmap", () => {
    const r = runFile("vfio-to-kvm-private-mmio");
    expect(faults(r.events)[0]).toBe(
      `fault gfn 0x100010: get_pfn -> pfn 0x${(BAR_PFN + 0x10n).toString(16)}, order 9, uncached MMIO`,
    );
    expect(vfioVmas(r.machine, r.world, "vfio0")).toHaveLength(0);
  });

  it("KVM never maps VFIO MMIO cacheable: every fault is uncached MMIO", () => {
    const fs = faults(runFile("vfio-to-kvm-private-mmio").events);
    expect(fs.length).toBeGreaterThan(0);
    for (const f of fs) expect(f).toMatch(/uncached MMIO$/);
  });

  it("a guest access on a revoked VFIO dma-buf memslot is EIO: during the FLR and after close", () => {
    const r = runFile("vfio-to-kvm-private-mmio");
    // After close, in every interleaving.
    expect(r.verdict("forall vmm[3] == ok and vmm[4] == EIO and vmm[5] == EIO")).toBe(true);
    // During the FLR: the shortest run where vcpu1's access is EIO has it
    // between the revoke's zap and the FLR's end.
    const w = r.verdicts.find((v) => v.expr === "vcpu1[0] == EIO")?.witness ?? [];
    const at = w.findIndex((s) => s.thread === "vcpu1");
    const upTo = w.slice(0, at).flatMap((s) => s.events);
    expect(at).toBeGreaterThan(0);
    expect(w[at]?.outcome).toBe("EIO");
    expect(upTo.some((e) => e.kind === "note" && e.text.startsWith("zap memslot 1"))).toBe(true);
    expect(upTo.some((e) => e.kind === "note" && e.text === "FLR complete")).toBe(false);
  });

  it("the guest's stores reach the BAR before the FLR and after it, never during: the oracle sees no violation", () => {
    const r = runFile("vfio-to-kvm-private-mmio");
    expect(guestVerdicts(r.events)).toEqual(["ok", "ok"]);
    expect(r.verdict("exists vcpu1[0] == ok")).toBe(true);
    expect(r.verdict("forall no-violation")).toBe(true);
  });

  it("an FLR's revoke zaps the memslot before the BAR stops decoding", () => {
    const { events } = runFile("vfio-to-kvm-private-mmio");
    const zap = events.findIndex((e) => e.kind === "note" && e.text.startsWith("zap memslot 1"));
    const down = events.findIndex(
      (e) => e.kind === "region" && e.region === "vfio0.bar0" && e.status === "inaccessible",
    );
    expect(zap).toBeGreaterThan(0);
    expect(down).toBeGreaterThan(zap);
  });

  it("after an FLR completes the guest re-faults the BAR: nothing re-maps by itself", () => {
    const r = runFile("vfio-to-kvm-private-mmio");
    const complete = r.events.findIndex((e) => e.kind === "note" && e.text === "FLR complete");
    const maps = r.events.flatMap((e, k) => (e.kind === "map" ? [k] : []));
    expect(complete).toBeGreaterThan(0);
    expect(maps.filter((k) => k > complete)).toHaveLength(1);
    expect(faults(r.events.slice(complete))[0]).toContain(
      `pfn 0x${(BAR_PFN + 0x10n).toString(16)}`,
    );
  });

  it("under linux-7.1 KVM_MEM_VFIO_DMABUF does not exist: EINVAL, and the expectations fail", () => {
    const init = runInit("vfio-to-kvm-private-mmio", linux71);
    expect(init.outcomes.get("init")?.[1]).toBe("EINVAL");
    expect(init.steps[1]?.call).toContain("KVM_MEM_VFIO_DMABUF is an unknown memslot flag");
    expect(runFile("vfio-to-kvm-private-mmio", linux71).allHold).toBe(false);
  });
});

describe("gpu-evict-moves-kvm (hypothetical; kernel-model §1.2, §5.1)", () => {
  it("under proposal-converters an evicted GPU BO re-faults onto system RAM, with no violation", () => {
    const r = runFile("gpu-evict-moves-kvm");
    expect(r.profile).toBe("proposal-converters");
    expect(r.allHold).toBe(true);
    expect(r.violations).toBe(0);
    const [vram, ram] = faults(r.events);
    expect(vram).toMatch(/write-combine MMIO$/);
    expect(ram).toMatch(/write-back$/);
    expect(vram?.match(/pfn (0x[0-9a-f]+)/)?.[1]).not.toBe(ram?.match(/pfn (0x[0-9a-f]+)/)?.[1]);
  });

  it("the eviction zaps KVM's slot before the old VRAM placement is freed", () => {
    const { events } = runFile("gpu-evict-moves-kvm");
    const zap = events.findIndex((e) => e.kind === "note" && e.text.startsWith("zap memslot 2"));
    const freed = events.findIndex(
      (e) => e.kind === "region" && e.region.endsWith(".0") && e.status === "inaccessible",
    );
    expect(zap).toBeGreaterThan(0);
    expect(freed).toBeGreaterThan(zap);
  });

  it("says it is hypothetical", () => {
    const list = json(runCli("scenario", "--list", "--json")) as {
      name: string;
      expectation: string;
    }[];
    expect(list.find((s) => s.name === "gpu-evict-moves-kvm")?.expectation).toMatch(
      /^Hypothetical/,
    );
  });

  it("under rfc-mapping-types-v1 the GPU offers no get_pfn: the memslot fails with EINVAL", () => {
    const init = runInit("gpu-evict-moves-kvm", rfcMappingTypesV1);
    expect(init.outcomes.get("init")?.[1]).toBe("EINVAL");
    expect(init.steps[1]?.call).toContain("no acceptable pair");
    expect(runFile("gpu-evict-moves-kvm", rfcMappingTypesV1).allHold).toBe(false);
  });
});

describe("get_pfn addressing of a VFIO memslot (kernel-model §5.1)", () => {
  const LEN = 0x20_0000;
  const BASE = 0x10_0000;
  const npages = LEN / Number(KVM_PAGE);

  /** A guest fault at `gfn` on a 2 MiB BAR0 slice given to KVM at `BASE`, as a scenario file. */
  function faultAt(gfn: number): string {
    const file = scenarioFileSchema.parse({
      name: "get-pfn-addressing",
      profile: "rfc-mapping-types-v1",
      machine: {
        devices: [
          {
            id: "vfio0",
            driver: "vfio-pci",
            bars: [
              { index: 0, size: 0x1000000 },
              { index: 2, size: 0x10000 },
            ],
            switch: "sw0",
          },
        ],
        switches: [{ id: "sw0", hostBridge: "hb0" }],
        hostBridges: [{ id: "hb0", p2p: true }],
        kvm: {},
      },
      init: [
        dmabufGetCall({
          device: "vfio0",
          region: 0,
          openFlags: "O_RDWR",
          ranges: [{ offset: 0, length: LEN }],
          as: "buf0",
        }),
        {
          op: "KVM_SET_USER_MEMORY_REGION2",
          slot: 1,
          gfnBase: BASE,
          npages,
          fd: "buf0",
          offset: 0,
        },
      ],
      threads: { guest: [{ op: "guest-fault", slot: 1, gfn }] },
      expect: [{ forall: "no-violation" }],
    });
    const loaded = loadScenario(file);
    expect(exploreScenario(loaded).expectations[0]?.holds).toBe(true);
    const step = referenceRun(loaded.space).steps.find((s) => s.thread === "guest");
    const note = step?.events.find((e) => e.kind === "note" && e.text.startsWith("fault "));
    return note?.kind === "note" ? note.text : `${step?.outcome ?? "?"}: ${step?.call ?? ""}`;
  }

  test.prop([fc.integer({ min: 0, max: npages - 1 }), fc.integer({ min: 1, max: 64 })], {
    numRuns: 40,
  })(
    "any GFN inside the slot maps to the BAR base + its offset, uncached MMIO; past the slot is EFAULT",
    (page, past) => {
      const gfn = BASE + page;
      // KVM maps the largest order the range allows: 2 MiB (order 9) here.
      expect(faultAt(gfn)).toBe(
        `fault gfn 0x${gfn.toString(16)}: get_pfn -> pfn 0x${(BAR_PFN + BigInt(page)).toString(16)}, order 9, uncached MMIO`,
      );
      expect(faultAt(BASE + npages + past - 1)).toMatch(/^EFAULT: /);
    },
  );
});

describe("kvm-close-order (kernel-model §2.5, §2.6, §5.1)", () => {
  it("in the old close order (6.19, 7.0.0-7.0.9, forced) a running guest reaches the disabled BAR through an entry not yet zapped: a violation", () => {
    const r = runEdited("kvm-close-order", (file) => ({
      ...file,
      machine:
        file.machine === "default"
          ? file.machine
          : { ...file.machine, vfio: { ...file.machine.vfio, closeOrder: "disable-then-cleanup" } },
    }));
    expect(r.verdict("forall no-violation")).toBe(false);
    // The counterexample ends at the violation; the whole story is the
    // shortest run where the store is ok: disable, the store, then the
    // cleanup's revoke.
    const steps = r.verdicts.find((x) => x.expr === "vcpu0[0] == ok")?.witness ?? [];
    const disable = steps.findIndex((s) =>
      s.events.some((e) => e.kind === "note" && e.text.startsWith("vfio_pci_core_disable()")),
    );
    const store = steps.findIndex((s) =>
      s.events.some((e) => e.kind === "dma" && e.device === "kvm" && e.outcome === "violation"),
    );
    const cleanup = steps.findIndex((s) =>
      s.events.some((e) => e.kind === "note" && e.text.startsWith("vfio_pci_dma_buf_cleanup()")),
    );
    expect(disable).toBeGreaterThanOrEqual(0);
    expect(store).toBeGreaterThan(disable);
    expect(cleanup).toBeGreaterThan(store);
  });

  it("in linux-7.1's order (cleanup before disable, d97708701434) the zap comes first: the store in the window is ok or EIO and after close EIO", () => {
    const r = runFile("kvm-close-order");
    expect(r.verdict("forall no-violation")).toBe(true);
    expect(r.verdict("forall vmm[0] == ok and vmm[1] == EIO")).toBe(true);
    expect(r.verdict("exists vcpu0[0] == ok")).toBe(true);
    expect(r.verdict("exists vcpu0[0] == EIO")).toBe(true);
    const zap = r.events.findIndex((e) => e.kind === "note" && e.text.startsWith("zap memslot 1"));
    const disable = r.events.findIndex(
      (e) => e.kind === "note" && e.text.startsWith("vfio_pci_core_disable()"),
    );
    expect(zap).toBeGreaterThan(0);
    expect(disable).toBeGreaterThan(zap);
    expect(r.violations).toBe(0);
  });

  it("under linux-7.1 the story cannot start (no KVM import): the expectations fail", () => {
    expect(runInit("kvm-close-order", linux71).outcomes.get("init")?.[1]).toBe("EINVAL");
    expect(runFile("kvm-close-order", linux71).allHold).toBe(false);
  });
});
