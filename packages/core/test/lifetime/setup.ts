/**
 * Shared set-up for the lifetime tests: a reference world with one buffer,
 * one dynamic attachment mapped for a device, and helpers that step and
 * settle like the scheduler does.
 */
import { expect } from "vitest";
import { importerHolder, payloadAs, runScript, settle, sgt, step } from "@dmabuf-ref/core";
import type { Machine, Op, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";

/** The state a test starts from and the ids it needs. */
export interface Mapped {
  readonly world: World;
  readonly buf: number;
  readonly att: number;
  /** The resv holder name the reference importer uses for `att`. */
  readonly holder: string;
  /** The DMA address the device must issue (first sgt entry). */
  readonly dma: bigint;
}

/** Steps an op that must succeed and returns the new world and events. */
export function ok(
  m: Machine,
  w: World,
  op: Op,
): { world: World; events: readonly TraceEvent[]; created?: number } {
  const r: StepOutcome = step(m, w, op);
  if (r.status !== "done") {
    throw new Error(
      `${op.kind} did not run: ${r.status === "failed" ? `${r.error.errno} ${r.error.message}` : r.reason}`,
    );
  }
  return r;
}

/** The id a successful op created. */
export function createdId(r: { created?: number }): number {
  if (r.created === undefined) throw new Error("the op created nothing");
  return r.created;
}

/**
 * Exports a 16 KiB reference buffer, attaches `importer` dynamically for
 * `device` and maps it under resv.
 */
export function mappedWorld(
  m: Machine,
  w0: World,
  device = "dev0",
  importer = "ref-importer",
): Mapped {
  const exp = ok(m, w0, {
    kind: "export",
    exporter: "ref-exporter",
    owner: "exp0",
    args: { size: 0x4000 },
  });
  const buf = createdId(exp);
  const att = ok(m, exp.world, { kind: "attach", buf, importer, device, dynamic: true });
  const attId = createdId(att);
  const holder = importerHolder(importer, attId);
  const run = runScript(m, att.world, [
    { kind: "lock", buf, holder },
    { kind: "map", att: attId, holder },
    { kind: "unlock", buf, holder },
  ]);
  expect(run.results.map((r) => r.status)).toEqual(["done", "done", "done"]);
  const mapping = run.world.atts.get(attId)?.mapping;
  const first = payloadAs(sgt, mapping?.payload).entries[0];
  if (first === undefined) throw new Error("no mapping after map");
  return { world: run.world, buf, att: attId, holder, dma: first.dmaAddress };
}

/** Steps an op, then settles, returning the world and all events. */
export function stepSettled(m: Machine, w: World, op: Op): { world: World; events: TraceEvent[] } {
  const r = ok(m, w, op);
  const s = settle(m, r.world);
  return { world: s.world, events: [...r.events, ...s.events] };
}

/** The kinds of a trace, for order assertions. */
export function kinds(events: readonly TraceEvent[]): string[] {
  return events.map((e) => e.kind);
}
