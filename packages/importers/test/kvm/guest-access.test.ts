/**
 * Guest loads and stores through KVM's stage-2 / EPT entries for a
 * dma-buf memslot (kernel-facts §5.1), judged by the oracle like any DMA
 * (DESIGN §3.5): the zap is what keeps a guest off memory its owner reset.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { rfcMappingTypesV1, runScript, unmapAtt } from "@dmabuf-ref/core";
import type { ImporterDriver, World } from "@dmabuf-ref/core";
import {
  KVM_MEM_READONLY,
  KVM_MEM_VFIO_DMABUF,
  KVM_PAGE,
  kvmGuestAccess,
  kvmImporter,
  kvmSetMemslotDmabuf,
  kvmStateOf,
} from "../../src/index.js";
import type { KvmGuestAccessOutcome } from "../../src/index.js";
import { MIB2, exportVfio, makeWorld, revoke, unrevoke } from "./fixtures.js";

const GFN = 0x10_0000n;
const NPAGES = MIB2 / KVM_PAGE;

function memslot(
  w: World = makeWorld(rfcMappingTypesV1),
  flags = KVM_MEM_VFIO_DMABUF,
): { world: World; buf: number } {
  const { world, buf } = exportVfio(w);
  const r = kvmSetMemslotDmabuf(world, {
    slot: 1,
    gfnBase: GFN,
    npages: NPAGES,
    fd: buf,
    offset: 0n,
    flags,
  });
  if (r.status !== "done") throw new Error("memslot failed");
  return { world: r.world, buf };
}

function guest(w: World, page = 0n, dir: "read" | "write" = "write"): KvmGuestAccessOutcome {
  return kvmGuestAccess(w, { slot: 1, gfn: GFN + page, offset: 0x10n, len: 8n, dir });
}

function verdict(r: KvmGuestAccessOutcome): string {
  return r.status === "done" ? r.outcome : r.status === "failed" ? r.error.errno : "blocked";
}

/** The BAR is reset (an FLR's effect on the memory), as the real VFIO exporter does. */
function resetBar(w: World): World {
  return runScript(w, [{ kind: "region", region: "vfio0.bar0", status: "inaccessible", by: "FLR" }])
    .world;
}

/** A KVM whose invalidate unmaps but forgets to zap the stage-2 (bug zoo, DESIGN §3.9). */
const forgetfulKvm: ImporterDriver = {
  ...kvmImporter(),
  invalidateMappings(w, att) {
    const r = unmapAtt(w, att, null);
    return r.status === "done" ? { world: r.world, events: r.events } : { world: w, events: [] };
  },
};

describe("guest accesses through the stage-2 (kernel-facts §5.1, DESIGN §3.5)", () => {
  it("a guest store to an unmapped GFN takes an EPT violation, faults the BAR in, and reaches it", () => {
    const { world } = memslot();
    const r = guest(world);
    expect(verdict(r)).toBe("ok");
    if (r.status === "done") {
      expect(r.events.some((e) => e.kind === "note" && e.text.includes("EPT violation"))).toBe(
        true,
      );
      expect(kvmStateOf(r.world).slots[0]?.stage2).toHaveLength(1);
    }
  });

  it("one fault installs the whole 2 MiB block: later accesses in it need no fault", () => {
    const { world } = memslot();
    const first = guest(world);
    if (first.status !== "done") throw new Error("first access failed");
    const again = guest(first.world, 0x1ffn, "read");
    expect(verdict(again)).toBe("ok");
    if (again.status === "done") {
      expect(again.events.some((e) => e.kind === "note" && e.text.includes("EPT violation"))).toBe(
        false,
      );
    }
  });

  it("after a revoke the zap removes the guest's grant: an access faults again and is EIO", () => {
    const { world, buf } = memslot();
    const mapped = guest(world);
    if (mapped.status !== "done") throw new Error("access failed");
    const revoked = revoke(mapped.world, buf).world;
    expect(kvmStateOf(revoked).slots[0]?.stage2).toEqual([]);
    const r = guest(revoked);
    expect(verdict(r)).toBe("EIO");
    expect(r.world).toBe(revoked);
  });

  it("with the zap, a guest never reaches a reset BAR: no violation", () => {
    const { world, buf } = memslot();
    const mapped = guest(world);
    if (mapped.status !== "done") throw new Error("access failed");
    const reset = resetBar(revoke(mapped.world, buf).world);
    expect(verdict(guest(reset))).toBe("EIO");
    expect(reset.violations.size).toBe(0);
  });

  it("a KVM that forgets the zap reaches the reset BAR through its stale entry: a violation", () => {
    const base = memslot();
    const importers = new Map(base.world.config.importers);
    importers.set("kvm", forgetfulKvm);
    const world: World = { ...base.world, config: { ...base.world.config, importers } };
    const mapped = guest(world);
    if (mapped.status !== "done") throw new Error("access failed");
    const reset = resetBar(revoke(mapped.world, base.buf).world);
    const r = guest(reset);
    expect(verdict(r)).toBe("violation");
    if (r.status === "done") {
      expect([...r.world.violations.values()].map((v) => v.kind)).toEqual(["access-after-revoke"]);
    }
  });

  it("after un-revoke the guest's next access faults in again and reaches the BAR", () => {
    const { world, buf } = memslot();
    const back = unrevoke(revoke(world, buf).world, buf);
    expect(verdict(guest(back, 7n))).toBe("ok");
  });

  it("an access outside the slot is EFAULT and one crossing a frame is EINVAL", () => {
    const { world } = memslot();
    expect(
      verdict(
        kvmGuestAccess(world, { slot: 1, gfn: GFN + NPAGES, offset: 0n, len: 4n, dir: "read" }),
      ),
    ).toBe("EFAULT");
    expect(
      verdict(kvmGuestAccess(world, { slot: 1, gfn: GFN, offset: 0xffcn, len: 8n, dir: "read" })),
    ).toBe("EINVAL");
  });

  test.prop([fc.bigInt({ min: 0n, max: NPAGES - 1n }), fc.bigInt({ min: 0n, max: KVM_PAGE - 8n })])(
    "any access inside the slot lands on the BAR at the same offset",
    (page, offset) => {
      const { world } = memslot();
      const r = kvmGuestAccess(world, { slot: 1, gfn: GFN + page, offset, len: 8n, dir: "read" });
      expect(verdict(r)).toBe("ok");
      const dma = r.status === "done" ? r.events.find((e) => e.kind === "dma") : undefined;
      const want = `vfio0.bar0+0x${(page * KVM_PAGE + offset).toString(16)}`;
      expect(dma?.kind === "dma" ? dma.detail : "").toBe(want);
    },
  );

  it("a store to a KVM_MEM_READONLY dma-buf slot exits to userspace (KVM_EXIT_MMIO); a load reaches the BAR", () => {
    const r = memslot(makeWorld(rfcMappingTypesV1), KVM_MEM_VFIO_DMABUF | KVM_MEM_READONLY);
    const store = guest(r.world, 0n, "write");
    expect(verdict(store)).toBe("mmio-exit");
    expect(store.world).toBe(r.world);
    const load = guest(r.world, 0n, "read");
    expect(verdict(load)).toBe("ok");
    if (load.status === "done") expect(load.world.violations.size).toBe(0);
  });
});
