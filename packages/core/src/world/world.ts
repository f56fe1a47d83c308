import { recordWith } from "../encoding/record-with.js";
import type { Codec } from "../encoding/codec.js";
import { fmix32, mixWord } from "../encoding/hash.js";
import type { DriverSlice } from "./driver-slice.js";
import type { GrantIndex } from "./grant-index.js";
import { grantIndexer } from "./grant-index.js";
import { driverSliceCodec } from "./driver-slice.js";
import { PTable, combinedIndex, markIndex } from "../encoding/ptable.js";
import type { GroupIndex } from "../encoding/group-index.js";
import { groupIndex } from "../encoding/group-index.js";
import type { IdSet } from "../encoding/ptable.js";
import type { Topology } from "../fabric/topology.js";
import type { AttachmentState } from "./attachment-state.js";
import { attachmentCodec } from "./attachment-state.js";
import type { DmaBufState } from "./dmabuf-state.js";
import { dmaBufCodec } from "./dmabuf-state.js";
import type { DomainState } from "./domain-state.js";
import { domainCodec, emptyDomain } from "./domain-state.js";
import type { Grant } from "./grant.js";
import { grantCodec } from "./grant.js";
import type { DmaJob } from "./job.js";
import { jobCodec } from "./job.js";
import type { RegionState } from "./region-state.js";
import { regionStateCodec } from "./region-state.js";
import type { RegionIndex } from "../fabric/region-index.js";
import { regionIndexer } from "../fabric/region-index.js";
import type { TaskState } from "./task-state.js";
import { taskCodec } from "./task-state.js";
import type { Violation } from "./violation.js";
import { violationCodec } from "./violation.js";
import type { Memfd, ProcessMm } from "./mm-state.js";
import { memfdCodec, processMmCodec } from "./mm-state.js";

const deviceDomainCodec: Codec<number> = {
  seed: 0xdd00,
  encode(d, out) {
    out.push(d);
  },
};

/**
 * What the buffer table keeps indexed (`PTable.indexed`).
 *
 * @category Tables and indexes
 */
export interface BufIndex {
  /** Buffers whose resv is held: where an owed unlock can be. */
  readonly held: IdSet;
  /** Buffers by exporter name (a driver's `vdev->dmabufs`-like walk). */
  readonly byExporter: GroupIndex;
}

const bufIndexer = combinedIndex<DmaBufState, BufIndex>({
  held: markIndex((b) => b.resvHolder !== null),
  byExporter: groupIndex((b) => b.exporter),
});

/**
 * What a violation says, as one string: the oracle records each distinct
 * violation once, and finds an earlier one through this key.
 *
 * @param v - the violation.
 * @returns its key.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { violationKey } from "@dmabuf-ref/core/encoding";
 *
 * // Two records of the same violation share a key (the oracle records it once).
 * const v = {
 *   kind: "contract" as const,
 *   rule: "resv held for map of a dynamic attachment",
 *   actor: "imp1",
 *   message: "map without resv",
 * };
 * assert.equal(violationKey(v), violationKey({ ...v }));
 * assert.notEqual(violationKey(v), violationKey({ ...v, actor: "imp2" }));
 * ```
 * @category Tables and indexes
 */
export function violationKey(v: Violation): string {
  return `${v.kind}\u0000${v.rule}\u0000${v.actor}\u0000${v.message}`;
}

const violationIndexer = groupIndex(violationKey);

/** Processes by name (`World.processes.index`): an mm syscall finds its process in O(log n). */
const processIndexer = groupIndex<ProcessMm>((p) => p.name);

/**
 * The whole simulated system as one immutable value (DESIGN §2a): fabric
 * state, dma-bufs, attachments, fences, tasks, grants, driver slices and the
 * oracle's violations. Every slice is a {@link PTable} with cached hashes, so
 * a step shares everything it did not touch with the previous world and the
 * world's hash is recomputed in O(1) per changed entry.
 *
 * Worlds are canonical: every table hands out the lowest free id, as the
 * kernel hands out fds and xarray ids, so two worlds that no future op can
 * tell apart are {@link worldsEqual} and hash alike, and a system whose
 * objects come and go repeats its worlds (an exploration ends).
 *
 * @category Lifetime
 */
export interface World {
  /** `struct dma_buf`s by id; indexed by exporter and by whether their resv is held. */
  readonly bufs: PTable<DmaBufState, BufIndex>;
  /** `struct dma_buf_attachment`s by id; marked: invalidated and still mapped. */
  readonly atts: PTable<AttachmentState, IdSet>;
  /** In-flight DMA jobs (unsignalled BOOKKEEP fences) by id. */
  readonly jobs: PTable<DmaJob>;
  /** Kernel operations in progress by id. */
  readonly tasks: PTable<TaskState>;
  /** Device access rights (the oracle's bookkeeping) by id; indexed by region name. */
  readonly grants: PTable<Grant, GrantIndex>;
  /** Physical regions and their state by id. */
  readonly regions: PTable<RegionState, RegionIndex>;
  /** IOMMU domains by id. */
  readonly domains: PTable<DomainState>;
  /** The domain each device (by topology index) is attached to. */
  readonly deviceDomains: PTable<number>;
  /** Driver-private state: each driver's declared slices, by driver index x 16 + slice index. */
  readonly drivers: PTable<DriverSlice>;
  /** Everything the oracle caught, in order. */
  readonly violations: PTable<Violation, GroupIndex>;
  /**
   * Process address spaces (`struct mm_struct`) by slot, indexed by name:
   * only the explicit VMAs (mm/ models the rest as anonymous memory). A
   * process gets its slot at its first mm call and keeps it.
   */
  readonly processes: PTable<ProcessMm, GroupIndex>;
  /** memfds by id (a memfd's fd is `MEMFD_FD_BASE` + its id). */
  readonly memfds: PTable<Memfd>;
}

/**
 * The world a machine boots into: every topology region live,
 * and every device behind an IOMMU attached to its own empty DMA-API
 * domain. Only the topology matters; the profile and drivers stay in the
 * machine.
 *
 * @param topology - the machine's hardware.
 * @returns the initial world.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createWorld, referenceTopology } from "@dmabuf-ref/core";
 *
 * // ram0 is live, and dev0, dev1 (behind the IOMMU) each have an empty domain.
 * const w = createWorld(referenceTopology);
 * assert.equal(w.regions.get(1)?.id, "ram0");
 * assert.equal(w.regions.get(1)?.status, "live");
 * assert.equal(w.domains.size, 2);
 * assert.equal(w.deviceDomains.get(0), 1); // dev0 -> domain 1
 * assert.equal(w.bufs.size, 0);
 * ```
 * @category Lifetime
 */
export function createWorld(topology: Topology): World {
  let regions = PTable.indexed(regionStateCodec, regionIndexer);
  for (const r of topology.regions) {
    regions = regions.set(regions.lowestFreeId(), { ...r, status: "live" });
  }
  let domains = PTable.empty(domainCodec);
  let deviceDomains = PTable.empty(deviceDomainCodec);
  topology.devices.forEach((d, index) => {
    if (!d.iommu) return;
    const id = domains.lowestFreeId();
    domains = domains.set(id, emptyDomain());
    deviceDomains = deviceDomains.set(index, id);
  });
  return {
    // Marked: buffers whose resv is held, attachments invalidated but still
    // mapped (the unmap an importer owes). `settle` and the drivers' pending
    // ops look at these few instead of every buffer and attachment.
    bufs: PTable.indexed(dmaBufCodec, bufIndexer),
    atts: PTable.indexed(
      attachmentCodec,
      markIndex((a) => a.mapping !== null && a.invalidated),
    ),
    jobs: PTable.empty(jobCodec),
    tasks: PTable.empty(taskCodec),
    grants: PTable.indexed(grantCodec, grantIndexer),
    regions,
    domains,
    deviceDomains,
    drivers: PTable.empty(driverSliceCodec),
    violations: PTable.indexed(violationCodec, violationIndexer),
    processes: PTable.indexed(processMmCodec, processIndexer),
    memfds: PTable.empty(memfdCodec),
  };
}

/**
 * The names of the World's table slices, in the order `hashWorld` folds them.
 *
 * @category Lifetime
 */
export const WORLD_SLICES = [
  "bufs",
  "atts",
  "jobs",
  "tasks",
  "grants",
  "regions",
  "domains",
  "deviceDomains",
  "drivers",
  "violations",
  "processes",
  "memfds",
] as const;

/**
 * The world's hash, from the slices' cached hashes: O(number of slices),
 * independent of how many buffers or attachments exist.
 *
 * @param w - the world.
 * @returns an unsigned 32-bit hash.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, hashWorld, referenceMachine, step } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const w0 = boot(m);
 * // Equal worlds hash alike; exporting a 16 KiB buffer changes the hash.
 * assert.equal(hashWorld(w0), hashWorld(boot(m)));
 * const args = { size: 0x4000 };
 * const r = step(m, w0, { kind: "export", exporter: "ref-exporter", owner: "exp0", args });
 * assert.equal(r.status, "done");
 * assert.notEqual(hashWorld(r.world), hashWorld(w0));
 * ```
 * @category Exploration
 */
export function hashWorld(w: World): number {
  let h = 0x5eed;
  for (const slice of WORLD_SLICES) h = mixWord(h, w[slice].hash);
  return fmix32(h);
}

/**
 * The second half of the world's 64-bit fingerprint: the slices' second
 * hash lanes ({@link PTable.hash2}), independent of {@link hashWorld}'s.
 * An explorer keys its visited set by both halves and keeps no world it
 * has finished with, so the pair must identify a world (DESIGN §2a).
 *
 * @param w - the world.
 * @returns an unsigned 32-bit hash.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, hashWorld, hashWorld2, referenceMachine, step } from "@dmabuf-ref/core";
 * import type { World } from "@dmabuf-ref/core";
 *
 * // The 64-bit fingerprint an explorer keys its visited set by: both halves.
 * const fingerprint = (w: World): bigint => (BigInt(hashWorld(w)) << 32n) | BigInt(hashWorld2(w));
 * const m = referenceMachine();
 * const w0 = boot(m);
 * const args = { size: 0x4000 };
 * const w1 = step(m, w0, { kind: "export", exporter: "ref-exporter", owner: "exp0", args }).world;
 * assert.equal(fingerprint(boot(m)), fingerprint(w0));
 * assert.notEqual(hashWorld2(w1), hashWorld2(w0));
 * assert.notEqual(fingerprint(w1), fingerprint(w0));
 * ```
 * @category Exploration
 */
export function hashWorld2(w: World): number {
  let h = 0x2545f491;
  for (const slice of WORLD_SLICES) h = mixWord(h, w[slice].hash2);
  return fmix32(h);
}

/**
 * The world with some of its slices replaced: what every op returns. One
 * object literal with every slice, rather than `{ ...w, bufs }`: V8 builds
 * a spread copy of a 12-field object through its slow path once the
 * slices' field types vary (about 10x the time, and its fields out of line
 * in a second object), and a search keeps a world per state.
 *
 * @param w - the world.
 * @param change - the slices that change.
 * @returns the new world (`w` itself is never changed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, worldWith } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * // A new world that shares every slice but the one replaced.
 * const tasks = w.tasks.set(1, { kind: "revoke", buf: 1, pc: 0, by: "exp0", permanent: false });
 * const w2 = worldWith(w, { tasks });
 * assert.equal(w2.tasks.size, 1);
 * assert.equal(w.tasks.size, 0);
 * assert.equal(w2.bufs, w.bufs);
 * ```
 * @category Lifetime
 */
export function worldWith(w: World, change: Partial<World>): World {
  return copyWorld(w, change);
}

/** {@link worldWith}'s copier: one literal naming every slice (`encoding/record-with.ts`). */
const copyWorld = recordWith<World, typeof WORLD_SLICES>(WORLD_SLICES);

/**
 * Canonical equality of two worlds of the same machine: equally encoding
 * slices. Shared subtrees compare by identity.
 *
 * @param a - one world.
 * @param b - the other.
 * @returns true when equal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, step, worldsEqual } from "@dmabuf-ref/core";
 * import type { World } from "@dmabuf-ref/core";
 *
 * // Export a 16 KiB buffer and close its only fd.
 * const m = referenceMachine();
 * const cycle = (w: World): World => {
 *   const args = { size: 0x4000 };
 *   const exp = step(m, w, { kind: "export", exporter: "ref-exporter", owner: "exp0", args });
 *   assert.ok(exp.status === "done" && exp.created !== undefined);
 *   return step(m, exp.world, { kind: "close", buf: exp.created }).world;
 * };
 * // The first cycle leaves the buffer's pages behind as a freed region; the
 * // second hands them out again and ends where the first did.
 * const once = cycle(boot(m));
 * assert.equal(worldsEqual(once, boot(m)), false);
 * assert.equal(worldsEqual(cycle(once), once), true);
 * ```
 * @category Exploration
 */
export function worldsEqual(a: World, b: World): boolean {
  if (a === b) return true;
  return (
    a.bufs.equals(b.bufs) &&
    a.atts.equals(b.atts) &&
    a.jobs.equals(b.jobs) &&
    a.tasks.equals(b.tasks) &&
    a.grants.equals(b.grants) &&
    a.regions.equals(b.regions) &&
    a.domains.equals(b.domains) &&
    a.deviceDomains.equals(b.deviceDomains) &&
    a.drivers.equals(b.drivers) &&
    a.violations.equals(b.violations) &&
    a.processes.equals(b.processes) &&
    a.memfds.equals(b.memfds)
  );
}
