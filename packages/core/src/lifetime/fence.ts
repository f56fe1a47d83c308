import type { Machine } from "../machine/machine.js";
import { kernelError } from "../errors/kernel-error.js";
import { access } from "../fabric/access.js";
import type { TraceEvent } from "../trace/event.js";
import { isKernelError, lookupAtt, mustBuf, recordViolation } from "../world/access.js";
import type { DmaDirection } from "../world/job.js";
import type { World } from "../world/world.js";
import type { StepOutcome } from "./outcome.js";
import { done, failed } from "./outcome.js";
import { assertResvHeld } from "./resv.js";
import { worldWith } from "../world/world.js";
import { bufWith } from "../world/dmabuf-state.js";

/**
 * How many unsignalled fences a buffer's reservation object holds: what
 * `dma_resv_wait_timeout(resv, DMA_RESV_USAGE_BOOKKEEP)` waits for.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the number of in-flight jobs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   importerHolder,
 *   referenceMachine,
 *   runScript,
 *   unsignalledFences,
 * } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "map", att: 1, holder },
 *   { kind: "dma-submit", att: 1, addr: 0x1000_0000n, len: 0x1000n, dir: "write", holder },
 * ]);
 * assert.equal(unsignalledFences(world, 1), 1); // what a revoke's dma_resv_wait_timeout waits for
 * ```
 *
 * @category Lifetime
 */
export function unsignalledFences(w: World, buf: number): number {
  return w.bufs.get(buf)?.fences ?? 0;
}

/**
 * A device starts a DMA job through an attachment's mapping and the
 * importer adds its fence to the buffer's resv (`dma_resv_add_fence`, resv
 * held, BOOKKEEP usage). Starting DMA through a mapping that has been
 * invalidated breaks the importer's obligation (kernel-model §1.3, §7.15)
 * and is recorded as a contract violation.
 *
 * @param w - the world.
 * @param att - the attachment id.
 * @param addr - the DMA address the job will access.
 * @param len - bytes per access.
 * @param dir - read or write.
 * @param holder - the resv holder adding the fence.
 * @returns the outcome; `created` is the job id.
 * @kernel drivers/dma-buf/dma-resv.c dma_resv_add_fence
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, importerHolder, referenceMachine, runScript, submitDma } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "map", att: 1, holder },
 * ]);
 * // dev0 writes 4 KiB at the mapping's IOVA
 * const r = submitDma(world, 1, 0x1000_0000n, 0x1000n, "write", holder);
 * assert.ok(r.status === "done");
 * assert.equal(r.created, 1); // the job
 * assert.equal(r.world.bufs.get(1)?.fences, 1);
 * ```
 *
 * @category Lifetime
 */
export function submitDma(
  w: World,
  att: number,
  addr: bigint,
  len: bigint,
  dir: DmaDirection,
  holder: string,
): StepOutcome {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return failed(w, a);
  if (a.mapping === null)
    return failed(
      w,
      kernelError("EINVAL", () => `attachment ${att} is not mapped`),
    );
  if (a.device === null)
    return failed(
      w,
      kernelError("EINVAL", () => `attachment ${att} has no DMA device`),
    );
  const b = mustBuf(w, a.buf);
  const held = assertResvHeld(w, a.buf, holder, "dma_resv_add_fence() holds dmabuf->resv");
  const events: TraceEvent[] = [...held.events];
  let world = held.world;
  if (a.invalidated) {
    const v = recordViolation(world, {
      kind: "contract",
      rule: "no new DMA through a mapping after invalidate_mappings()",
      actor: a.device,
      message: `job submitted through invalidated attachment ${att}`,
    });
    world = v.world;
    events.push(v.event);
  }
  const job = world.jobs.lowestFreeId();
  const next = world;
  const fenced = mustBuf(next, a.buf);
  world = worldWith(next, {
    bufs: next.bufs.set(a.buf, bufWith(fenced, { fences: fenced.fences + 1 })),
    jobs: next.jobs.set(job, {
      device: a.device,
      att,
      buf: a.buf,
      addr,
      len,
      dir,
      beforeInvalidate: !a.invalidated,
    }),
  });
  events.push({ kind: "fence-add", device: a.device, owner: b.owner, buf: a.buf, job });
  return done(world, events, job);
}

/**
 * A submitted job performs one access; the oracle judges it with the job's
 * fence as context (kernel-model §1.3: full access until the fence signals).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param job - the job id.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accessDma, boot, importerHolder, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "map", att: 1, holder },
 *   { kind: "dma-submit", att: 1, addr: 0x1000_0000n, len: 0x1000n, dir: "write", holder },
 * ]);
 * const r = accessDma(m, world, 1);
 * assert.ok(r.status === "done");
 * assert.equal(r.world.violations.size, 0); // the IOMMU translates, the oracle allows it
 * ```
 *
 * @category Lifetime
 */
export function accessDma(m: Machine, w: World, job: number): StepOutcome {
  const j = w.jobs.get(job);
  if (j === undefined)
    return failed(
      w,
      kernelError("EINVAL", () => `job ${job} is not in flight`),
    );
  const r = access(m, w, j.device, j.addr, j.len, j.dir, j);
  return done(r.world, r.events);
}

/**
 * The device finishes a job and signals its fence.
 *
 * @param w - the world.
 * @param job - the job id.
 * @returns the outcome.
 * @kernel drivers/dma-buf/dma-fence.c dma_fence_signal
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   importerHolder,
 *   referenceMachine,
 *   runScript,
 *   signalFence,
 * } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const holder = importerHolder("ref-importer", 1);
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder },
 *   { kind: "map", att: 1, holder },
 *   { kind: "dma-submit", att: 1, addr: 0x1000_0000n, len: 0x1000n, dir: "write", holder },
 * ]);
 * const r = signalFence(world, 1);
 * assert.ok(r.status === "done");
 * assert.equal(r.world.bufs.get(1)?.fences, 0);
 * assert.equal(r.world.jobs.size, 0);
 * ```
 *
 * @category Lifetime
 */
export function signalFence(w: World, job: number): StepOutcome {
  const j = w.jobs.get(job);
  if (j === undefined)
    return failed(
      w,
      kernelError("EINVAL", () => `job ${job} is not in flight`),
    );
  const b = w.bufs.get(j.buf);
  if (b === undefined) {
    // The buffer was released while the job ran: dma_buf_release's
    // dma_resv_fini dropped the resv's reference to the fence, which lives
    // on and signals with no buffer to update.
    return done(worldWith(w, { jobs: w.jobs.delete(job) }), [
      {
        kind: "note",
        actor: j.device,
        text: `job ${job} signals its fence; buf ${j.buf} was released, its resv no longer holds it`,
      },
    ]);
  }
  const bufs = w.bufs.set(j.buf, bufWith(b, { fences: b.fences - 1 }));
  return done(worldWith(w, { bufs, jobs: w.jobs.delete(job) }), [
    { kind: "fence-signal", device: j.device, owner: b.owner, buf: j.buf, job },
  ]);
}

/**
 * One unfenced access by a device (a guest's device through an IOMMU
 * mapping, or a legacy importer's PFN), judged by the oracle.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param device - the device.
 * @param addr - the address it issues.
 * @param len - bytes.
 * @param dir - read or write.
 * @returns the outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, deviceDma, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "map", att: 1, holder: null },
 * ]);
 * const r = deviceDma(m, world, "dev0", 0x1000_0000n, 8n, "read");
 * assert.ok(r.status === "done");
 * assert.equal(r.world.violations.size, 0);
 * assert.equal(deviceDma(m, world, "gpu9", 0x1000_0000n, 8n, "read").status, "failed"); // EINVAL
 * ```
 *
 * @category Lifetime
 */
export function deviceDma(
  m: Machine,
  w: World,
  device: string,
  addr: bigint,
  len: bigint,
  dir: DmaDirection,
): StepOutcome {
  if (!m.topology.devices.some((d) => d.id === device)) {
    return failed(
      w,
      kernelError("EINVAL", () => `no device ${device}`),
    );
  }
  const r = access(m, w, device, addr, len, dir);
  return done(r.world, r.events);
}
