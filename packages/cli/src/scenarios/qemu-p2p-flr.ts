import { boot } from "@dmabuf-ref/core";
import { RW, setUpGuestP2p } from "./guest-p2p.js";
import type { Scenario } from "./scenario.js";
import { standardMachine } from "./machine.js";
import { VmmSession, withSession } from "./session.js";
import { expectOk } from "./expect.js";

const LEN = 0x20_0000n;

/**
 * What QEMU does for P2P in a VM (seed 000): map a BAR dma-buf into an IOAS,
 * unmap it around an FLR, map it again (kernel-model §2.5, §3.5).
 */
export const qemuP2pFlr: Scenario = {
  name: "qemu-p2p-flr",
  profile: "linux-7.1",
  expectation:
    "the VMM maps a BAR dma-buf into an IOAS, the guest's device DMAs to it, the VMM unmaps, " +
    "issues FLR, maps again; DMA works again; no violation",
  sources: "seed 000, kernel-model §2.5, §3.5",
  run(profile) {
    const m = standardMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      const { fd, ioas, iova } = setUpGuestP2p(s, LEN);
      const before = s.dma("dev1", iova, 0x1000n, "write");
      s.note("QEMU is about to issue FLR: it unmaps the BAR first");
      expectOk(s.unmap(ioas, iova, LEN));
      expectOk(s.vfio({ op: "reset", device: "vfio0", process: "qemu" }));
      const again = expectOk(s.mapFile({ ioas, fd, start: 0n, length: LEN, flags: RW }));
      const after = s.dma("dev1", again, 0x1000n, "write");
      const violations = s.world.violations.size;
      const met = before === "ok" && after === "ok" && violations === 0;
      return {
        met,
        verdict: `DMA before FLR ${before}, after re-map ${after}, ${violations} violation(s)`,
      };
    });
  },
};
