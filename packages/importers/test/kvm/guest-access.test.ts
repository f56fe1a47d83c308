/**
 * Guest loads and stores through KVM's stage-2 / EPT entries for a
 * dma-buf memslot (kernel-model §5.1), judged by the oracle like any DMA
 * (DESIGN §3.5): the zap is what keeps a guest off memory its owner reset.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { boot, rfcMappingTypesV1, runScript, unmapAtt } from "@dmabuf-ref/core";
import type { ImporterDriver, Machine, StepOutcome, World } from "@dmabuf-ref/core";
import {
  KVM_MEM_READONLY,
  KVM_MEM_VFIO_DMABUF,
  KVM_PAGE,
  kvmImporter,
  kvmStateOf,
} from "../../src/index.js";
import {
  MIB2,
  accessVerdict,
  exportVfio,
  guestAccess,
  makeMachine,
  revoke,
  setMemslot,
  unrevoke,
} from "./fixtures.js";

const GFN = 0x10_0000n;
const NPAGES = MIB2 / KVM_PAGE;

function memslot(
  m: Machine = makeMachine(rfcMappingTypesV1),
  flags = KVM_MEM_VFIO_DMABUF,
): { m: Machine; world: World; buf: number } {
  const { world, buf } = exportVfio(m, boot(m));
  const r = setMemslot(m, world, {
    slot: 1,
    gfnBase: GFN,
    npages: NPAGES,
    fd: buf,
    offset: 0n,
    flags,
  });
  if (r.status !== "done") throw new Error("memslot failed");
  return { m, world: r.world, buf };
}

function guest(m: Machine, w: World, page = 0n, dir: "read" | "write" = "write"): StepOutcome {
  return guestAccess(m, w, { slot: 1, gfn: GFN + page, offset: 0x10n, len: 8n, dir });
}

/** The BAR is reset (an FLR's effect on the memory), as the real VFIO exporter does. */
function resetBar(m: Machine, w: World): World {
  return runScript(m, w, [
    { kind: "region", region: "vfio0.bar0", status: "inaccessible", by: "FLR" },
  ]).world;
}

/** A KVM whose invalidate unmaps but forgets to zap the stage-2 (bug zoo, DESIGN §3.9). */
const forgetfulKvm: ImporterDriver = {
  ...kvmImporter(),
  invalidateMappings(m, w, att) {
    const r = unmapAtt(m, w, att, null);
    return r.status === "done" ? { world: r.world, events: r.events } : { world: w, events: [] };
  },
};

describe("guest accesses through the stage-2 (kernel-model §5.1, DESIGN §3.5)", () => {
  it("a guest store to an unmapped GFN takes an EPT violation, faults the BAR in, and reaches it", () => {
    const { m, world } = memslot();
    const r = guest(m, world);
    expect(accessVerdict(r)).toBe("ok");
    if (r.status === "done") {
      expect(r.events.some((e) => e.kind === "note" && e.text.includes("EPT violation"))).toBe(
        true,
      );
      expect(kvmStateOf(m, r.world).slots[0]?.stage2).toHaveLength(1);
    }
  });

  it("one fault installs the whole 2 MiB block: later accesses in it need no fault", () => {
    const { m, world } = memslot();
    const first = guest(m, world);
    if (first.status !== "done") throw new Error("first access failed");
    const again = guest(m, first.world, 0x1ffn, "read");
    expect(accessVerdict(again)).toBe("ok");
    if (again.status === "done") {
      expect(again.events.some((e) => e.kind === "note" && e.text.includes("EPT violation"))).toBe(
        false,
      );
    }
  });

  it("after a revoke the zap removes the guest's grant: an access faults again and is EIO", () => {
    const { m, world, buf } = memslot();
    const mapped = guest(m, world);
    if (mapped.status !== "done") throw new Error("access failed");
    const revoked = revoke(m, mapped.world, buf).world;
    expect(kvmStateOf(m, revoked).slots[0]?.stage2).toEqual([]);
    const r = guest(m, revoked);
    expect(accessVerdict(r)).toBe("EIO");
    expect(r.world).toBe(revoked);
  });

  it("with the zap, a guest never reaches a reset BAR: no violation", () => {
    const { m, world, buf } = memslot();
    const mapped = guest(m, world);
    if (mapped.status !== "done") throw new Error("access failed");
    const reset = resetBar(m, revoke(m, mapped.world, buf).world);
    expect(accessVerdict(guest(m, reset))).toBe("EIO");
    expect(reset.violations.size).toBe(0);
  });

  it("a KVM that forgets the zap reaches the reset BAR through its stale entry: a violation", () => {
    const base = memslot();
    const importers = new Map(base.m.importers);
    importers.set("kvm", forgetfulKvm);
    const m: Machine = { ...base.m, importers };
    const { world } = base;
    const mapped = guest(m, world);
    if (mapped.status !== "done") throw new Error("access failed");
    const reset = resetBar(m, revoke(m, mapped.world, base.buf).world);
    const r = guest(m, reset);
    expect(accessVerdict(r)).toBe("violation");
    if (r.status === "done") {
      expect([...r.world.violations.values()].map((v) => v.kind)).toEqual(["access-after-revoke"]);
    }
  });

  it("after un-revoke the guest's next access faults in again and reaches the BAR", () => {
    const { m, world, buf } = memslot();
    const back = unrevoke(m, revoke(m, world, buf).world, buf);
    expect(accessVerdict(guest(m, back, 7n))).toBe("ok");
  });

  it("an access outside the slot is EFAULT and one crossing a frame is EINVAL", () => {
    const { m, world } = memslot();
    expect(
      accessVerdict(
        guestAccess(m, world, { slot: 1, gfn: GFN + NPAGES, offset: 0n, len: 4n, dir: "read" }),
      ),
    ).toBe("EFAULT");
    expect(
      accessVerdict(
        guestAccess(m, world, { slot: 1, gfn: GFN, offset: 0xffcn, len: 8n, dir: "read" }),
      ),
    ).toBe("EINVAL");
  });

  test.prop([fc.bigInt({ min: 0n, max: NPAGES - 1n }), fc.bigInt({ min: 0n, max: KVM_PAGE - 8n })])(
    "any access inside the slot lands on the BAR at the same offset",
    (page, offset) => {
      const { m, world } = memslot();
      const r = guestAccess(m, world, {
        slot: 1,
        gfn: GFN + page,
        offset,
        len: 8n,
        dir: "read",
      });
      expect(accessVerdict(r)).toBe("ok");
      const dma = r.status === "done" ? r.events.find((e) => e.kind === "dma") : undefined;
      const want = `vfio0.bar0+0x${(page * KVM_PAGE + offset).toString(16)}`;
      expect(dma?.kind === "dma" ? dma.detail : "").toBe(want);
    },
  );

  it("a store to a KVM_MEM_READONLY dma-buf slot exits to userspace (KVM_EXIT_MMIO); a load reaches the BAR", () => {
    const { m, ...r } = memslot(
      makeMachine(rfcMappingTypesV1),
      KVM_MEM_VFIO_DMABUF | KVM_MEM_READONLY,
    );
    const store = guest(m, r.world, 0n, "write");
    expect(accessVerdict(store)).toBe("mmio-exit");
    expect(store.world).toBe(r.world);
    const load = guest(m, r.world, 0n, "read");
    expect(accessVerdict(load)).toBe("ok");
    if (load.status === "done") expect(load.world.violations.size).toBe(0);
  });
});
