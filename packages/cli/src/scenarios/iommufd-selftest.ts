import { IOMMU_IOAS_MAP_FIXED_IOVA, boot } from "@dmabuf-ref/core";
import { RW } from "./guest-p2p.js";
import type { Scenario } from "./scenario.js";
import { expectOk } from "./expect.js";
import { standardMachine } from "./machine.js";
import { VmmSession, withSession } from "./session.js";
import type { Result } from "@dmabuf-ref/core";

const SIZE = 0x4000n; // 4 pages, as the selftest's mock dma-buf

function outcome<T>(r: Result<T>): string {
  return r.ok ? "ok" : r.error.errno;
}

/** Exports the selftest's mock dma-buf (IOMMU_TEST_OP_DMABUF_GET) and allocates an IOAS. */
function setUp(s: VmmSession): { fd: number; ioas: number } {
  s.note("IOMMU_TEST_OP_DMABUF_GET: a 4-page kernel-memory mock dma-buf", "selftest");
  expectOk(
    s.run({ kind: "export", exporter: "ref-exporter", owner: "mock", args: { size: SIZE } }),
  );
  const fd = Math.max(...[...s.world.bufs.entries()].map(([id]) => id));
  const ioas = expectOk(s.ioasAlloc());
  return { fd, ioas };
}

/**
 * `dmabuf_simple` of tools/testing/selftests/iommu (kernel-model §3.6):
 * MAP_FILE(0, 0) EINVAL; (size, size) EINVAL; (0, size + 1) EINVAL;
 * (0, size) succeeds.
 */
export const iommufdSelftestDmabufSimple: Scenario = {
  name: "iommufd-selftest-dmabuf-simple",
  profile: "linux-7.1",
  expectation:
    "the kernel selftest dmabuf_simple: MAP_FILE(0,0), (size,size), (0,size+1) fail with EINVAL; (0,size) maps",
  sources: "kernel-model §3.2, §3.6",
  run(profile) {
    const m = standardMachine(profile, { selftestHook: true });
    return withSession(new VmmSession(m, boot(m), "selftest"), (s) => {
      const { fd, ioas } = setUp(s);
      const got = [
        outcome(s.mapFile({ ioas, fd, start: 0n, length: 0n, flags: RW })),
        outcome(s.mapFile({ ioas, fd, start: SIZE, length: SIZE, flags: RW })),
        outcome(s.mapFile({ ioas, fd, start: 0n, length: SIZE + 1n, flags: RW })),
        outcome(s.mapFile({ ioas, fd, start: 0n, length: SIZE, flags: RW })),
      ];
      const want = ["EINVAL", "EINVAL", "EINVAL", "ok"];
      return {
        met: got.join() === want.join() && s.world.violations.size === 0,
        verdict: `got ${got.join(", ")}; the selftest expects ${want.join(", ")}`,
      };
    });
  },
};

/**
 * `dmabuf_revoke` (kernel-model §3.6): map; revoke; a new domain on the IOAS
 * still attaches; map again ENODEV; un-revoke; map succeeds; unmap the
 * original IOVA and map it again with FIXED_IOVA.
 */
export const iommufdSelftestDmabufRevoke: Scenario = {
  name: "iommufd-selftest-dmabuf-revoke",
  profile: "linux-7.1",
  expectation:
    "the kernel selftest dmabuf_revoke: map; revoke; map again ENODEV; un-revoke; map succeeds; " +
    "unmap and map the original IOVA again with FIXED_IOVA",
  sources: "kernel-model §3.5, §3.6",
  run(profile) {
    const m = standardMachine(profile, { selftestHook: true });
    return withSession(new VmmSession(m, boot(m), "selftest"), (s) => {
      const { fd, ioas } = setUp(s);
      const iova = expectOk(s.mapFile({ ioas, fd, start: 0n, length: SIZE, flags: RW }));
      s.note("IOMMU_TEST_OP_DMABUF_REVOKE(revoked = 1)");
      expectOk(s.run({ kind: "revoke", buf: fd, permanent: false, by: "DMABUF_REVOKE" }));
      const hwpt = outcome(s.attach("dev1", ioas));
      const whileRevoked = outcome(s.mapFile({ ioas, fd, start: 0n, length: SIZE, flags: RW }));
      s.note("IOMMU_TEST_OP_DMABUF_REVOKE(revoked = 0)");
      expectOk(s.run({ kind: "unrevoke", buf: fd, by: "DMABUF_REVOKE" }));
      const afterUnrevoke = outcome(s.mapFile({ ioas, fd, start: 0n, length: SIZE, flags: RW }));
      const unmapped = outcome(s.unmap(ioas, iova, SIZE));
      const fixed = outcome(
        s.mapFile({
          ioas,
          fd,
          start: 0n,
          length: SIZE,
          flags: RW | IOMMU_IOAS_MAP_FIXED_IOVA,
          iova,
        }),
      );
      const got = [hwpt, whileRevoked, afterUnrevoke, unmapped, fixed];
      const want = ["ok", "ENODEV", "ok", "ok", "ok"];
      return {
        met: got.join() === want.join() && s.world.violations.size === 0,
        verdict: `got ${got.join(", ")}; the selftest expects ${want.join(", ")}`,
      };
    });
  },
};
