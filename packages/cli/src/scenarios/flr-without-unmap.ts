import { boot } from "@dmabuf-ref/core";
import { RW, setUpGuestP2p } from "./guest-p2p.js";
import type { Scenario } from "./scenario.js";
import { standardMachine } from "./machine.js";
import { VmmSession, withSession } from "./session.js";
import { expectOk } from "./expect.js";

const LEN = 0x20_0000n;

/**
 * A VMM that forgets to unmap before FLR: the revoke protects the kernel,
 * the device's DMA faults in the IOMMU, and the area stays dead until the
 * VMM unmaps and maps again (kernel-model §3.5: no automatic re-map).
 */
export const flrWithoutUnmap: Scenario = {
  name: "flr-without-unmap",
  profile: "linux-7.1",
  expectation:
    "the VMM forgets to unmap; DMA after the revoke faults; no violation; the area stays dead " +
    "until unmap + map",
  sources: "seed 000, kernel-model §1.3, §2.5, §3.5",
  run(profile) {
    const m = standardMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      const { fd, ioas, iova } = setUpGuestP2p(s, LEN);
      const before = s.dma("dev1", iova, 0x1000n, "write");
      s.note("QEMU issues FLR without unmapping the BAR from the IOAS");
      expectOk(s.vfio({ op: "reset", device: "vfio0", process: "qemu" }));
      const afterFlr = s.dma("dev1", iova, 0x1000n, "read");
      s.note("the FLR un-revoked the dma-buf, but iommufd never re-maps by itself");
      expectOk(s.unmap(ioas, iova, LEN));
      const again = expectOk(s.mapFile({ ioas, fd, start: 0n, length: LEN, flags: RW }));
      const recovered = s.dma("dev1", again, 0x1000n, "write");
      const violations = s.world.violations.size;
      const met = before === "ok" && afterFlr === "fault" && recovered === "ok" && violations === 0;
      return {
        met,
        verdict: `DMA after FLR ${afterFlr}, after unmap + map ${recovered}, ${violations} violation(s)`,
      };
    });
  },
};
