import { boot } from "@dmabuf-ref/core";
import { RW, setUpGuestP2p } from "./guest-p2p.js";
import type { Scenario } from "./scenario.js";
import { expectOk } from "./expect.js";
import { standardMachine } from "./machine.js";
import { VmmSession, withSession } from "./session.js";

const LEN = 0x20_0000n;

/**
 * Closing the VFIO device revokes its dma-bufs for good (kernel-model §2.5
 * close, §7.9): afterwards map and attach give ENODEV, while the dma-buf fd
 * itself stays valid.
 */
export const closeRevokesForever: Scenario = {
  name: "close-revokes-forever",
  profile: "linux-7.1",
  expectation: "after device close, map and attach give ENODEV; the dmabuf fd stays valid",
  sources: "seed 001, kernel-model §2.3, §2.5, §7.9",
  run(profile) {
    const m = standardMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      const { fd, ioas, iova } = setUpGuestP2p(s, LEN);
      s.note("the VMM closes the VFIO device fd; the dma-buf fd stays open");
      expectOk(s.vfio({ op: "close-device", device: "vfio0" }));
      const dma = s.dma("dev1", iova, 0x1000n, "read");
      const map = s.mapFile({ ioas, fd, start: 0n, length: LEN, flags: RW });
      const attach = s.run({
        kind: "attach",
        buf: fd,
        importer: "ref-importer",
        device: "dev1",
        dynamic: true,
      });
      const buf = s.world.bufs.get(fd);
      const fdValid = buf !== undefined && !buf.released;
      const errno = (r: { ok: boolean; error?: { errno: string } }): string =>
        r.ok ? "ok" : (r.error?.errno ?? "?");
      const mapErrno = map.ok ? "ok" : map.error.errno;
      const attachErrno = errno(attach);
      const violations = s.world.violations.size;
      const met =
        mapErrno === "ENODEV" &&
        attachErrno === "ENODEV" &&
        fdValid &&
        buf.revoked === "permanent" &&
        dma === "fault" &&
        violations === 0;
      return {
        met,
        verdict:
          `MAP_FILE ${mapErrno}, attach ${attachErrno}, fd ${fdValid ? "valid" : "gone"}, ` +
          `old IOVA ${dma}, ${violations} violation(s)`,
      };
    });
  },
};
