import { boot, regionNamed, step } from "@dmabuf-ref/core";
import { gpuPrivOf } from "@dmabuf-ref/exporters";
import { KVM_PAGE, kvmStateOf } from "@dmabuf-ref/importers";
import { expectOk } from "./expect.js";
import { guestFault, setDmabufMemslot } from "./kvm-guest.js";
import type { GuestMapping } from "./kvm-guest.js";
import type { Scenario } from "./scenario.js";
import type { Result } from "@dmabuf-ref/core";
import { VmmSession, withSession } from "./session.js";
import { matrixMachine } from "../matrix/machine.js";

const LEN = 0x20_0000n;
const SLOT = 2;
const GFN_BASE = 0x20_0000n;

function shown(r: Result<GuestMapping>): string {
  if (!r.ok) return r.error.errno;
  const m = r.value;
  return `pfn 0x${m.pfn.toString(16)} ${m.cache}${m.mmio ? " MMIO" : " RAM"}`;
}

/** Whether a PFN lies in a topology region of the given name. */
function inRegion(s: VmmSession, name: string, r: Result<GuestMapping>): boolean {
  const region = regionNamed(s.world, name)?.[1];
  if (!r.ok || region === undefined) return false;
  const addr = r.value.pfn * KVM_PAGE;
  return addr >= region.base && addr < region.base + region.size;
}

/**
 * A *hypothetical* movable exporter under KVM (kernel-model §1.2, §5.1,
 * §4.4): the GPU's `get_pfn` exists only in the model (the KVM RFC accepts
 * only VFIO dma-bufs and no GPU driver has `get_pfn`), offered where the GPU
 * offers PAL. TTM evicts the BO from VRAM: the move invalidates, KVM zaps
 * the slot, and the guest's next fault lands on the BO's new system pages.
 */
export const gpuEvictMovesKvm: Scenario = {
  name: "gpu-evict-moves-kvm",
  profile: "proposal-converters",
  expectation:
    "hypothetical (KVM's RFC takes only VFIO dma-bufs; the GPU's get_pfn is the model's): a " +
    "guest faults onto a GPU BO's VRAM pfn (MMIO, not cacheable); TTM eviction invalidates, " +
    "KVM zaps the slot, and the guest re-faults onto the BO's system-RAM pfn; no violation",
  sources: "kernel-model §1.2, §1.3, §4.4, §5.1",
  run(profile) {
    const m = matrixMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      let fd: number | undefined;
      s.apply((w) => {
        const args = { size: LEN, placement: "vram" };
        const r = step(m, w, { kind: "export", exporter: "gpu", owner: "gpu0", args });
        if (r.status !== "done" || r.created === undefined) throw new Error("GPU export failed");
        fd = r.created;
        return r;
      });
      if (fd === undefined) throw new Error("GPU export created nothing");
      const buf = fd;
      expectOk(setDmabufMemslot(s, SLOT, GFN_BASE, buf, LEN));
      const before = guestFault(s, SLOT, GFN_BASE);
      const inVram = inRegion(s, "gpu0.vram", before);
      const vramAttrs = before.ok && before.value.mmio && before.value.cache !== "write-back";

      s.note("memory pressure: TTM evicts the BO from VRAM to system pages");
      const mark = s.events.length;
      expectOk(s.run({ kind: "driver", driver: "gpu", action: { op: "evict", buf } }));
      const slot = kvmStateOf(s.machine, s.world).slots.find((x) => x.slot === SLOT);
      // Zapped exactly once by the eviction (the trace says so; KVM keeps no count).
      const zaps = s.events
        .slice(mark)
        .filter(
          (e) =>
            e.kind === "note" && e.actor === "kvm" && e.text.startsWith(`zap memslot ${SLOT}:`),
        );
      const zapped = slot?.zapped === true && zaps.length === 1;
      const moved = gpuPrivOf(s.world, buf).placement === "system";
      const after = guestFault(s, SLOT, GFN_BASE);
      const inRam = inRegion(s, "ram0", after);
      const ramAttrs = after.ok && !after.value.mmio;
      const differs = before.ok && after.ok && before.value.pfn !== after.value.pfn;
      const violations = s.world.violations.size;
      const met =
        inVram && vramAttrs && zapped && moved && inRam && ramAttrs && differs && violations === 0;
      return {
        met,
        verdict:
          `before eviction ${shown(before)} (${inVram ? "VRAM" : "not VRAM"}); eviction ` +
          `${zapped ? "zapped the slot" : "did not zap the slot"}; re-fault ${shown(after)} ` +
          `(${inRam ? "system RAM" : "not system RAM"}); ${violations} violation(s)`,
      };
    });
  },
};
