import { boot, mustBuf, regionNamed } from "@dmabuf-ref/core";
import type { AccessOutcome, Profile, World } from "@dmabuf-ref/core";
import type { VfioCloseOrder } from "@dmabuf-ref/exporters";
import { expectOk } from "./expect.js";
import { guestAccess, setDmabufMemslot, settleNow, startUntil } from "./kvm-guest.js";
import type { Scenario } from "./scenario.js";
import type { Result } from "@dmabuf-ref/core";
import { VmmSession, withSession } from "./session.js";
import { matrixMachine } from "../matrix/machine.js";

const LEN = 0x20_0000n;
const SLOT = 1;
const GFN = 0x10_0000n;

function verdictOf(r: Result<AccessOutcome | "mmio-exit">): string {
  return r.ok ? r.value : r.error.errno;
}

/** What one close order did to a guest that touches the BAR while QEMU closes the device. */
interface CloseRun {
  readonly order: VfioCloseOrder;
  /** The guest's store between the close's first stage and the rest of it. */
  readonly inWindow: string;
  /** The guest's store once the close is over. */
  readonly after: string;
  /** Violations the oracle recorded. */
  readonly violations: number;
  /** The buffer ended revoked for good. */
  readonly permanent: boolean;
}

function closeWhileGuestRuns(s: VmmSession, order: VfioCloseOrder): CloseRun {
  s.note(`vfio-pci close order: ${order}`);
  const fd = expectOk(s.exportBar("vfio0", 0, [{ offset: 0n, length: LEN }]));
  expectOk(setDmabufMemslot(s, SLOT, GFN, fd, LEN));
  expectOk(guestAccess(s, SLOT, GFN, "write"));
  s.note(
    "the VMM closes the VFIO device fd while vCPUs still run (hot-unplug, or no vCPU stop first)",
  );
  // Stop right after the close's first stage: the disable (old order) or
  // the start of the cleanup revoke (linux-7.1, d97708701434).
  expectOk(startUntil(s, "vfio-pci", { op: "close-device", device: "vfio0" }, () => true));
  const inWindow = verdictOf(guestAccess(s, SLOT, GFN, "write"));
  settleNow(s);
  const after = verdictOf(guestAccess(s, SLOT, GFN, "write"));
  return {
    order,
    inWindow,
    after,
    violations: s.world.violations.size,
    permanent: mustBuf(s.world, fd).revoked === "permanent",
  };
}

function barState(w: World): string {
  return regionNamed(w, "vfio0.bar0")?.[1].status ?? "gone";
}

function shown(r: CloseRun): string {
  return `${r.order}: store in the window ${r.inWindow}, after close ${r.after}, ${r.violations} violation(s)`;
}

/**
 * The close-order window for KVM (kernel-model §2.5, §5.1): in the old
 * close order of 6.19.x and 7.0.0-7.0.9, `vfio_pci_core_disable()` stops
 * the BAR decoding before the cleanup revoke zaps KVM's stage-2, so a
 * running guest reaches a disabled BAR through an entry nobody zapped yet,
 * the same window iommufd has (`close-order-window`); with the cleanup
 * first, as linux-7.1 closes since d97708701434, the zap comes first and
 * the guest's later access fails in `get_pfn` (`EIO`). KVM's dma-buf
 * import exists only in the RFC profiles, which are based on linux-7.1, so
 * the scenario forces the old order (a vfio-pci config override) to show
 * the window and runs the same story in 7.1's order after it.
 */
export const kvmCloseOrder: Scenario = {
  name: "kvm-close-order",
  profile: "rfc-mapping-types-v1",
  expectation:
    "with the old close order (6.19, 7.0.0-7.0.9: disable, then cleanup, forced here) a " +
    "running guest reaches the disabled BAR through a stage-2 entry not yet zapped: a " +
    "violation; with linux-7.1's order (cleanup first, d97708701434) the zap comes first, the " +
    "guest's access in the window is ok and after close EIO, no violation",
  sources: "kernel-model §2.5, §2.6, §5.1; d97708701434",
  run(profile: Profile) {
    let fixed: CloseRun | undefined;
    const mFixed = matrixMachine(profile, "cleanup-then-disable");
    const fixedRun = withSession(new VmmSession(mFixed, boot(mFixed)), (s) => {
      fixed = closeWhileGuestRuns(s, "cleanup-then-disable");
      return { met: true, verdict: shown(fixed) };
    });
    const m = matrixMachine(profile, "disable-then-cleanup");
    return withSession(new VmmSession(m, boot(m)), (s) => {
      const r = closeWhileGuestRuns(s, "disable-then-cleanup");
      s.note(`BAR after close: ${barState(s.world)}; now the same story in linux-7.1's order`);
      s.apply((w) => ({ world: w, events: fixedRun.events }));
      const fixedOk =
        fixed !== undefined &&
        fixed.inWindow === "ok" &&
        fixed.after === "EIO" &&
        fixed.violations === 0 &&
        fixed.permanent;
      return {
        met:
          r.inWindow === "violation" &&
          r.violations === 1 &&
          r.after === "EIO" &&
          r.permanent &&
          fixedOk,
        verdict: `${shown(r)}; ${fixedRun.verdict}`,
      };
    });
  },
};
