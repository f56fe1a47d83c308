import { boot, mustBuf, regionNamed } from "@dmabuf-ref/core";
import type { AccessOutcome, World } from "@dmabuf-ref/core";
import { vfioVmas } from "@dmabuf-ref/exporters";
import { KVM_PAGE, kvmStateOf } from "@dmabuf-ref/importers";
import { expectOk } from "./expect.js";
import { guestAccess, guestFault, setDmabufMemslot, settleNow, startUntil } from "./kvm-guest.js";
import type { GuestMapping } from "./kvm-guest.js";
import { VFIO0_BAR0 } from "./machine.js";
import type { Scenario } from "./scenario.js";
import type { Result } from "@dmabuf-ref/core";
import { VmmSession, withSession } from "./session.js";
import { matrixMachine } from "../matrix/machine.js";

/** 2 MiB of BAR0: one order-9 block. */
const LEN = 0x20_0000n;
const SLOT = 1;
/** Guest physical 4 GiB, 2 MiB aligned like the BAR, so KVM may map the largest order. */
const GFN_BASE = 0x10_0000n;
/** The guest touches page 0x10 of the slot. */
const PAGE_IN = 0x10n;

function shown(r: Result<GuestMapping>): string {
  if (!r.ok) return r.error.errno;
  const m = r.value;
  return `pfn 0x${m.pfn.toString(16)} order ${m.maxOrder} ${m.cache}${m.mmio ? " MMIO" : ""}`;
}

function verdictOf(r: Result<AccessOutcome | "mmio-exit">): string {
  return r.ok ? r.value : r.error.errno;
}

function barDown(w: World): boolean {
  return regionNamed(w, "vfio0.bar0")?.[1].status === "inaccessible";
}

/**
 * Private MMIO for a confidential VM (Xu Yilun's RFC, kernel-model §5.1;
 * the VFIO->KVM path Jason Gunthorpe names as the first PAL consumer,
 * §4.4): the BAR is never mapped into host userspace; KVM gets PFNs from
 * the VFIO dma-buf fd through `get_pfn`, revoke zaps the memslot, the
 * guest re-faults after an FLR, and close revokes for good.
 */
export const vfioToKvmPrivateMmio: Scenario = {
  name: "vfio-to-kvm-private-mmio",
  profile: "rfc-mapping-types-v1",
  expectation:
    "KVM maps a VFIO BAR into the guest from the dma-buf fd, with no host mmap: the fault gets " +
    "the BAR's PFN, MMIO, uncached, largest order; an FLR zaps the slot and faults are EIO " +
    "until it completes, then the guest re-faults the BAR; after close faults stay EIO; " +
    "no violation",
  sources: "kernel-model §2.5, §4.4, §5.1, §7.16",
  run(profile) {
    const m = matrixMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      s.note(
        "confidential VM: the BAR is private MMIO and must never be mapped into QEMU; " +
          "KVM takes a PFN from the dma-buf fd instead of a VMA",
      );
      const fd = expectOk(s.exportBar("vfio0", 0, [{ offset: 0n, length: LEN }]));
      expectOk(setDmabufMemslot(s, SLOT, GFN_BASE, fd, LEN));
      const gfn = GFN_BASE + PAGE_IN;
      const first = guestFault(s, SLOT, gfn);
      const barPfn = VFIO0_BAR0 / KVM_PAGE + PAGE_IN;
      const mapped =
        first.ok &&
        first.value.pfn === barPfn &&
        first.value.mmio &&
        first.value.cache === "uncached" &&
        first.value.maxOrder === 9;
      const vmas = vfioVmas(m, s.world, "vfio0").length;
      const store = guestAccess(s, SLOT, gfn, "write");

      s.note("the guest resets the function (FLR) and touches the BAR while the reset runs");
      expectOk(startUntil(s, "vfio-pci", { op: "flr", device: "vfio0" }, barDown));
      const zapped = kvmStateOf(s.machine, s.world).slots[0]?.zapped === true;
      const during = guestAccess(s, SLOT, gfn, "write");
      settleNow(s);
      const nothingRemapped =
        mustBuf(s.world, fd).revoked === "usable" &&
        s.world.atts.get(kvmStateOf(s.machine, s.world).slots[0]?.att ?? -1)?.mapping === null;
      s.note("the FLR is over; nothing re-mapped by itself, the guest's next access re-faults");
      const after = guestFault(s, SLOT, gfn);
      const storeAfter = guestAccess(s, SLOT, gfn, "write");

      s.note("QEMU closes the VFIO device: its dma-bufs are revoked for good");
      expectOk(s.vfio({ op: "close-device", device: "vfio0" }));
      const closed = [guestAccess(s, SLOT, gfn, "read"), guestAccess(s, SLOT, GFN_BASE, "write")];
      const violations = s.world.violations.size;
      const met =
        mapped &&
        vmas === 0 &&
        store.ok &&
        store.value === "ok" &&
        zapped &&
        !during.ok &&
        during.error.errno === "EIO" &&
        nothingRemapped &&
        after.ok &&
        after.value.pfn === barPfn &&
        storeAfter.ok &&
        storeAfter.value === "ok" &&
        closed.every((r) => !r.ok && r.error.errno === "EIO") &&
        mustBuf(s.world, fd).revoked === "permanent" &&
        violations === 0;
      return {
        met,
        verdict:
          `fault ${shown(first)} (BAR pfn 0x${barPfn.toString(16)}), ${vmas} host VMA(s), ` +
          `store ${verdictOf(store)}; FLR ${zapped ? "zapped the slot" : "did not zap"}, ` +
          `store ${verdictOf(during)}; after FLR ${shown(after)}, store ${verdictOf(storeAfter)}; ` +
          `after close ${closed.map(verdictOf).join(", ")}; ` +
          `${violations} violation(s)`,
      };
    });
  },
};
