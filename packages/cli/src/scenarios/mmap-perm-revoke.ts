import { VFIO_DEVICE_FEATURE_SET, boot, mustBuf } from "@dmabuf-ref/core";
import type { Profile, Result } from "@dmabuf-ref/core";
import { encodeDmaBufRevokeFeature, vfioVmas } from "@dmabuf-ref/exporters";
import { expectOk } from "./expect.js";
import { RW, setUpGuestP2p } from "./guest-p2p.js";
import { standardMachine } from "./machine.js";
import type { Scenario } from "./scenario.js";
import { VmmSession, withSession } from "./session.js";

const LEN = 0x20_0000n;

/** A CPU read through `addr` by `process`: ok, fault or violation (the driver's note says which). */
function cpuRead(s: VmmSession, process: string, addr: bigint): string {
  const before = s.events.length;
  expectOk(s.vfio({ op: "cpu-access", process, addr, len: 8n, dir: "read" }));
  for (const e of s.events.slice(before)) {
    if (e.kind !== "note" || !e.text.startsWith("cpu ")) continue;
    const m = /: (ok|fault|VIOLATION)/.exec(e.text);
    if (m?.[1] !== undefined) return m[1].toLowerCase();
  }
  throw new Error("the CPU access left no verdict");
}

const errnoOf = <T>(r: Result<T>): string => (r.ok ? "ok" : r.error.errno);

/**
 * Matt Evans' series (kernel-model §2.6): a VMM that vends a BAR slice as a
 * dma-buf, which iommufd maps for a device and a client process mmap()s,
 * revokes it for good with `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE` (13). The
 * ioctl returns once the importer has unmapped; the client's PTEs are
 * zapped; afterwards DMA and CPU access fault, `IOMMU_IOAS_MAP_FILE` and
 * mmap fail with ENODEV, a second REVOKE with EBADFD, and a memory
 * disable/enable cycle does not bring the buffer back. Without the series
 * the mmap is EINVAL and feature 13 is ENOTTY: the story stops.
 */
export const mmapPermRevoke: Scenario = {
  name: "mmap-perm-revoke",
  profile: "proposal-vfio-dmabuf-mmap",
  expectation:
    "DMA_BUF_REVOKE (13) of a dma-buf iommufd maps and a client mmap()s returns after the " +
    "unmap; then DMA and CPU access fault, MAP_FILE and mmap give ENODEV, a second REVOKE " +
    "EBADFD, memory re-enable does not restore it; no violation",
  sources: "kernel-model §2.6; Matt Evans' series v4 (20260701171245.90111-1-matt@ozlabs.org)",
  run(profile: Profile) {
    const m = standardMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      const { fd, ioas, iova } = setUpGuestP2p(s, LEN);
      s.note("a client process mmap()s the dma-buf (the VMM passed it the fd)");
      expectOk(s.vfio({ op: "mmap", process: "client", buf: fd, offset: 0n, shared: true }));
      const vma = vfioVmas(m, s.world, "vfio0").find((v) => v.buf === fd);
      if (vma === undefined) throw new Error("the mmap left no VMA");
      const dmaBefore = s.dma("dev1", iova, 0x1000n, "write");
      const cpuBefore = cpuRead(s, "client", vma.addr);
      s.note("the VMM revokes the dma-buf for good (VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE)");
      const revoke = (): Result<unknown> =>
        s.vfioIoctl({
          op: "VFIO_DEVICE_FEATURE",
          device: "vfio0",
          argp: encodeDmaBufRevokeFeature({ flags: VFIO_DEVICE_FEATURE_SET, dmabuf_fd: fd }),
          process: s.process,
        });
      expectOk(revoke());
      const dmaAfter = s.dma("dev1", iova, 0x1000n, "write");
      const cpuAfter = cpuRead(s, "client", vma.addr);
      const mapFile = errnoOf(s.mapFile({ ioas, fd, start: 0n, length: LEN, flags: RW }));
      const mmap = errnoOf(
        s.vfio({ op: "mmap", process: "client", buf: fd, offset: 0n, shared: true }),
      );
      const again = errnoOf(revoke());
      expectOk(s.vfio({ op: "config-write-command", device: "vfio0", memory: false }));
      expectOk(s.vfio({ op: "config-write-command", device: "vfio0", memory: true }));
      const state = mustBuf(s.world, fd).revoked;
      const violations = s.world.violations.size;
      return {
        met:
          dmaBefore === "ok" &&
          cpuBefore === "ok" &&
          dmaAfter === "fault" &&
          cpuAfter === "fault" &&
          mapFile === "ENODEV" &&
          mmap === "ENODEV" &&
          again === "EBADFD" &&
          state === "permanent" &&
          violations === 0,
        verdict:
          `before: DMA ${dmaBefore}, CPU ${cpuBefore}; after REVOKE: DMA ${dmaAfter}, ` +
          `CPU ${cpuAfter}, MAP_FILE ${mapFile}, mmap ${mmap}, REVOKE again ${again}, ` +
          `after memory re-enable ${state}; ${violations} violation(s)`,
      };
    });
  },
};
