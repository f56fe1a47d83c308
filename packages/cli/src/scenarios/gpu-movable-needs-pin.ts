import { PROFILES, boot } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { RW } from "./guest-p2p.js";
import { exportGpuBo } from "./gpu-bo.js";
import type { Scenario } from "./scenario.js";
import { VmmSession } from "./session.js";
import { matrixMachine } from "../matrix/machine.js";

const LEN = 0x20_0000n;

/** What each built-in profile must show (the story's two outcomes). */
const EXPECTED: Readonly<Record<string, string>> = {
  "linux-6.19": "MAP_FILE EOPNOTSUPP",
  "linux-7.1.0": "MAP_FILE EOPNOTSUPP",
  "linux-7.1": "MAP_FILE EOPNOTSUPP",
  "linux-7.2": "MAP_FILE EOPNOTSUPP",
  "proposal-vfio-dmabuf-mmap": "MAP_FILE EOPNOTSUPP",
  "rfc-mapping-types-v1": "MAP_FILE EINVAL",
  "proposal-converters": "pinned: MAP_FILE ok, evict EBUSY, DMA ok",
};

/**
 * The story under one profile: a GPU VRAM BO is mapped into an IOAS a NIC
 * is attached to; if MAP_FILE succeeds, TTM tries to evict the BO and the
 * NIC DMAs through the IOVA.
 *
 * @param s - a fresh session on the matrix machine.
 * @returns the outcome in the words of {@link EXPECTED}.
 */
function story(s: VmmSession): string {
  const fd = exportGpuBo(s, LEN, "vram");
  const ioas = s.ioasAlloc();
  if (!ioas.ok) return `IOAS_ALLOC ${ioas.error.errno}`;
  const attached = s.attach("nic1", ioas.value);
  if (!attached.ok) return `attach ${attached.error.errno}`;
  const iova = s.mapFile({ ioas: ioas.value, fd, start: 0n, length: LEN, flags: RW });
  if (!iova.ok) return `MAP_FILE ${iova.error.errno}`;
  s.note("memory pressure: TTM tries to evict the BO iommufd imported", "gpu0");
  const evict = s.run({ kind: "driver", driver: "gpu", action: { op: "evict", buf: fd } });
  const dma = s.dma("nic1", iova.value, 0x1000n, "write");
  const pinned = s.world.atts.get(
    s.world.bufs.get(fd)?.attachments.find((a) => s.world.atts.get(a)?.importer === "iommufd") ??
      -1,
  );
  return `${(pinned?.pins ?? 0) > 0 ? "pinned" : "unpinned"}: MAP_FILE ok, evict ${
    evict.ok ? "ok" : evict.error.errno
  }, DMA ${dma}`;
}

/**
 * iommufd cannot follow a move (kernel-model §3.3: it is a pinning
 * importer; §3.4 its domains hold the addresses), so importing a movable
 * GPU BO needs a pin, or the import is refused. Both outcomes, per
 * built-in profile: under proposal-converters iommufd pins the BO at
 * `IOMMU_IOAS_MAP_FILE`, so TTM's eviction is refused with `EBUSY` (a
 * pinned BO is not moved) and the NIC's DMA keeps working; under
 * linux-6.19 and linux-7.1 MAP_FILE of a non-VFIO dma-buf is `EOPNOTSUPP`
 * at the private phys lookup, and under rfc-mapping-types-v1 it is `EINVAL`
 * at negotiation (the GPU offers only `sgt`, iommufd accepts only `pal`).
 *
 * @remarks
 * The trace is the story under the profile the scenario runs with; the
 * verdict runs it under every profile of core's registry, and the
 * expectation holds iff each gives its expected outcome with no violation.
 */
export const gpuMovableNeedsPinForIommufd: Scenario = {
  name: "gpu-movable-needs-pin-for-iommufd",
  profile: "proposal-converters",
  expectation:
    "iommufd cannot follow a move, so the GPU BO import needs a pin (or is refused): " +
    Object.entries(EXPECTED)
      .map(([id, outcome]) => `${id}: ${outcome}`)
      .join("; ") +
    "; no violation",
  sources: "kernel-model §1.2, §3.3, §4.3, §4.4",
  run(profile: Profile) {
    const m = matrixMachine(profile);
    const main = new VmmSession(m, boot(m), "spdk");
    const here = story(main);
    let met = true;
    let violations = main.world.violations.size;
    const parts: string[] = [];
    for (const p of PROFILES) {
      let outcome = here;
      if (p.id !== profile.id) {
        const mp = matrixMachine(p);
        const other = new VmmSession(mp, boot(mp), "spdk");
        outcome = story(other);
        violations += other.world.violations.size;
      }
      const expected = EXPECTED[p.id];
      const ok = expected === outcome;
      met &&= ok;
      parts.push(`${p.id}: ${outcome}${ok ? "" : ` (expected ${expected ?? "nothing"})`}`);
      main.note(`under ${p.id}: ${outcome}`, "scenario");
    }
    met &&= violations === 0;
    return {
      events: main.events,
      world: main.world,
      met,
      verdict: `${parts.join("; ")}; ${violations} violation(s)`,
    };
  },
};
