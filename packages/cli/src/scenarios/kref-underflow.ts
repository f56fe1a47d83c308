import { boot } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { vfioDmaBufPriv, vfioOperations } from "@dmabuf-ref/exporters";
import { expectOk } from "./expect.js";
import { setUpGuestP2p } from "./guest-p2p.js";
import { standardMachine } from "./machine.js";
import type { Scenario } from "./scenario.js";
import { VmmSession, withSession } from "./session.js";

const LEN = 0x20_0000n;

/** How one close after a memory-disable revoke ended. */
interface CloseRun {
  /** The close operation is still waiting after every ready piece of work ran. */
  readonly hangs: boolean;
  /** Contract violations the oracle recorded. */
  readonly contract: number;
  /** The buffer's kref afterwards. */
  readonly kref: string;
}

/** Memory decoding off (revoke), then the VMM closes the device fd. */
function closeAfterMemoryDisable(s: VmmSession): CloseRun {
  const { fd, iova } = setUpGuestP2p(s, LEN);
  expectOk(s.vfio({ op: "config-write-command", device: "vfio0", memory: false }));
  s.dma("dev1", iova, 0x1000n, "read");
  s.note("the VMM closes the device fd while PCI_COMMAND.MEMORY is still clear");
  expectOk(s.vfio({ op: "close-device", device: "vfio0" }));
  const contract = [...s.world.violations.values()].filter((v) => v.kind === "contract").length;
  return {
    hangs: vfioOperations(s.machine, s.world, "vfio0").some((o) => o.kind === "close"),
    contract,
    kref: vfioDmaBufPriv(s.world, fd).kref,
  };
}

const shown = (rearm: boolean, r: CloseRun): string =>
  `kref re-arm ${rearm ? "on" : "off"}: close ${r.hangs ? "never completes" : "completes"}, ` +
  `kref ${r.kref}, ${r.contract} contract violation(s)`;

/**
 * The v7.1-rc kref underflow (kernel-model §2.5, fixed by c64a647c84f3), as
 * the option `vfio-kref-rearm: false` switches it back on: a memory-disable
 * revoke drains a buffer's kref and waits for its completion; the close
 * that follows drains the same buffer again, the second `kref_put`
 * underflows and `wait_for_completion()` never returns, so the close (and
 * the VMM with it) hangs. With the re-arm (every released kernel from
 * 7.1.0) the revoke re-inits the kref at its end, the cleanup finds the
 * buffer revoked and skips it, and the close completes.
 */
export const krefUnderflow: Scenario = {
  name: "kref-underflow",
  profile: "linux-7.1",
  expectation:
    "with vfio-kref-rearm: false (v7.1-rc) a close after a memory-disable revoke underflows " +
    "the dma-buf's kref and blocks for ever, a contract violation; with the re-arm " +
    "(c64a647c84f3) the same close completes",
  sources: "kernel-model §2.5, §8.1; c64a647c84f3 (Fixes 1a8a5227f229)",
  run(profile: Profile) {
    let fixed: CloseRun | undefined;
    const mFixed = standardMachine(profile, { krefRearm: true });
    const fixedRun = withSession(new VmmSession(mFixed, boot(mFixed)), (s) => {
      fixed = closeAfterMemoryDisable(s);
      return { met: true, verdict: shown(true, fixed) };
    });
    const m = standardMachine(profile, { krefRearm: false });
    return withSession(new VmmSession(m, boot(m)), (s) => {
      s.note("vfio-kref-rearm: false (the v7.1-rc kref, before c64a647c84f3)");
      const r = closeAfterMemoryDisable(s);
      s.note("now the same story with the re-arm");
      s.apply((w) => ({ world: w, events: fixedRun.events }));
      const fixedOk =
        fixed !== undefined && !fixed.hangs && fixed.contract === 0 && fixed.kref !== "underflowed";
      return {
        met: r.hangs && r.contract === 1 && r.kref === "underflowed" && fixedOk,
        verdict: `${shown(false, r)}; ${fixedRun.verdict}`,
      };
    });
  },
};
