import type { Hardware } from "./topology.js";
import type { TraceEvent } from "../trace/event.js";
import type { DmaDirection } from "../world/job.js";
import type { DmaJob } from "../world/job.js";
import type { ViolationKind } from "../world/violation.js";
import type { World } from "../world/world.js";
import { recordViolation } from "../world/access.js";
import { domainOf, translate } from "./iommu.js";
import type { Translated } from "./iommu.js";
import { forEachGrantOfRegion } from "../world/grant-index.js";
import type { Grant } from "../world/grant.js";
import { rangesHolding } from "./region-index.js";
import type { RegionState } from "../world/region-state.js";
import { regionContaining } from "./regions.js";
import { p2pMapType } from "./topology.js";

/**
 * The oracle's verdict on one device access.
 *
 * @category Fabric and oracle
 */
export type AccessOutcome = "ok" | "fault" | "violation";

/**
 * What {@link access} returns: the verdict, the world (with any violation recorded) and events.
 *
 * @category Fabric and oracle
 */
export interface AccessResult {
  /** ok, an IOMMU fault, or a violation. */
  readonly outcome: AccessOutcome;
  /** The world; changed only by a recorded violation. */
  readonly world: World;
  /** The dma event, and a violation event if one was recorded. */
  readonly events: readonly TraceEvent[];
}

/**
 * A device's DMA access, judged by the oracle (DESIGN §3.5).
 *
 * Routing: an address inside a peer BAR's bus window that the device reaches
 * by bus address goes straight to the BAR; otherwise the device's IOMMU
 * domain translates it (no mapping or no permission: an IOMMU fault, never a
 * violation); a device with no IOMMU issues physical addresses.
 *
 * Once the access reaches memory it is a **violation** when the memory was
 * reset, disabled or freed; when no live grant lets this device reach it
 * (use after unmap, PFN fishing); when the grant predates a reset or move
 * (a grant into memory freed since and handed out again included);
 * or when it writes through an invalidated mapping outside a fenced job
 * submitted before the invalidate (the read-and-discard window of
 * kernel-model §1.3).
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param device - the device issuing the access.
 * @param addr - the address it issues.
 * @param len - bytes.
 * @param dir - read or write.
 * @param job - the fenced job doing the access, if any.
 * @returns the verdict.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { access, boot, dmaMapRanges, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const w0 = boot(m);
 * // dev0 writes an IOVA nothing maps: an IOMMU fault, not a violation.
 * assert.equal(access(m, w0, "dev0", 0x1000_0000n, 0x100n, "write").outcome, "fault");
 * // dev2 (no IOMMU) writes RAM nothing granted it: PFN fishing, a violation.
 * assert.equal(access(m, w0, "dev2", 0x1_0000_0000n, 0x100n, "write").outcome, "violation");
 * // Once the DMA API mapped the page for dev0, its write through the IOVA is fine.
 * const page = [{ paddr: 0x1_0000_0000n, len: 0x1000n }];
 * const mapped = dmaMapRanges(m, w0, "dev0", page, { att: null, write: true });
 * assert.ok(mapped.ok);
 * const w1 = mapped.value.world;
 * assert.equal(access(m, w1, "dev0", 0x1000_0000n, 0x100n, "write").outcome, "ok");
 * ```
 * @category Fabric and oracle
 */
export function access(
  m: Hardware,
  w: World,
  device: string,
  addr: bigint,
  len: bigint,
  dir: DmaDirection,
  job?: DmaJob,
): AccessResult {
  const routed = route(m, w, device, addr, len, dir === "write");
  if ("fault" in routed) {
    return {
      outcome: "fault",
      world: w,
      events: [dmaEvent(device, addr, len, dir, "fault", routed.fault)],
    };
  }
  const found = regionContaining(w, routed.phys, len);
  if (found === undefined) {
    const detail = `no memory at 0x${routed.phys.toString(16)}`;
    return {
      outcome: "fault",
      world: w,
      events: [dmaEvent(device, addr, len, dir, "fault", detail)],
    };
  }
  const [regionId, region] = found;
  const landed = { region: region.id, offset: routed.phys - region.base };
  const where = `${region.id}+0x${landed.offset.toString(16)}`;
  const verdict = judge(w, device, routed.phys, len, dir, regionId, region, job);
  if (verdict === undefined) {
    return {
      outcome: "ok",
      world: w,
      events: [dmaEvent(device, addr, len, dir, "ok", where, landed)],
    };
  }
  const recorded = recordViolation(w, {
    kind: verdict.kind,
    rule: verdict.rule,
    actor: device,
    message: verdict.message,
  });
  return {
    outcome: "violation",
    world: recorded.world,
    events: [dmaEvent(device, addr, len, dir, "violation", where, landed), recorded.event],
  };
}

/**
 * Whether a current, permitted grant still lets this access through its
 * mapping: reads do until the unmap (read-and-discard), and so do writes
 * until the importer's attachment is invalidated; after that only a write
 * of a job fenced before the invalidation. The attachment is looked up
 * only for a write through a dma-buf mapping.
 */
function grantIsLive(w: World, g: Grant, write: boolean, job: DmaJob | undefined): boolean {
  if (!write || g.att === null) return true;
  const att = w.atts.get(g.att);
  if (att === undefined || !att.invalidated) return true;
  return job !== undefined && job.att === g.att && job.beforeInvalidate;
}

/**
 * A device access's trace event, one literal: a spread that adds fields
 * (`{ ...base, outcome }`) costs V8 a new hidden class per object (~1 us).
 */
function dmaEvent(
  device: string,
  addr: bigint,
  len: bigint,
  dir: DmaDirection,
  outcome: "ok" | "fault" | "violation",
  detail: string,
  landed?: { region: string; offset: bigint },
): TraceEvent {
  return landed === undefined
    ? { kind: "dma", device, addr, len, dir, outcome, detail }
    : { kind: "dma", device, addr, len, dir, outcome, detail, landed };
}

function route(
  m: Hardware,
  w: World,
  device: string,
  addr: bigint,
  len: bigint,
  write: boolean,
): Translated {
  // The device memory windows holding the bus range; the lowest id a peer reaches by bus address wins.
  let reached: RegionState | undefined;
  let reachedId = Infinity;
  rangesHolding(w.regions.index.windows, addr, addr + len, (id) => {
    const r = w.regions.get(id);
    if (id > reachedId || r?.device === undefined) return;
    if (p2pMapType(m.topology, r.device, device) === "bus-addr") {
      reached = r;
      reachedId = id;
    }
  });
  if (reached !== undefined) return { phys: addr - reached.busOffset };
  const domainId = domainOf(m, w, device);
  if (domainId === undefined) return { phys: addr };
  const domain = w.domains.get(domainId);
  if (domain === undefined) throw new Error(`no domain ${domainId}`);
  return translate(domain, addr, len, write);
}

/**
 * The name of a freed region under `[phys, phys + len)` holding a grant of
 * this device that covers it, if any: the device reaches memory that was
 * freed and handed out again (to a buffer carved where another was, to a
 * memfd that took a closed one's id) through a mapping of what was there
 * before. Looked at only when no grant of the region found lets the access
 * through, so it costs nothing on the path of a permitted access.
 */
function grantIntoFreed(w: World, device: string, phys: bigint, len: bigint): string | undefined {
  let found: string | undefined;
  rangesHolding(w.regions.index.freed, phys, phys + len, (rid) => {
    if (found !== undefined) return;
    forEachGrantOfRegion(w.grants.index, rid, (id) => {
      const g = w.grants.get(id);
      if (g !== undefined && g.device === device && phys >= g.phys && phys + len <= g.phys + g.len)
        found = g.region;
      return found === undefined;
    });
  });
  return found;
}

/** How far a grant gets through the oracle's checks of one access, in order. */
const Passed = {
  /** No grant of the device covers the range. */
  none: 0,
  /** One covers it, but it is stale (the memory was reset or freed since). */
  covers: 1,
  /** A current one covers it, but the access writes and it is read-only. */
  current: 2,
  /** A current one permits it, but its attachment was invalidated. */
  permits: 3,
  /** One lets it through. */
  live: 4,
} as const;

function judge(
  w: World,
  device: string,
  phys: bigint,
  len: bigint,
  dir: DmaDirection,
  regionId: number,
  state: RegionState,
  job: DmaJob | undefined,
): { kind: ViolationKind; rule: string; message: string } | undefined {
  const region = state.id;
  if (state.status !== "live") {
    return {
      kind: "access-after-revoke",
      rule: "no access after the owner reset, disabled or freed the memory",
      message: `${device} reached ${region} while it is inaccessible`,
    };
  }
  // One pass over the region's grants (no lists built: every device access
  // is judged): how far the best grant gets through the checks below.
  const write = dir === "write";
  let reached: number = Passed.none;
  forEachGrantOfRegion(w.grants.index, regionId, (id) => {
    const g = w.grants.get(id);
    if (g === undefined || g.device !== device || phys < g.phys || phys + len > g.phys + g.len)
      return true;
    const passed = g.stale
      ? Passed.covers
      : write && !g.write
        ? Passed.current
        : grantIsLive(w, g, write, job)
          ? Passed.live
          : Passed.permits;
    if (passed > reached) reached = passed;
    return reached !== Passed.live;
  });
  if (reached === Passed.none) {
    const earlier = grantIntoFreed(w, device, phys, len);
    if (earlier !== undefined) {
      return {
        kind: "stale-grant",
        rule: "no access through a mapping made before the memory was reset or moved",
        message: `${device} reached ${region} through a grant of ${earlier}, freed since and handed out again`,
      };
    }
    return {
      kind: "no-grant",
      rule: "no access without a live mapping (use after unmap, PFN fishing)",
      message: `${device} reached ${region} with nothing granting it`,
    };
  }
  if (reached === Passed.covers) {
    return {
      kind: "stale-grant",
      rule: "no access through a mapping made before the memory was reset or moved",
      message: `${device} used a grant of ${region} made before it was reset or freed`,
    };
  }
  if (reached === Passed.current) {
    return {
      kind: "no-grant",
      rule: "no write through a read-only mapping",
      message: `${device} wrote ${region} through a read-only grant`,
    };
  }
  if (reached === Passed.live) return undefined;
  return {
    kind: "write-after-invalidate",
    rule: "after invalidate only fenced DMA may write; until unmap only read-and-discard",
    message: `${device} wrote ${region} through an invalidated mapping outside a fenced job`,
  };
}
