import { boot } from "@dmabuf-ref/core";
import { iommufdImportCapabilities, renderImportCapabilities } from "@dmabuf-ref/importers";
import type { Scenario } from "./scenario.js";
import { expectOk } from "./expect.js";
import { RW } from "./guest-p2p.js";
import { standardMachine } from "./machine.js";
import { VmmSession, withSession } from "./session.js";

/**
 * Alex Williamson's question on the iommufd dma-buf series (seed 000): can a
 * management tool see, before it tries, whether iommufd can import a
 * source? The model's answer is a proposal, not a kernel uAPI.
 */
export const capabilityQuery: Scenario = {
  name: "capability-query",
  profile: "linux-7.1",
  expectation:
    "the visibility query (a proposal) answers for VFIO and for a foreign exporter before any MAP_FILE, and trying agrees",
  sources: "seed 000, kernel-model §3.3, §4.2",
  run(profile) {
    const m = standardMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      expectOk(s.exportBar("vfio0", 0, [{ offset: 0n, length: 0x20_0000n }]));
      expectOk(
        s.run({
          kind: "export",
          exporter: "ref-exporter",
          owner: "gpu-mem",
          args: { size: 0x4000n },
        }),
      );
      const caps = iommufdImportCapabilities(m, s.world);
      for (const line of renderImportCapabilities(caps).trimEnd().split("\n"))
        s.note(line.trim(), "iommufd");
      // The answer must agree with what trying would do.
      s.note("now the tool tries IOMMU_IOAS_MAP_FILE of each source to check the answers");
      const ioas = expectOk(s.ioasAlloc());
      const checks = caps.map((c) => {
        const size = s.world.bufs.get(c.buf)?.size ?? 0n;
        const r = s.mapFile({ ioas, fd: c.buf, start: 0n, length: size, flags: RW });
        const actual = r.ok ? "ok" : r.error.errno;
        const predicted = c.importable ? "ok" : (c.errno ?? "?");
        return { buf: c.buf, predicted, actual };
      });
      const met = caps.length === 2 && checks.every((c) => c.predicted === c.actual);
      return {
        met,
        verdict: checks
          .map((c) => `buf ${c.buf}: predicted ${c.predicted}, MAP_FILE ${c.actual}`)
          .join("; "),
      };
    });
  },
};
