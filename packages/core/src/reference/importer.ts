import * as z from "zod";
import { kernelError } from "../errors/kernel-error.js";
import { detachAtt } from "../lifetime/attach.js";
import { submitDma } from "../lifetime/fence.js";
import { mapAtt, unmapAtt } from "../lifetime/map.js";
import { mustRun } from "../lifetime/must-run.js";
import { blocked, done, failed } from "../lifetime/outcome.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import { resvLock, resvUnlock } from "../lifetime/resv.js";
import { defineDriver } from "../machine/define-driver.js";
import { defineDriverOp } from "../machine/driver-op.js";
import type { DriverOp, ImporterDriver } from "../machine/machine.js";
import type { MappingState } from "../world/attachment-state.js";
import type { Op } from "../lifetime/op.js";
import { u64Schema } from "../schemas.js";
import type { TraceEvent } from "../trace/event.js";
import { isPayloadOf } from "../mapping-types/define.js";
import { sgt } from "../mapping-types/sgt.js";
import { accept } from "../negotiation/offer.js";
import type { World } from "../world/world.js";

/**
 * The resv holder name an importer uses for its own work on one attachment.
 *
 * @param importer - the importer's name.
 * @param att - the attachment id.
 * @returns e.g. `"ref-importer#attach 7"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holderActor, importerHolder } from "@dmabuf-ref/core";
 *
 * const holder = importerHolder("ref-importer", 7);
 * assert.equal(holder, "ref-importer#attach 7");
 * assert.equal(holderActor(holder), "ref-importer");
 * ```
 *
 * @category Drivers
 */
export function importerHolder(importer: string, att: number): string {
  return `${importer}#attach ${att}`;
}

/**
 * The reference dynamic importer: the minimal correct revocable importer
 * (kernel-model §1.3, §7.15). It attaches dynamically with
 * `allow_peer2peer`, accepts one SGT, and on `invalidate_mappings` stops
 * starting DMA and owes an unmap, which it performs on its own (lock resv,
 * unmap, unlock) as soon as resv is free. It never re-maps by itself: its
 * command submission (`submit`, {@link submitOp}) maps again, under resv,
 * before the next job, and `release` ({@link releaseOp}) gives an
 * attachment up (the two decisions a scenario cannot script from outside).
 *
 * @param opts - the driver's name.
 * @returns the importer driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceImporter, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const gpu1 = referenceImporter({ name: "gpu1" });
 * const m = referenceMachine({ importers: [gpu1] });
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "gpu1", device: "dev1", dynamic: true },
 *   {
 *     kind: "driver",
 *     driver: "gpu1",
 *     action: { op: "submit", att: 1, len: 0x1000n, dir: "write" },
 *   },
 *   // the revoke invalidates; once the job signals, gpu1 unmaps on its own
 *   { kind: "revoke", buf: 1, permanent: false, by: "FLR" },
 *   { kind: "signal", job: 1 },
 * ]);
 * assert.equal(world.atts.get(1)?.mapping, null);
 * assert.equal(world.bufs.get(1)?.revoked, "temporary");
 * assert.equal(world.violations.size, 0);
 * ```
 *
 * @category Drivers
 */
export function referenceImporter(opts: { readonly name?: string } = {}): ImporterDriver {
  const name = opts.name ?? "ref-importer";
  return defineDriver({
    role: "importer",
    name,
    slices: {},
    callbacks: {
      allowPeer2peer: true,
      accepts: (_m, _w, req) => [
        accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, name),
      ],
      invalidateMappings: (_m, world) => ({ world, events: [] }),
      pending: (_m, w) => owedUnmaps(w, name),
    },
    ops: [submitOp(), releaseOp()],
  });
}

/**
 * The resv holder name an importer uses for the unmap it owes after an
 * invalidate, distinct from {@link importerHolder} so the importer never
 * releases a lock its user took.
 *
 * @param importer - the importer's name.
 * @param att - the attachment id.
 * @returns e.g. `"ref-importer#attach 7, owed unmap"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { owedUnmapHolder } from "@dmabuf-ref/core";
 *
 * assert.equal(owedUnmapHolder("ref-importer", 7), "ref-importer#attach 7, owed unmap");
 * ```
 *
 * @category Drivers
 */
export function owedUnmapHolder(importer: string, att: number): string {
  return `${importerHolder(importer, att)}, owed unmap`;
}

/**
 * The next step of the unmap an importer owes after an invalidate, for every
 * attachment of `importer`: lock resv, unmap, unlock. Shared by importers
 * that behave like the reference one.
 *
 * @param w - the world.
 * @param importer - the importer's name.
 * @returns the next op per attachment that owes work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   owedUnmapHolder,
 *   owedUnmaps,
 *   referenceMachine,
 *   step,
 *   worldAfter,
 * } from "@dmabuf-ref/core";
 * import type { Op } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const script: Op[] = [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "map", att: 1, holder: null },
 *   { kind: "revoke", buf: 1, permanent: false, by: "FLR" },
 *   { kind: "task", task: 1 }, // lock resv
 *   { kind: "task", task: 1 }, // revoked = temporary
 *   { kind: "task", task: 1 }, // invalidate
 * ];
 * const w = script.reduce((world, op) => worldAfter(step(m, world, op)), boot(m));
 * // resv is the revoke's: the importer's next move is to take it, to unmap
 * const holder = owedUnmapHolder("ref-importer", 1);
 * assert.deepEqual(owedUnmaps(w, "ref-importer"), [{ kind: "lock", buf: 1, holder }]);
 * ```
 *
 * @category Drivers
 */
export function owedUnmaps(w: World, importer: string): Op[] {
  // Nothing invalidated and still mapped, no resv held: nothing owed (the
  // common case, and an explorer asks in every state).
  if (w.atts.index.size === 0 && w.bufs.index.held.size === 0) return [];
  const ops: [number, Op][] = [];
  // The world marks attachments invalidated and still mapped, and buffers
  // whose resv is held: only those can owe a step (no scan of the rest).
  for (const id of w.atts.index.keys()) {
    const a = w.atts.get(id);
    const b = a === undefined ? undefined : w.bufs.get(a.buf);
    if (a === undefined || b === undefined || a.importer !== importer) continue;
    const holder = owedUnmapHolder(importer, id);
    ops.push([
      id,
      b.resvHolder === holder
        ? { kind: "unmap", att: id, holder }
        : { kind: "lock", buf: a.buf, holder },
    ]);
  }
  for (const buf of w.bufs.index.held.keys()) {
    const b = w.bufs.get(buf);
    if (b === undefined) continue;
    for (const id of b.attachments) {
      const a = w.atts.get(id);
      if (a === undefined || a.importer !== importer) continue;
      const owes = a.mapping !== null && a.invalidated;
      // The holder's name is built only for a holder that can be this
      // importer's (resv is mostly held by others: the exporter, a thread).
      if (
        !owes &&
        b.resvHolder?.startsWith(importer) &&
        b.resvHolder === owedUnmapHolder(importer, id)
      )
        ops.push([id, { kind: "unlock", buf, holder: b.resvHolder }]);
    }
  }
  // In attachment order, as a scan would list them.
  if (ops.length === 0) return [];
  return ops.sort((x, y) => x[0] - y[0]).map(([, op]) => op);
}

/** The fields of a `submit`: the attachment, where in the buffer, how much, which way. */
const submitSchema = z.strictObject({
  /** The attachment the job's DMA goes through. */
  att: z.number().int().nonnegative(),
  /** Byte offset in the buffer the job accesses (default 0). */
  offset: u64Schema.default(0n),
  /** Bytes per access. */
  len: u64Schema,
  /** Read or write. */
  dir: z.enum(["read", "write"]),
});

/** The fields of a `release`: the attachment to give up. */
const releaseSchema = z.strictObject({
  /** The attachment. */
  att: z.number().int().nonnegative(),
});

/**
 * How a dynamic importer's command submission treats its mapping, the
 * decisions the zoo's wrong importers get wrong.
 *
 * @category Drivers
 */
export interface SubmitPolicy {
  /**
   * Whether a mapping invalidated since it was made is unmapped and made
   * again before the job (correct), or used as long as it exists.
   */
  readonly remapsInvalidated: boolean;
  /** Whether the submission holds `dmabuf->resv` (correct) or maps and adds the fence without it. */
  readonly underResv: boolean;
}

/**
 * The correct policy: under resv, re-mapping after an invalidate.
 *
 * @category Drivers
 */
export const CORRECT_SUBMIT: SubmitPolicy = { remapsInvalidated: true, underResv: true };

/**
 * The address a job through a mapping issues first: the SGT's first DMA
 * address (an IOVA, or a bus address for peer-to-peer without the IOMMU),
 * else the first IOVA the map allocated; undefined when it has neither.
 *
 * @param mapping - the attachment's mapping.
 * @returns the address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, firstDmaAddress, referenceMachine, runScript } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "map", att: 1, holder: null },
 * ]);
 * const mapping = world.atts.get(1)?.mapping;
 * assert.ok(mapping !== undefined && mapping !== null);
 * assert.equal(firstDmaAddress(mapping), 0x1000_0000n); // dev0's IOVA
 * ```
 *
 * @category Drivers
 */
export function firstDmaAddress(mapping: MappingState): bigint | undefined {
  const payload = mapping.payload;
  return isPayloadOf(sgt, payload) ? payload.value.entries[0]?.dmaAddress : mapping.iova[0]?.iova;
}

/**
 * A dynamic importer's command submission as a driver op named `submit`
 * (amdgpu_cs_ioctl / xe_exec_ioctl reduced to their dma-buf part,
 * kernel-model §1.3): under the buffer's resv (blocked while another holds
 * it, as `dma_resv_lock` sleeps), make sure the attachment is mapped
 * (`dma_buf_map_attachment`, re-mapping after an invalidate per `policy`),
 * add the job's fence (`dma_resv_add_fence`, core's `dma-submit` at the
 * mapping's first DMA address plus `offset`) and unlock. One atomic step:
 * every part runs under the one resv lock. A job that leaves the buffer
 * is EINVAL. Its result is the job id.
 *
 * @param policy - what the submission gets right.
 * @param addressOf - where a job through a mapping starts (default
 *   {@link firstDmaAddress}; an importer of another mapping type says
 *   where its payload puts the device's address).
 * @returns the driver op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   driverOpCall,
 *   referenceMachine,
 *   runScript,
 *   step,
 *   submitOp,
 * } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 * ]);
 * // one job writing the buffer's second page: it maps first, under resv
 * const submit = driverOpCall("ref-importer", submitOp(), {
 *   att: 1,
 *   offset: 0x1000n,
 *   len: 0x1000n,
 *   dir: "write",
 * });
 * const r = step(m, world, submit);
 * assert.ok(r.status === "done");
 * assert.equal(r.created, 1); // the job
 * assert.equal(r.world.jobs.get(1)?.addr, 0x1000_1000n);
 * assert.equal(r.world.bufs.get(1)?.resvHolder, null);
 * ```
 *
 * @category Drivers
 */
export function submitOp(
  policy: SubmitPolicy = CORRECT_SUBMIT,
  addressOf: (mapping: MappingState) => bigint | undefined = firstDmaAddress,
): DriverOp<z.output<typeof submitSchema>, z.input<typeof submitSchema>> {
  return defineDriverOp({
    name: "submit",
    models: "a dynamic importer's command submission (amdgpu_cs_ioctl, xe_exec_ioctl)",
    schema: submitSchema,
    run: (m, w, args, self): StepOutcome => {
      const a = w.atts.get(args.att);
      if (a === undefined || a.importer !== self)
        return failed(
          w,
          kernelError("EINVAL", () => `attachment ${args.att} is not ${self}'s`),
        );
      const size = w.bufs.get(a.buf)?.size ?? 0n;
      if (args.len === 0n || args.offset + args.len > size)
        return failed(
          w,
          kernelError(
            "EINVAL",
            () => `a job of ${args.len} bytes at ${args.offset} leaves the buffer`,
          ),
        );
      const holder = importerHolder(self, args.att);
      const events: TraceEvent[] = [];
      let world = w;
      if (policy.underResv) {
        const locked = resvLock(w, a.buf, holder);
        if (locked.status === "blocked") return blocked(w, "resv", locked.reason);
        if (locked.status === "failed") return failed(w, locked.error);
        events.push(...locked.events);
        world = locked.world;
      }
      const current = world.atts.get(args.att);
      if (current === undefined) throw new Error(`${self}: attachment ${args.att} vanished`);
      // The correct importer's next job maps again after an invalidate
      // (the unmap it owed, done now, then a fresh map of the new placement).
      if (policy.remapsInvalidated && current.mapping !== null && current.invalidated)
        world = mustRun(unmapAtt(m, world, args.att, holder), `${self}: unmap`, events).world;
      if (world.atts.get(args.att)?.mapping === null) {
        const mapped = mapAtt(m, world, args.att, holder);
        if (mapped.status !== "done")
          return mapped.status === "failed"
            ? failed(w, mapped.error)
            : blocked(w, "resv", mapped.reason);
        world = mapped.world;
        events.push(...mapped.events);
      }
      const mapping = world.atts.get(args.att)?.mapping;
      const base = mapping === undefined || mapping === null ? undefined : addressOf(mapping);
      if (base === undefined)
        return failed(
          w,
          kernelError("EINVAL", () => `attachment ${args.att}'s mapping has no DMA address`),
        );
      const job = submitDma(world, args.att, base + args.offset, args.len, args.dir, holder);
      if (job.status !== "done" || job.created === undefined)
        return job.status === "failed"
          ? failed(w, job.error)
          : failed(
              w,
              kernelError("EINVAL", () => `no job through attachment ${args.att}`),
            );
      events.push(...job.events);
      if (!policy.underResv) return done(job.world, events, job.created);
      const unlocked = mustRun(resvUnlock(job.world, a.buf, holder), `${self}: unlock`, events);
      return done(unlocked.world, events, job.created);
    },
  });
}

/**
 * A dynamic importer giving an attachment up as a driver op named
 * `release` (the importer's teardown: once its device's jobs through the
 * attachment signalled, `dma_buf_unmap_attachment` under resv when it
 * still holds a mapping, then `dma_buf_detach`), one atomic step under the
 * one lock; blocked while a job is in flight.
 *
 * @returns the driver op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   driverOpCall,
 *   referenceMachine,
 *   releaseOp,
 *   runScript,
 *   step,
 * } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "map", att: 1, holder: null },
 * ]);
 * // unmap under resv, then detach, in one step
 * const r = step(m, world, driverOpCall("ref-importer", releaseOp(), { att: 1 }));
 * assert.ok(r.status === "done");
 * assert.equal(r.world.atts.size, 0);
 * assert.equal(r.world.bufs.get(1)?.fileRefs, 1);
 * ```
 *
 * @category Drivers
 */
export function releaseOp(): DriverOp<
  z.output<typeof releaseSchema>,
  z.input<typeof releaseSchema>
> {
  return defineDriverOp({
    name: "release",
    models: "a dynamic importer's teardown (dma_buf_unmap_attachment, then dma_buf_detach)",
    schema: releaseSchema,
    run: (m, w, { att }, self): StepOutcome => {
      const a = w.atts.get(att);
      if (a === undefined || a.importer !== self)
        return failed(
          w,
          kernelError("EINVAL", () => `attachment ${att} is not ${self}'s`),
        );
      // Its own jobs first: the device must be done with the mapping
      // before it goes (the importer waits for its fences, as a driver
      // waits for its BO to idle before unmapping).
      for (const job of w.jobs.values())
        if (job.att === att)
          return blocked(
            w,
            "fences",
            `attachment ${att} still has a job of ${job.device} in flight`,
          );
      const holder = importerHolder(self, att);
      const locked = resvLock(w, a.buf, holder);
      if (locked.status === "blocked") return blocked(w, "resv", locked.reason);
      if (locked.status === "failed") return failed(w, locked.error);
      const events: TraceEvent[] = [...locked.events];
      let world = locked.world;
      if (world.atts.get(att)?.mapping !== null)
        world = mustRun(unmapAtt(m, world, att, holder), `${self}: unmap`, events).world;
      world = mustRun(resvUnlock(world, a.buf, holder), `${self}: unlock`, events).world;
      const detached = detachAtt(m, world, att);
      if (detached.status !== "done")
        return detached.status === "failed"
          ? failed(w, detached.error)
          : blocked(w, "resv", detached.reason);
      return done(detached.world, [...events, ...detached.events]);
    },
  });
}
