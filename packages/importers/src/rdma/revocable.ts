import { importerHolder, mustAtt, mustBuf, mustRun, unmapAtt, unpinAtt } from "@dmabuf-ref/core";
import type { DriverStep, Machine, TraceEvent, World } from "@dmabuf-ref/core";
import { putUmem, umemOf } from "./state.js";

const NAME = "rdma-pinned-revocable";

/**
 * The invalidate callback of Jacob Moroni's pinned revocable import
 * (kernel-model §5.2), resv held by the exporter: the driver stops HW
 * access before returning (re-registers the MR with length 0, or moves it
 * to a quarantine PD), then `ib_umem_dmabuf_revoke_locked()` unmaps,
 * unpins and sets `revoked`. The revoke is for good: a later invalidate
 * (e.g. the one an un-revoke sends) finds it revoked and does nothing, and
 * the MR never re-maps.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the invalidated attachment.
 * @returns the world and events.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, proposalConverters, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import {
 *   rdmaPinnedRevocableImporter, rdmaPinnedRevoke, rdmaStateOf,
 * } from "@dmabuf-ref/importers";
 *
 * const importers = [rdmaPinnedRevocableImporter()];
 * const m = referenceMachine({ profile: proposalConverters, importers });
 * const get = { op: "ib_umem_dmabuf_get", device: "dev0", fd: 1, offset: 0n, size: 0x4000n };
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "gpu", args: { size: 0x4000n } },
 *   { kind: "driver", driver: "rdma-pinned-revocable", action: get },
 *   { kind: "lock", buf: 1, holder: "ref-exporter" }, // the exporter revokes under resv
 * ]);
 * const r = rdmaPinnedRevoke(m, world, 1);
 * // Unmapped, unpinned and revoked for good: the MR never maps again.
 * assert.deepEqual([r.world.atts.get(1)?.mapping, r.world.atts.get(1)?.pins], [null, 0]);
 * assert.equal(rdmaStateOf(m, r.world, "rdma-pinned-revocable").umems[0]?.revoked, true);
 * ```
 * @kernel drivers/infiniband/core/umem_dmabuf.c ib_umem_dmabuf_revoke_locked
 * @category Drivers
 */
export function rdmaPinnedRevoke(m: Machine, w: World, att: number): DriverStep {
  const umem = umemOf(m, w, NAME, att);
  if (umem === undefined || umem.revoked) return { world: w, events: [] };
  const holder = mustBuf(w, umem.buf).resvHolder ?? importerHolder(NAME, att);
  let world = w;
  const events: TraceEvent[] = [
    { kind: "note", actor: NAME, text: `attach ${att}: MR re-registered with length 0` },
  ];
  if (mustAtt(world, att).mapping !== null) {
    world = mustRun(unmapAtt(m, world, att, holder), `${NAME}: unmap in revoke`, events).world;
  }
  if (mustAtt(world, att).pins > 0) {
    world = mustRun(unpinAtt(m, world, att, holder), `${NAME}: unpin in revoke`, events).world;
  }
  events.push({ kind: "note", actor: NAME, text: `attach ${att}: umem revoked for good` });
  return { world: putUmem(m, world, NAME, att, { ...umem, revoked: true }), events };
}
