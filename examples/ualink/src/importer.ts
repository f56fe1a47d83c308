/*
 * A UALink-attached NIC (or accelerator) importing dma-bufs, written
 * against `@dmabuf-ref/core`'s public API only: a dynamic, revocable
 * importer whose device DMA goes through the fabric addresses of a
 * `ualink` mapping (or the DMA addresses of an SGT over its PCIe side),
 * as fenced jobs core's oracle judges.
 */
import {
  accept,
  arrayCodec,
  blocked,
  defineDriver,
  defineSlice,
  detachAtt,
  done,
  failed,
  importerHolder,
  isPayloadOf,
  kernelError,
  mapAtt,
  mustRun,
  owedUnmaps,
  readSlice,
  resvLock,
  resvUnlock,
  sgt,
  stringCodec,
  submitDma,
  u64Schema,
  unmapAtt,
  writeSlice,
} from "@dmabuf-ref/core";
import type {
  AttachmentState,
  ImporterAccept,
  ImporterDriver,
  Machine,
  Op,
  StepOutcome,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import * as z from "zod";
import { FABRIC, FAR_NIC, NIC, OTHER_FABRIC } from "./hardware.js";
import { UALINK_IMPORTER } from "./profile.js";
import { ualink } from "./ualink-type.js";

/**
 * The importer's entry points, one variant per op (`{ op, ...fields }`):
 * - `submit`: a job through an attachment (the NIC's send or RDMA-write
 *   doorbell reduced to its dma-buf part: under resv, map if needed,
 *   add the job's fence at the mapping's address plus `offset`);
 * - `release`: give an attachment up (unmap under resv, then detach);
 * - `link`: a port's link goes down or comes back up (training, cable).
 */
export const ualinkImporterActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    op: z.literal("submit"),
    /** The attachment the job's DMA goes through. */
    att: z.number().int().nonnegative(),
    /** Byte offset in the buffer the job accesses. */
    offset: u64Schema.default(0n),
    /** Bytes per access. */
    len: u64Schema,
    /** Read or write. */
    dir: z.enum(["read", "write"]),
  }),
  z.strictObject({
    op: z.literal("release"),
    /** The attachment to give up. */
    att: z.number().int().nonnegative(),
  }),
  z.strictObject({
    op: z.literal("link"),
    /** The UALink port. */
    port: z.string().min(1),
    /** Up (trained) or down. */
    up: z.boolean(),
  }),
]);

/** One validated action of the importer (see {@link ualinkImporterActionSchema}). */
export type UalinkImporterAction = z.output<typeof ualinkImporterActionSchema>;

/** The kernel path or hardware event each op models. */
const OP_MODELS = {
  submit: "a UALink NIC's job submission (its doorbell ioctl) reduced to its dma-buf part",
  release: "the importer's teardown: dma_buf_unmap_attachment under resv, then dma_buf_detach",
  link: "a UALink port's link going down or coming back (link training, a pulled cable)",
} as const;

/** The ports whose link is down, sorted (absent from the world while every link is up). */
const portsDownSlice = defineSlice<readonly string[]>(
  "ualink-ports-down",
  arrayCodec(stringCodec),
  [],
);

/** How the importer is set up: its name and which fabric each of its ports is cabled to. */
export interface UalinkImporterOptions {
  /** The driver's name (default `ualink-importer`). */
  readonly name?: string;
  /**
   * Its UALink ports and the fabric each is cabled to (default `unic0` on
   * `ual0`, `unic1` on `ual1`). Any other device attaches over PCIe only.
   */
  readonly ports?: Readonly<Record<string, string>>;
}

/**
 * The UALink importer (`struct dma_buf_attach_ops` of a UALink NIC
 * driver): attaches dynamically with `allow_peer2peer`, accepts
 * `[ualink, sgt]` (fabric addresses through a UALink port; an SGT over
 * the device's PCIe side for memory not on its fabric), and on
 * `invalidate_mappings` stops starting DMA and owes an unmap it performs
 * on its own as soon as resv is free (core's `owedUnmaps`, as the
 * reference importer). Its next job after an invalidate maps again.
 *
 * @param opts - its name and ports.
 * @returns the importer driver.
 */
export function ualinkImporter(opts: UalinkImporterOptions = {}): ImporterDriver {
  const name = opts.name ?? UALINK_IMPORTER;
  const ports = opts.ports ?? { [NIC]: FABRIC, [FAR_NIC]: OTHER_FABRIC };
  const fabricOf = (device: string | null): string | undefined =>
    device === null ? undefined : ports[device];

  return defineDriver({
    role: "importer",
    name,
    slices: { portsDown: portsDownSlice },
    actions: {
      schema: ualinkImporterActionSchema,
      models: OP_MODELS,
      run: (m, w, action, self) => {
        switch (action.op) {
          case "submit":
            return submit(m, w, action, self);
          case "release":
            return release(m, w, action.att, self);
          case "link":
            return link(m, w, ports, action.port, action.up, self);
          default:
            return action satisfies never;
        }
      },
    },
    callbacks: {
      allowPeer2peer: true,
      accepts(m, w, req): readonly ImporterAccept[] {
        const fabric = fabricOf(req.device);
        const pcie = accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, name);
        if (fabric === undefined || req.device === null) return [pcie];
        const down = readSlice(m, w, name, portsDownSlice).includes(req.device);
        return [accept(ualink, { port: req.device, fabric, linkUp: !down }, name), pcie];
      },
      // Core marked the mapping invalidated: the importer starts no new DMA
      // through it and owes the unmap (its `pending` work below).
      invalidateMappings: (_m, world) => ({ world, events: [] }),
      pending: (_m, w) => owedUnmaps(w, name),
      candidates: (_m, w) => {
        const ops: Op[] = [];
        for (const [att, a] of w.atts.entries()) {
          if (a.importer !== name) continue;
          for (const dir of ["read", "write"] as const)
            ops.push({ kind: "driver", driver: name, action: { op: "submit", att, len: 8n, dir } });
          ops.push({ kind: "driver", driver: name, action: { op: "release", att } });
        }
        return ops;
      },
    },
  });
}

/** The address a job through this mapping issues: the first fabric or DMA address. */
function firstAddress(a: AttachmentState): bigint | undefined {
  const payload = a.mapping?.payload;
  if (isPayloadOf(ualink, payload)) return payload.value.ranges[0]?.fabricAddr;
  if (isPayloadOf(sgt, payload)) return payload.value.entries[0]?.dmaAddress;
  return undefined;
}

/** The `submit` op: one fenced job through the attachment, under its resv, mapping first if needed. */
function submit(
  m: Machine,
  w: World,
  args: Extract<UalinkImporterAction, { op: "submit" }>,
  self: string,
): StepOutcome {
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
      kernelError("EINVAL", () => `a job of ${args.len} bytes at ${args.offset} leaves the buffer`),
    );
  const holder = importerHolder(self, args.att);
  const locked = resvLock(w, a.buf, holder);
  if (locked.status === "blocked") return blocked(w, "resv", locked.reason);
  if (locked.status === "failed") return failed(w, locked.error);
  const events: TraceEvent[] = [...locked.events];
  let world = locked.world;
  // After an invalidate the next job unmaps (the unmap it owed, done
  // now) and maps the buffer afresh: a revoked buffer refuses the map.
  const current = world.atts.get(args.att);
  if (current?.mapping != null && current.invalidated)
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
  const mappedAtt = world.atts.get(args.att);
  const addr = mappedAtt === undefined ? undefined : firstAddress(mappedAtt);
  if (addr === undefined)
    return failed(
      w,
      kernelError("EINVAL", () => `attachment ${args.att}'s mapping holds no address`),
    );
  const job = submitDma(world, args.att, addr + args.offset, args.len, args.dir, holder);
  if (job.status !== "done" || job.created === undefined)
    return failed(
      w,
      job.status === "failed"
        ? job.error
        : kernelError("EINVAL", () => `no job through attachment ${args.att}`),
    );
  events.push(...job.events);
  const unlocked = mustRun(resvUnlock(job.world, a.buf, holder), `${self}: unlock`, events);
  return done(unlocked.world, events, job.created);
}

/** The `release` op: unmap under resv if mapped, then detach. */
function release(m: Machine, w: World, att: number, self: string): StepOutcome {
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
}

/** The `link` op: records a port's link state, which the next attach's accept states. */
function link(
  m: Machine,
  w: World,
  ports: Readonly<Record<string, string>>,
  port: string,
  up: boolean,
  self: string,
): StepOutcome {
  if (ports[port] === undefined)
    return failed(
      w,
      kernelError("ENODEV", () => `${port} is not a UALink port of ${self}`),
    );
  const down = readSlice(m, w, self, portsDownSlice);
  const next = up ? down.filter((p) => p !== port) : [...new Set([...down, port])].sort();
  return done(writeSlice(m, w, self, portsDownSlice, next), [
    { kind: "note", actor: port, text: `UALink port ${port} link ${up ? "up" : "down"}` },
  ]);
}
