import { boot } from "@dmabuf-ref/core";
import { RW } from "./guest-p2p.js";
import { expectOk } from "./expect.js";
import { exportGpuBo } from "./gpu-bo.js";
import type { Scenario } from "./scenario.js";
import { VmmSession, withSession } from "./session.js";
import { matrixMachine } from "../matrix/machine.js";

const LEN = 0x20_0000n;

/**
 * Jason Gunthorpe's target path GPU->iommufd for SPDK/DPDK (kernel-model
 * §4.4): a GPU VRAM BO exported as a dma-buf, a user-space driver maps it
 * into an IOAS with `IOMMU_IOAS_MAP_FILE`, and its NIC DMAs through the
 * IOVA. Under proposal-converters core maps the BO into iommufd's domain
 * through the PAL->iommu-domain converter, so no physical address reaches
 * iommufd. The BO's owner then tears it down: the GPU exporter revokes
 * (permanently, as VFIO does on close, §2.5) and closes its fd; iommufd's
 * mapping is revoked, the NIC's DMA faults, and no access is a violation.
 *
 * @remarks
 * Hypothetical on the exporter side: GPU drivers today keep a BO alive
 * while an importer holds the dma-buf and do not revoke on free; the
 * scenario shows what the revoke contract (§1.3) gives iommufd if they do.
 * Under linux-7.1 the story stops at MAP_FILE with `EOPNOTSUPP`: the GPU's
 * dma-buf is not a VFIO one, so the private phys lookup refuses (§3.3).
 */
export const gpuToIommufdSpdk: Scenario = {
  name: "gpu-to-iommufd-spdk",
  profile: "proposal-converters",
  expectation:
    "an SPDK/DPDK process maps a GPU VRAM BO's dma-buf into an IOAS; core maps it into the " +
    "domain via pal->iommu-domain (iommufd sees no physical address) and the NIC's DMA works; " +
    "after the BO's owner revokes and closes it, the DMA faults; no violation",
  sources: "kernel-model §1.3, §3.3, §3.5, §4.4",
  run(profile) {
    const m = matrixMachine(profile);
    return withSession(new VmmSession(m, boot(m), "spdk"), (s) => {
      const fd = exportGpuBo(s, LEN, "vram");
      const ioas = expectOk(s.ioasAlloc());
      expectOk(s.attach("nic1", ioas));
      const iova = expectOk(s.mapFile({ ioas, fd, start: 0n, length: LEN, flags: RW }));
      const viaCore = s.events.some(
        (e) => e.kind === "note" && e.actor === "iommufd" && e.text.startsWith("core maps area"),
      );
      const before = s.dma("nic1", iova, 0x1000n, "write");
      s.note("the BO's owner frees it: the GPU driver revokes the dma-buf for good", "gpu0");
      expectOk(s.run({ kind: "revoke", buf: fd, permanent: true, by: "BO free" }));
      expectOk(s.run({ kind: "close", buf: fd }));
      const after = s.dma("nic1", iova, 0x1000n, "read");
      const violations = s.world.violations.size;
      const met = viaCore && before === "ok" && after === "fault" && violations === 0;
      return {
        met,
        verdict:
          `MAP_FILE ok (${viaCore ? "core mapped the domain" : "core did not map the domain"}), ` +
          `NIC DMA ${before}, after the BO's revoke ${after}, ${violations} violation(s)`,
      };
    });
  },
};
