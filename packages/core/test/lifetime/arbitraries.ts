/**
 * Generators for the model-based lifetime tests.
 *
 * Two families:
 * - op *recipes* ({@link recipeArb}): any op of the alphabet, with ids picked
 *   from what the current world holds (or raw small integers, to produce bad
 *   input), resolved against the world only when the op runs;
 * - *well-behaved actions* ({@link actionArb}, {@link perform}): what a
 *   correct kernel user of the reference exporter and importer does, each
 *   action checking its precondition in the current world and otherwise
 *   doing nothing.
 *
 * Both log the real ops they ran with {@link formatOp}, so a shrunk
 * counterexample reads like a trace.
 */
import fc from "fast-check";
import {
  describeEvent,
  importerHolder,
  isPayloadOf,
  refExporterPriv,
  settle,
  sgt,
  step,
  taskHolder,
} from "@dmabuf-ref/core";
import type {
  AttachmentState,
  DmaBufState,
  DmaDirection,
  Machine,
  Op,
  RefExporterPriv,
  RegionStatus,
  StepOutcome,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";

/** The reference drivers' names and the owner of every exported buffer. */
export const EXPORTER = "ref-exporter";
export const IMPORTER = "ref-importer";
export const OWNER = "exp0";
/** Who starts revokes in the well-behaved runs (never used as an importer's holder). */
export const REVOKER = "revoke";
const PAGE = 0x1000n;

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

function fmt(v: unknown): string {
  if (typeof v === "bigint") return `0x${v.toString(16)}`;
  if (v === undefined) return "undefined";
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `0x${x.toString(16)}` : x));
}

/**
 * One op as a trace line, e.g. `map att=7 holder="ref-importer#7"`.
 *
 * @param op - the op.
 * @returns its rendering.
 */
export function formatOp(op: Op): string {
  const fields = Object.entries(op)
    .filter(([k]) => k !== "kind")
    .map(([k, v]) => `${k}=${fmt(v)}`);
  return [op.kind, ...fields].join(" ");
}

/**
 * A step outcome as a short trace suffix.
 *
 * @param r - the outcome.
 * @returns e.g. `done (created 5)`, `failed EINVAL: ...`, `blocked: ...`.
 */
export function formatOutcome(r: StepOutcome): string {
  if (r.status === "done") {
    const created = r.created === undefined ? "" : ` (created ${r.created})`;
    const violations = r.events.filter((e) => e.kind === "violation");
    return `done${created}${violations.length > 0 ? ` VIOLATION x${violations.length}` : ""}`;
  }
  if (r.status === "failed") return `failed ${r.error.errno}: ${r.error.message}`;
  return `blocked: ${r.reason}`;
}

/**
 * Trace lines for events produced by `settle`.
 *
 * @param events - the events.
 * @returns one indented line each.
 */
export function formatEvents(events: readonly TraceEvent[]): string[] {
  return events.map((e) => {
    const line = describeEvent(e);
    return `    ${line.from}${line.to === undefined ? "" : ` -> ${line.to}`}: ${line.text}`;
  });
}

// ---------------------------------------------------------------------------
// Reading the world
// ---------------------------------------------------------------------------

/**
 * The DMA addresses of an attachment's sgt mapping.
 *
 * @param a - the attachment.
 * @returns its entries, or none when it is not mapped.
 */
export function dmaEntries(a: AttachmentState): readonly { dmaAddress: bigint; length: bigint }[] {
  const payload = a.mapping?.payload;
  return isPayloadOf(sgt, payload) ? payload.value.entries : [];
}

/** The reference exporter's private data of a buffer: where its pages are. */
export function bufPriv(b: DmaBufState): RefExporterPriv | undefined {
  return refExporterPriv(b);
}

/** The state of the region a buffer was carved as. */
function bufRegionStatus(w: World, b: DmaBufState): RegionStatus | undefined {
  const name = bufPriv(b)?.region;
  for (const r of w.regions.values()) if (r.id === name) return r.status;
  return undefined;
}

/** `xs[i mod length]`, or undefined when empty. */
export function pick<T>(xs: readonly T[], i: number): T | undefined {
  return xs.length === 0 ? undefined : xs[i % xs.length];
}

function taskOn(w: World, buf: number): boolean {
  for (const t of w.tasks.values()) if (t.buf === buf) return true;
  return false;
}

function jobsOf(w: World, att: number): number {
  let n = 0;
  for (const j of w.jobs.values()) if (j.att === att) n++;
  return n;
}

// ---------------------------------------------------------------------------
// Op recipes: anything, including bad input
// ---------------------------------------------------------------------------

/** An id: one the world holds (by index, modulo their number), or a raw small integer. */
export type IdPick = { readonly live: number } | { readonly raw: number };

/** Who a lock or unlock names. */
export type LockHolder = "current" | "importer" | "revoker" | "app" | "intruder";

/** Who a map, unmap, pin, unpin or submit names as resv holder. */
export type CallHolder = "own" | "current" | "none" | "wrong";

/** An address: inside a live mapping, inside a buffer's pages, or anywhere. */
export type AddrPick =
  | { readonly from: "mapping"; readonly pick: number; readonly offset: bigint }
  | { readonly from: "phys"; readonly pick: number; readonly offset: bigint }
  | { readonly from: "raw"; readonly addr: bigint };

/** What one random op will be, before its ids are resolved against a world. */
export type Recipe =
  | {
      readonly kind: "export";
      readonly exporter: string;
      readonly owner: string;
      readonly args: unknown;
    }
  | {
      readonly kind: "attach";
      readonly buf: IdPick;
      readonly importer: string;
      readonly device: string | null;
      readonly dynamic: boolean;
    }
  | { readonly kind: "detach"; readonly att: IdPick }
  | { readonly kind: "lock" | "unlock"; readonly buf: IdPick; readonly holder: LockHolder }
  | {
      readonly kind: "map" | "unmap" | "pin" | "unpin";
      readonly att: IdPick;
      readonly holder: CallHolder;
    }
  | {
      readonly kind: "dma-submit";
      readonly att: IdPick;
      readonly at: AddrPick;
      readonly len: bigint;
      readonly dir: DmaDirection;
      readonly holder: CallHolder;
    }
  | { readonly kind: "dma-access" | "signal"; readonly job: IdPick }
  | {
      readonly kind: "dma";
      readonly device: string;
      readonly at: AddrPick;
      readonly len: bigint;
      readonly dir: DmaDirection;
    }
  | { readonly kind: "revoke"; readonly buf: IdPick; readonly permanent: boolean }
  | { readonly kind: "unrevoke" | "close"; readonly buf: IdPick }
  | { readonly kind: "task"; readonly task: IdPick }
  | {
      readonly kind: "region";
      readonly region: IdPick;
      readonly status: "live" | "inaccessible";
    }
  | { readonly kind: "driver"; readonly driver: string };

const idPickArb: fc.Arbitrary<IdPick> = fc.oneof(
  { weight: 8, arbitrary: fc.nat(63).map((live) => ({ live })) },
  { weight: 1, arbitrary: fc.integer({ min: -1, max: 40 }).map((raw) => ({ raw })) },
);

const dirArb: fc.Arbitrary<DmaDirection> = fc.constantFrom("read", "write");
const lenArb: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(1n, 8n, 64n, 0x1000n),
  fc.bigInt({ min: 1n, max: 0x3000n }),
);
const offsetArb: fc.Arbitrary<bigint> = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 0n, max: 0x10000n }),
);
const addrArb: fc.Arbitrary<AddrPick> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ from: fc.constant("mapping"), pick: fc.nat(63), offset: offsetArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ from: fc.constant("phys"), pick: fc.nat(63), offset: offsetArb }),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom(0n, 0x1000_0000n, 0x1_0000_0000n),
        fc.bigInt({ min: 0n, max: 0x2_0000_0000n }),
      )
      .map((addr) => ({ from: "raw" as const, addr })),
  },
);

const exportArgsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 4096n, max: 65536n }).map((size) => ({ size })) },
  { weight: 2, arbitrary: fc.integer({ min: 4096, max: 65536 }).map((size) => ({ size })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      { size: 0n },
      { size: 513n * PAGE },
      { size: 512n * PAGE + 1n },
      { size: -1 },
      { size: "lots" },
      {},
      null,
    ),
  },
);

/** Any op, biased towards ones that make sense in the current world. */
export const recipeArb: fc.Arbitrary<Recipe> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("export"),
      exporter: fc.constantFrom(EXPORTER, EXPORTER, EXPORTER, "no-such-exporter"),
      owner: fc.constantFrom(OWNER, "exp1"),
      args: exportArgsArb,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("attach"),
      buf: idPickArb,
      importer: fc.constantFrom(IMPORTER, IMPORTER, IMPORTER, "no-such-importer"),
      device: fc.constantFrom<string | null>("dev0", "dev1", "dev2", "devX", null),
      dynamic: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("detach"), att: idPickArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom("lock", "unlock"),
      buf: idPickArb,
      holder: fc.constantFrom<LockHolder>("current", "importer", "revoker", "app", "intruder"),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom("map", "unmap", "pin", "unpin"),
      att: idPickArb,
      holder: fc.constantFrom<CallHolder>("own", "current", "none", "wrong"),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("dma-submit"),
      att: idPickArb,
      at: addrArb,
      len: lenArb,
      dir: dirArb,
      holder: fc.constantFrom<CallHolder>("own", "current", "none", "wrong"),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constantFrom("dma-access", "signal"), job: idPickArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("dma"),
      device: fc.constantFrom("dev0", "dev1", "dev2", "devX"),
      at: addrArb,
      len: lenArb,
      dir: dirArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("revoke"), buf: idPickArb, permanent: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom("unrevoke", "close"), buf: idPickArb }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("task"), task: idPickArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("region"),
      region: idPickArb,
      status: fc.constantFrom("live", "inaccessible"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("driver"),
      driver: fc.constantFrom(EXPORTER, IMPORTER, "nobody"),
    }),
  },
);

function resolveId(ids: readonly number[], p: IdPick): number {
  if ("raw" in p) return p.raw;
  return pick(ids, p.live) ?? p.live % 40;
}

function ids<T>(table: { entries(): IterableIterator<[number, T]> }): number[] {
  return [...table.entries()].map(([id]) => id);
}

function lockHolder(w: World, buf: number, h: LockHolder): string {
  switch (h) {
    case "current":
      return w.bufs.get(buf)?.resvHolder ?? "app";
    case "importer": {
      const att = w.bufs.get(buf)?.attachments[0] ?? 0;
      return importerHolder(IMPORTER, att);
    }
    case "revoker": {
      // The name a revoke task on this buffer locks with (taking it first deadlocks the task).
      for (const t of w.tasks.values()) if (t.buf === buf) return taskHolder(w, t);
      const b = w.bufs.get(buf);
      return b === undefined
        ? REVOKER
        : taskHolder(w, { kind: "revoke", buf, pc: 0, permanent: false, by: REVOKER });
    }
    case "app":
      return "app";
    case "intruder":
      return "intruder";
  }
}

function callHolder(w: World, att: number, h: CallHolder): string | null {
  const a = w.atts.get(att);
  const holder = a === undefined ? null : (w.bufs.get(a.buf)?.resvHolder ?? null);
  switch (h) {
    case "own":
      return importerHolder(IMPORTER, att);
    case "current":
      return holder;
    case "none":
      return null;
    case "wrong":
      return "intruder";
  }
}

function resolveAddr(w: World, at: AddrPick, att?: number): bigint {
  if (at.from === "raw") return at.addr;
  if (at.from === "mapping") {
    const own = att === undefined ? undefined : w.atts.get(att);
    const entries =
      own?.mapping == null ? [...w.atts.values()].flatMap((a) => dmaEntries(a)) : dmaEntries(own);
    const e = pick(entries, at.pick);
    return e === undefined ? at.offset : e.dmaAddress + (at.offset % e.length);
  }
  const phys = [...w.bufs.values()].flatMap((b) => {
    const p = bufPriv(b);
    return p === undefined ? [] : [{ phys: p.phys, size: b.size }];
  });
  const b = pick(phys, at.pick);
  return b === undefined ? at.offset : b.phys + (at.offset % b.size);
}

/**
 * Turns a recipe into a concrete op for the current world.
 *
 * @param w - the world the op will run on.
 * @param r - the recipe.
 * @returns the op.
 */
export function resolve(w: World, r: Recipe): Op {
  const buf = (p: IdPick): number =>
    resolveId(
      [...w.bufs.entries()].filter(([, b]) => !b.released).map(([id]) => id),
      p,
    );
  const att = (p: IdPick): number => resolveId(ids(w.atts), p);
  switch (r.kind) {
    case "export":
      return { kind: "export", exporter: r.exporter, owner: r.owner, args: r.args };
    case "attach":
      return {
        kind: "attach",
        buf: buf(r.buf),
        importer: r.importer,
        device: r.device,
        dynamic: r.dynamic,
      };
    case "detach":
      return { kind: "detach", att: att(r.att) };
    case "lock":
    case "unlock": {
      const b = buf(r.buf);
      return { kind: r.kind, buf: b, holder: lockHolder(w, b, r.holder) };
    }
    case "map":
    case "unmap": {
      const a = att(r.att);
      return { kind: r.kind, att: a, holder: callHolder(w, a, r.holder) };
    }
    case "pin":
    case "unpin": {
      const a = att(r.att);
      return { kind: r.kind, att: a, holder: callHolder(w, a, r.holder) ?? "nobody" };
    }
    case "dma-submit": {
      const a = att(r.att);
      return {
        kind: "dma-submit",
        att: a,
        addr: resolveAddr(w, r.at, a),
        len: r.len,
        dir: r.dir,
        holder: callHolder(w, a, r.holder) ?? "nobody",
      };
    }
    case "dma-access":
    case "signal":
      return { kind: r.kind, job: resolveId(ids(w.jobs), r.job) };
    case "dma":
      return {
        kind: "dma",
        device: r.device,
        addr: resolveAddr(w, r.at),
        len: r.len,
        dir: r.dir,
      };
    case "revoke":
      return { kind: "revoke", buf: buf(r.buf), permanent: r.permanent, by: REVOKER };
    case "unrevoke":
      return { kind: "unrevoke", buf: buf(r.buf), by: REVOKER };
    case "close":
      return { kind: "close", buf: buf(r.buf) };
    case "task":
      return { kind: "task", task: resolveId(ids(w.tasks), r.task) };
    case "region": {
      const names = [...w.regions.values()].map((x) => x.id);
      const region = "raw" in r.region ? "no-such-region" : (pick(names, r.region.live) ?? "ram0");
      return { kind: "region", region, status: r.status, by: "fuzz" };
    }
    case "driver":
      return { kind: "driver", driver: r.driver, action: { kind: "poke" } };
  }
}

/**
 * Random op sequences that start busy: one or two buffers exported, a few
 * attachments made and mapped with the `_unlocked` calls, then anything.
 *
 * @param maxLength - the most random ops after the set-up.
 * @returns the arbitrary of recipe lists.
 */
export function recipesArb(maxLength = 40): fc.Arbitrary<Recipe[]> {
  const exportRecipe: Recipe = {
    kind: "export",
    exporter: EXPORTER,
    owner: OWNER,
    args: { size: 4n * PAGE },
  };
  const attachArb: fc.Arbitrary<Recipe> = fc.record({
    kind: fc.constant("attach"),
    buf: fc.nat(1).map((live) => ({ live })),
    importer: fc.constant(IMPORTER),
    device: fc.constantFrom<string | null>("dev0", "dev1", "dev2"),
    dynamic: fc.boolean(),
  });
  return fc
    .tuple(
      fc.integer({ min: 1, max: 2 }),
      fc.array(attachArb, { maxLength: 4 }),
      fc.array(recipeArb, { maxLength, size: "max" }),
    )
    .map(([bufs, attaches, rest]) => [
      ...Array.from({ length: bufs }, () => exportRecipe),
      ...attaches,
      ...attaches.map((_a, i): Recipe => ({ kind: "map", att: { live: i }, holder: "none" })),
      ...rest,
    ]);
}

// ---------------------------------------------------------------------------
// Well-behaved actions of the reference exporter and importer
// ---------------------------------------------------------------------------

/**
 * What a correct user of the reference drivers does next. Numbers are picks
 * among the candidates the current world offers (modulo their number); an
 * action whose precondition does not hold does nothing. `defer` leaves the
 * world unsettled afterwards, so tasks and the importer's owed unmaps
 * interleave with later actions.
 */
export type Action = { readonly defer: boolean } & (
  | { readonly kind: "export"; readonly pages: number }
  | {
      readonly kind: "attach";
      readonly buf: number;
      readonly device: "dev0" | "dev1" | "dev2";
      readonly dynamic: boolean;
    }
  | { readonly kind: "map" | "unmap" | "pin" | "unpin" | "detach"; readonly att: number }
  | {
      readonly kind: "submit" | "dma";
      readonly att: number;
      readonly entry: number;
      readonly offset: bigint;
      readonly len: bigint;
      readonly dir: DmaDirection;
    }
  | { readonly kind: "access" | "signal"; readonly job: number }
  | { readonly kind: "revoke"; readonly buf: number; readonly permanent: boolean }
  | { readonly kind: "unrevoke" | "reset" | "restore" | "close"; readonly buf: number }
  | { readonly kind: "task"; readonly task: number }
  | { readonly kind: "settle" }
);

const deferArb = fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, fc.constant(true));
const n = fc.nat(63);

/** A well-behaved action. */
export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("export"),
      pages: fc.integer({ min: 1, max: 16 }),
      defer: deferArb,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("attach"),
      buf: n,
      device: fc.constantFrom("dev0", "dev1", "dev2"),
      dynamic: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
      defer: deferArb,
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constantFrom("map", "map", "map", "unmap", "pin", "unpin", "detach"),
      att: n,
      defer: deferArb,
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constantFrom("submit", "submit", "dma"),
      att: n,
      entry: n,
      offset: offsetArb,
      len: lenArb,
      dir: dirArb,
      defer: deferArb,
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constantFrom("access", "access", "signal"),
      job: n,
      defer: deferArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("revoke"),
      buf: n,
      permanent: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, fc.constant(true)),
      defer: deferArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom("unrevoke", "unrevoke", "reset", "restore", "close"),
      buf: n,
      defer: deferArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("task"), task: n, defer: deferArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("settle"), defer: fc.constant(false) }) },
);

/** A world being driven, with the trace of what ran. */
export interface Driven {
  /** The machine the world runs on. */
  readonly machine: Machine;
  /** The current world. */
  world: World;
  /** Every op and settle, as text. */
  readonly trace: string[];
}

/**
 * Steps one op, logs it, and keeps the new world when it ran.
 *
 * @param d - the driven world (updated).
 * @param op - the op.
 * @returns the outcome.
 */
export function run(d: Driven, op: Op): StepOutcome {
  const r = step(d.machine, d.world, op);
  d.trace.push(`${formatOp(op)} -> ${formatOutcome(r)}`);
  if (r.status === "done") d.world = r.world;
  return r;
}

/**
 * Settles the world (tasks, then the importers' owed work) and logs the events.
 *
 * @param d - the driven world (updated).
 */
export function settleDriven(d: Driven): void {
  const s = settle(d.machine, d.world);
  if (s.events.length > 0) d.trace.push("settle", ...formatEvents(s.events));
  d.world = s.world;
}

/** Runs `op` under the resv lock taken and dropped by `holder`, when the lock is free. */
function underLock(d: Driven, buf: number, holder: string, op: Op): void {
  if (d.world.bufs.get(buf)?.resvHolder !== null) return;
  if (run(d, { kind: "lock", buf, holder }).status !== "done") return;
  run(d, op);
  run(d, { kind: "unlock", buf, holder });
}

/** The resv holder an attachment's importer uses for its own calls. */
function holderOf(att: number, a: AttachmentState): string {
  return a.dynamic ? importerHolder(IMPORTER, att) : `static#${att}`;
}

/**
 * Performs one well-behaved action, then settles unless it is deferred.
 * The importer maps, unmaps, pins and submits only under its own resv
 * lock (a static importer maps with the `_unlocked` calls), never starts
 * DMA through an invalidated mapping (only speculative reads until it
 * unmaps), touches memory only through its own live mapping's DMA
 * addresses, and unmaps only after its own fences signalled;
 * the exporter revokes and un-revokes through core's tasks, only while it
 * holds an fd of the buffer and never closing it while a task runs, turns
 * its memory off only while the buffer is revoked and unmapped, and on
 * again before it un-revokes.
 *
 * @param d - the driven world (updated).
 * @param action - the action.
 */
export function perform(d: Driven, action: Action): void {
  act(d, action);
  if (!action.defer) settleDriven(d);
}

function act(d: Driven, action: Action): void {
  const w = d.world;
  const atts = [...w.atts.entries()];
  const bufs = [...w.bufs.entries()].filter(([, b]) => !b.released);
  // The exporter revokes only buffers whose fd it still holds, and keeps it
  // until the task is over (VFIO takes a file reference with get_file_active()
  // before revoking): core's task does not keep the buffer alive by itself.
  const held = bufs.filter(([, b]) => b.fileRefs > b.attachments.length);
  switch (action.kind) {
    case "export":
      run(d, {
        kind: "export",
        exporter: EXPORTER,
        owner: OWNER,
        args: { size: BigInt(action.pages) * PAGE },
      });
      return;
    case "attach": {
      const b = pick(bufs, action.buf);
      // attach sleeps on resv while a task holds it: a blocked attach changes nothing.
      if (b !== undefined) {
        run(d, {
          kind: "attach",
          buf: b[0],
          importer: IMPORTER,
          device: action.device,
          dynamic: action.dynamic,
        });
      }
      return;
    }
    case "map":
    case "unmap": {
      const candidates = atts.filter(([id, a]) =>
        action.kind === "map" ? a.mapping === null : a.mapping !== null && jobsOf(w, id) === 0,
      );
      const found = pick(candidates, action.att);
      if (found === undefined) return;
      const [id, a] = found;
      if (a.dynamic)
        underLock(d, a.buf, holderOf(id, a), {
          kind: action.kind,
          att: id,
          holder: holderOf(id, a),
        });
      else if (w.bufs.get(a.buf)?.resvHolder === null)
        run(d, { kind: action.kind, att: id, holder: null });
      return;
    }
    case "pin":
    case "unpin": {
      const candidates = atts.filter(
        ([, a]) => a.dynamic && (action.kind === "pin" ? a.pins < 2 : a.pins > 0),
      );
      const found = pick(candidates, action.att);
      if (found === undefined) return;
      const [id, a] = found;
      underLock(d, a.buf, holderOf(id, a), { kind: action.kind, att: id, holder: holderOf(id, a) });
      return;
    }
    case "detach": {
      const candidates = atts.filter(([, a]) => a.mapping === null && a.pins === 0);
      const found = pick(candidates, action.att);
      if (found === undefined) return;
      const [id, a] = found;
      if (w.bufs.get(a.buf)?.resvHolder === null) run(d, { kind: "detach", att: id });
      return;
    }
    case "submit":
    case "dma": {
      // After an invalidate only speculative reads (read-and-discard) until unmap; no new jobs.
      const speculative = action.kind === "dma" && action.dir === "read";
      const candidates = atts.filter(
        ([, a]) => a.mapping !== null && (!a.invalidated || speculative),
      );
      const found = pick(candidates, action.att);
      if (found === undefined) return;
      const [id, a] = found;
      const e = pick(dmaEntries(a), action.entry);
      if (e === undefined || a.device === null) return;
      const len = action.len > e.length ? e.length : action.len;
      const addr = e.dmaAddress + (action.offset % (e.length - len + 1n));
      if (action.kind === "dma") {
        run(d, { kind: "dma", device: a.device, addr, len, dir: action.dir });
      } else {
        const holder = holderOf(id, a);
        underLock(d, a.buf, holder, {
          kind: "dma-submit",
          att: id,
          addr,
          len,
          dir: action.dir,
          holder,
        });
      }
      return;
    }
    case "access":
    case "signal": {
      const job = pick(ids(w.jobs), action.job);
      if (job !== undefined)
        run(d, { kind: action.kind === "access" ? "dma-access" : "signal", job });
      return;
    }
    case "revoke": {
      const b = pick(held, action.buf);
      if (b !== undefined) {
        run(d, { kind: "revoke", buf: b[0], permanent: action.permanent, by: REVOKER });
      }
      return;
    }
    case "unrevoke": {
      const b = pick(
        held.filter(([, x]) => bufRegionStatus(w, x) === "live"),
        action.buf,
      );
      if (b !== undefined) run(d, { kind: "unrevoke", buf: b[0], by: REVOKER });
      return;
    }
    case "reset":
    case "restore": {
      const quiet = bufs.filter(
        ([id, b]) =>
          b.revoked === "temporary" &&
          !taskOn(w, id) &&
          [...w.jobs.values()].every((j) => j.buf !== id) &&
          b.attachments.every((x) => w.atts.get(x)?.mapping === null),
      );
      const found = pick(quiet, action.buf);
      const region = found === undefined ? undefined : bufPriv(found[1])?.region;
      if (region !== undefined) {
        run(d, {
          kind: "region",
          region,
          status: action.kind === "reset" ? "inaccessible" : "live",
          by: `${OWNER} ${action.kind}`,
        });
      }
      return;
    }
    case "close": {
      const open = held.filter(([id]) => !taskOn(w, id));
      const found = pick(open, action.buf);
      if (found !== undefined) run(d, { kind: "close", buf: found[0] });
      return;
    }
    case "task": {
      const task = pick(ids(w.tasks), action.task);
      if (task !== undefined && run(d, { kind: "task", task }).status === "failed") {
        throw new Error(`a task step failed:\n${d.trace.join("\n")}`);
      }
      return;
    }
    case "settle":
      settleDriven(d);
      return;
  }
}

/**
 * Well-behaved runs that start busy: one or two buffers exported and a few
 * attachments made and mapped (all through well-behaved actions, so they
 * shrink away like any other), then random actions.
 *
 * @param maxLength - the most random actions after the set-up.
 * @returns the arbitrary of action lists.
 */
export function scenarioArb(maxLength = 40): fc.Arbitrary<Action[]> {
  const attachArb = fc.record({
    buf: fc.nat(1),
    device: fc.constantFrom<"dev0" | "dev1" | "dev2">("dev0", "dev1", "dev2"),
    dynamic: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
  });
  return fc
    .tuple(
      fc.integer({ min: 1, max: 2 }),
      fc.array(attachArb, { maxLength: 4 }),
      fc.array(actionArb, { maxLength, size: "max" }),
    )
    .map(([bufs, attaches, actions]) => [
      ...Array.from({ length: bufs }, (): Action => ({ kind: "export", pages: 4, defer: false })),
      ...attaches.map((a): Action => ({ kind: "attach", ...a, defer: false })),
      ...attaches.map((): Action => ({ kind: "map", att: 0, defer: false })),
      ...actions,
    ]);
}
