import { boot, dmaMapRanges } from "@dmabuf-ref/core";
import type { Scenario } from "./scenario.js";
import { expectOk } from "./expect.js";
import { VFIO0_BAR0, standardMachine } from "./machine.js";
import { VmmSession, withSession } from "./session.js";

const LEN = 0x20_0000n;

/**
 * What VFIO type1 does today (seeds 000, 001): it pulls the BAR's PFNs out of
 * a VMA and maps them for a device with no lifetime link to the exporter.
 * When the device is unbound, nothing tells the importer: the device's DMA
 * reaches memory whose owner reset it, the use-after-free the dma-buf path
 * exists to prevent.
 */
export const type1PfnFishing: Scenario = {
  name: "type1-pfn-fishing",
  profile: "linux-7.1",
  expectation:
    "a legacy importer takes the BAR's PFN from a VMA without attaching; after unbind its DMA " +
    "is reported as a violation (the use-after-free the seeds describe)",
  sources: "seed 000 (type1 extracts raw PFNs from VMAs), seed 001, DESIGN §3.5",
  run(profile) {
    const m = standardMachine(profile);
    return withSession(new VmmSession(m, boot(m)), (s) => {
      s.note(
        "type1 follows the BAR mmap to its PFNs and maps them for dev1; no dma-buf, no attach",
      );
      let iova = 0n;
      s.apply((w) => {
        const r = dmaMapRanges(m, w, "dev1", [{ paddr: VFIO0_BAR0, len: LEN }], {
          att: null,
          write: true,
        });
        if (!r.ok) throw new Error(r.error.message);
        iova = r.value.entries[0]?.dmaAddress ?? 0n;
        return { world: r.value.world, events: [] };
      });
      const before = s.dma("dev1", iova, 0x1000n, "write");
      s.note("the VMM closes vfio0 and the host unbinds it; type1 is never told");
      expectOk(s.vfio({ op: "close-device", device: "vfio0" }));
      expectOk(s.vfio({ op: "unbind", device: "vfio0" }));
      const after = s.dma("dev1", iova, 0x1000n, "write");
      const violations = [...s.world.violations.values()];
      const met = before === "ok" && after === "violation" && violations.length > 0;
      return {
        met,
        verdict: `DMA before unbind ${before}, after unbind ${after}: ${violations.map((v) => v.kind).join(", ") || "no violation"}`,
      };
    });
  },
};
