/*
 * The suites' partners: a correct exporter for the importer suite and a
 * correct dynamic importer for the exporter suite, so a failure is the
 * driver under test's. The importer is core's reference importer plus
 * the two things a real dynamic importer decides itself (its command
 * submission and its release), which a suite cannot script from outside.
 */
import * as z from "zod";
import {
  blocked,
  defineDriver,
  defineDriverOp,
  detachAtt,
  done,
  failed,
  importerHolder,
  kernelError,
  mapAtt,
  mustRun,
  referenceExporter,
  referenceImporter,
  resvLock,
  resvUnlock,
  submitDma,
  u64Schema,
  unmapAtt,
} from "@dmabuf-ref/core";
import type {
  DriverOp,
  ExporterDriver,
  ImporterDriver,
  Machine,
  Op,
  StepOutcome,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";

/** The contract importer's name: the reference importer's. */
export const CONTRACT_IMPORTER = "ref-importer";
/** The contract exporter's name: the reference exporter's. */
export const CONTRACT_EXPORTER = "ref-exporter";

/**
 * The exporter the importer suite hands buffers from: core's reference
 * exporter (kernel-model §3.6, iommufd's selftest mock), revocable, waiting
 * for every unmap, allocating from the RAM region `region`, with the mock's
 * selftest hook (the private phys lookup iommufd imports through under
 * linux-7.1, and PAL where the profile has it), so iommufd, which imports
 * nothing else, can be tested against it as its own selftests do.
 *
 * @param region - the RAM region it allocates from (default `ram0`).
 * @returns the exporter, named `ref-exporter`.
 */
export function contractExporter(region = "ram0"): ExporterDriver {
  return referenceExporter({ region, selftestHook: true });
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

/** The correct policy: under resv, re-mapping after an invalidate. */
export const CORRECT_SUBMIT: SubmitPolicy = { remapsInvalidated: true, underResv: true };

/**
 * A dynamic importer's command submission as a driver op named `submit`
 * (amdgpu_cs_ioctl / xe_exec_ioctl reduced to their dma-buf part,
 * kernel-model §1.3): under the buffer's resv (blocked while another holds
 * it, as `dma_resv_lock` sleeps), make sure the attachment is mapped
 * (`dma_buf_map_attachment`, re-mapping after an invalidate per `policy`),
 * add the job's fence (`dma_resv_add_fence`, core's `dma-submit` at the
 * mapping's first DMA address plus `offset`) and unlock. One atomic step:
 * every part runs under the one resv lock. Its result is the job id.
 *
 * @param policy - what the submission gets right.
 * @returns the driver op.
 */
export function submitOp(
  policy: SubmitPolicy = CORRECT_SUBMIT,
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
      const iova = world.atts.get(args.att)?.mapping?.iova[0];
      if (iova === undefined)
        return failed(
          w,
          kernelError("EINVAL", () => `attachment ${args.att}'s mapping has no IOVA`),
        );
      const job = submitDma(world, args.att, iova.iova + args.offset, args.len, args.dir, holder);
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
 * `release` (the importer's teardown: `dma_buf_unmap_attachment` under
 * resv when it still holds a mapping, then `dma_buf_detach`), one atomic
 * step under the one lock.
 *
 * @returns the driver op.
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

/** What a wrong dynamic importer replaces in the contract importer. */
export interface DynamicImporterChanges {
  /** The command submission's policy (default: {@link CORRECT_SUBMIT}). */
  readonly submit?: SubmitPolicy;
  /** `invalidate_mappings` (default: the reference importer's, which owes an unmap). */
  readonly invalidateMappings?: NonNullable<ImporterDriver["invalidateMappings"]>;
  /** The work it does on its own (default: the reference importer's owed unmaps). */
  readonly pending?: NonNullable<ImporterDriver["pending"]>;
}

/**
 * The contract importer, or a variant of it: core's reference dynamic
 * importer (kernel-model §1.3, §7.15: `allow_peer2peer`, one SGT accept,
 * on `invalidate_mappings` it stops starting DMA and owes an unmap it
 * performs as soon as resv is free) with a command submission
 * ({@link submitOp}) and a teardown ({@link releaseOp}). A zoo importer is
 * this with one named change, so it differs from the correct one only there.
 *
 * @param changes - what to replace (nothing: the correct importer).
 * @returns the importer, named `ref-importer`.
 */
export function dynamicImporter(changes: DynamicImporterChanges = {}): ImporterDriver {
  const right = referenceImporter();
  return defineDriver({
    role: "importer",
    name: right.name,
    slices: {},
    callbacks: {
      allowPeer2peer: right.allowPeer2peer,
      accepts: (m, w, req) => right.accepts(m, w, req),
      invalidateMappings:
        changes.invalidateMappings ??
        ((m, w, att) => right.invalidateMappings?.(m, w, att) ?? { world: w, events: [] }),
      pending: changes.pending ?? ((m, w) => right.pending?.(m, w) ?? []),
    },
    ops: [submitOp(changes.submit), releaseOp()],
  });
}

/**
 * The importer the exporter suite attaches with: the correct
 * {@link dynamicImporter}.
 *
 * @returns the importer, named `ref-importer`.
 */
export function contractImporter(): ImporterDriver {
  return dynamicImporter();
}

/**
 * The `submit` op of a dynamic importer for one attachment, as an op.
 *
 * @param att - the attachment.
 * @param dir - read or write.
 * @param len - bytes (default 8).
 * @returns the op.
 */
export function submitCall(att: number, dir: "read" | "write", len = 8n): Op {
  return { kind: "driver", driver: CONTRACT_IMPORTER, action: { op: "submit", att, len, dir } };
}

/**
 * The `release` op of a dynamic importer for one attachment, as an op.
 *
 * @param att - the attachment.
 * @returns the op.
 */
export function releaseCall(att: number): Op {
  return { kind: "driver", driver: CONTRACT_IMPORTER, action: { op: "release", att } };
}

/**
 * The attachments `importer` holds on `buf`, in id order.
 *
 * @param w - the world.
 * @param buf - the buffer.
 * @param importer - the importer's name.
 * @returns attachment ids.
 */
export function attachmentsOf(w: World, buf: number, importer: string): number[] {
  const b = w.bufs.get(buf);
  return (b?.attachments ?? []).filter((id) => w.atts.get(id)?.importer === importer);
}

/**
 * The machine's importer or exporter by name, or a thrown error naming
 * what the harness forgot.
 *
 * @param m - the machine.
 * @param name - the driver's name.
 * @param role - which table.
 */
export function mustHaveDriver(m: Machine, name: string, role: "exporter" | "importer"): void {
  const table = role === "exporter" ? m.exporters : m.importers;
  if (!table.has(name))
    throw new Error(
      `the harness's machine has no ${role} named "${name}" (it has: ${[...table.keys()].join(", ")})`,
    );
}
