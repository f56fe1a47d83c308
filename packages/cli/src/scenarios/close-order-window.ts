import { boot, mustBuf } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { vfioOptionsFor, vfioPciConfigOf } from "@dmabuf-ref/exporters";
import { expectOk } from "./expect.js";
import { setUpGuestP2p } from "./guest-p2p.js";
import { startUntil, settleNow } from "./kvm-guest.js";
import { standardMachine } from "./machine.js";
import type { Scenario } from "./scenario.js";
import { VmmSession, withSession } from "./session.js";

const LEN = 0x20_0000n;

/**
 * The close-order window with iommufd (kernel-model §2.5): in the old order
 * of 6.19.x and 7.0.0-7.0.9, `vfio_pci_core_close_device()` runs
 * `vfio_pci_core_disable()` (COMMAND <- INTX_DISABLE, function reset)
 * before `vfio_pci_dma_buf_cleanup()`, so between the two a device whose
 * IOMMU still maps the BAR through the dma-buf reaches a disabled BAR.
 * linux-7.1 closes with the cleanup first (d97708701434, CVE-2026-53322;
 * in 7.0.10 by backport): the same story there has no window, the DMA in
 * it still reaches a decoding BAR or faults, and the scenario is not met.
 */
export const closeOrderWindow: Scenario = {
  name: "close-order-window",
  profile: "linux-6.19",
  expectation:
    "in the old close order (6.19, 7.0.0-7.0.9: disable, then cleanup) a DMA through an " +
    "iommufd mapping of the dma-buf between the two reaches the disabled BAR: a violation; " +
    "linux-7.1 cleans up first (d97708701434) and has no such window",
  sources: "kernel-model §2.5, §3.3, §8.1; d97708701434",
  run(profile: Profile) {
    const m = standardMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      const config = vfioPciConfigOf(m, "vfio0");
      const order = config === undefined ? "?" : vfioOptionsFor(m.profile, config).closeOrder;
      s.note(`vfio-pci close order under ${profile.id}: ${order}`);
      const { fd, iova } = setUpGuestP2p(s, LEN);
      const before = s.dma("dev1", iova, 0x1000n, "write");
      s.note("the VMM closes the VFIO device fd while the guest's device still does DMA");
      // Stop right after the close's first stage: the disable (old order)
      // or the start of the cleanup revoke (d97708701434).
      expectOk(startUntil(s, "vfio-pci", { op: "close-device", device: "vfio0" }, () => true));
      const inWindow = s.dma("dev1", iova, 0x1000n, "write");
      settleNow(s);
      const after = s.dma("dev1", iova, 0x1000n, "write");
      const permanent = mustBuf(s.world, fd).revoked === "permanent";
      const violations = s.world.violations.size;
      return {
        met:
          before === "ok" &&
          inWindow === "violation" &&
          violations === 1 &&
          after === "fault" &&
          permanent,
        verdict:
          `${order}: DMA before close ${before}, in the window ${inWindow}, after close ` +
          `${after}; ${violations} violation(s)`,
      };
    });
  },
};
