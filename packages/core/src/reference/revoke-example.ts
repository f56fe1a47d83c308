import { boot } from "../machine/machine.js";
import { runScript } from "../lifetime/scheduler.js";
import type { ScriptRun } from "../lifetime/scheduler.js";
import type { TraceEvent } from "../trace/event.js";
import { referenceMachine } from "./machine.js";
import { importerHolder } from "./importer.js";

/**
 * The worked revoke example: its trace (with a leading note) and the final run.
 *
 * @category Drivers
 */
export interface RevokeExample {
  /** The events, starting with a note that sets the scene. */
  readonly events: readonly TraceEvent[];
  /** The script's run (final world, results). */
  readonly run: ScriptRun;
}

/**
 * The canonical revoke with DMA in flight, on the reference drivers
 * (kernel-model §1.3): `dev0` has a write in flight when the exporter
 * revokes for an FLR; the job keeps full access until its fence signals,
 * the exporter then waits for the importer's unmap, and a late access
 * faults in the IOMMU. No violation. `pnpm start` prints it; RFC documents
 * embed its rendering (`rfc/examples/revoke-in-flight-dma.*`).
 *
 * @returns the trace and the run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { revokeWithDmaInFlight } from "@dmabuf-ref/core";
 *
 * const { events, run } = revokeWithDmaInFlight();
 * assert.equal(events[0]?.kind, "note");
 * assert.ok(run.results.every((r) => r.status === "done"));
 * // the revoke waited for the fence, then for the unmap: nothing broke a rule
 * assert.equal(run.world.violations.size, 0);
 * assert.equal(run.world.bufs.get(1)?.revoked, "temporary");
 * ```
 *
 * @category Drivers
 */
export function revokeWithDmaInFlight(): RevokeExample {
  const m = referenceMachine();
  const start = runScript(m, boot(m), [
    { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
    (c) => ({
      kind: "attach",
      buf: c[0] ?? -1,
      importer: "ref-importer",
      device: "dev0",
      dynamic: true,
    }),
  ]);
  const [buf, att] = start.results.map((r) => r.created ?? -1);
  if (buf === undefined || att === undefined) throw new Error("example set-up failed");
  const holder = importerHolder("ref-importer", att);
  const dma = 0x1000_0000n; // the first IOVA of dev0's DMA-API domain
  const run = runScript(
    m,
    start.world,
    [
      { kind: "lock", buf, holder },
      { kind: "map", att, holder },
      { kind: "dma-submit", att, addr: dma, len: 0x1000n, dir: "write", holder },
      { kind: "unlock", buf, holder },
      { kind: "revoke", buf, permanent: false, by: "FLR" },
      (c) => ({ kind: "dma-access", job: c[2] ?? -1 }),
      (c) => ({ kind: "signal", job: c[2] ?? -1 }),
      { kind: "dma", device: "dev0", addr: dma, len: 0x1000n, dir: "read" },
    ],
    "ref-importer",
  );
  if (run.results.some((r) => r.status !== "done"))
    throw new Error("the revoke example did not run");
  return {
    events: [
      { kind: "note", actor: "exp0", text: "ref-importer maps buf for dev0; dev0 starts a write" },
      ...run.events,
    ],
    run,
  };
}
