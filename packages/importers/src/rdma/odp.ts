import {
  blocked,
  done,
  failed,
  importerHolder,
  kernelError,
  mapAtt,
  mustAtt,
  mustBuf,
  mustRun,
  resvLock,
  resvUnlock,
  unmapAtt,
} from "@dmabuf-ref/core";
import type { DriverStep, Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { umemOf } from "./state.js";

const ODP = "rdma-odp";

/**
 * The arguments of the `odp-fault` op (`pagefault_dmabuf_mr`, kernel-model §5.2).
 *
 * @category Drivers
 */
export interface RdmaOdpFaultArgs {
  /** The ODP umem's attachment. */
  readonly att: number;
}

/**
 * An ODP page fault on a dma-buf MR (mlx5 `pagefault_dmabuf_mr`,
 * kernel-model §5.2): under resv, `ib_umem_dmabuf_map_pages()` maps the
 * attachment again, and the MR's translation is rebuilt. Nothing re-maps on
 * its own after an invalidate: this fault is what re-maps. An already
 * mapped MR needs nothing. A failed map (a revoked buffer's `ENODEV`;
 * under linux-6.19 VFIO's pin-on-map `EOPNOTSUPP`) returns its errno with
 * the world unchanged. Not an ODP umem: `EINVAL`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param args - the attachment.
 * @returns done, failed (world unchanged) or blocked on resv.
 * @kernel drivers/infiniband/hw/mlx5/odp.c pagefault_dmabuf_mr
 *   drivers/infiniband/core/umem_dmabuf.c ib_umem_dmabuf_map_pages
 */
export function rdmaOdpFault(m: Machine, w: World, args: RdmaOdpFaultArgs): StepOutcome {
  const umem = umemOf(m, w, ODP, args.att);
  if (umem === undefined) {
    return failed(
      w,
      kernelError("EINVAL", () => `attach ${args.att} is no rdma-odp umem`),
    );
  }
  if (mustAtt(w, args.att).mapping !== null) {
    return done(w, [{ kind: "note", actor: ODP, text: `fault on attach ${args.att}: mapped` }]);
  }
  const holder = importerHolder(ODP, args.att);
  const locked = resvLock(w, umem.buf, holder);
  if (locked.status === "blocked") return blocked(w, "resv", locked.reason);
  if (locked.status === "failed") return failed(w, locked.error);
  const mapped = mapAtt(m, locked.world, args.att, holder);
  if (mapped.status === "failed") return failed(w, mapped.error);
  if (mapped.status === "blocked") throw new Error("rdma-odp: map blocked under its own resv");
  const unlocked = mustRun(resvUnlock(mapped.world, umem.buf, holder), "rdma-odp: dma_resv_unlock");
  return done(unlocked.world, [
    ...locked.events,
    ...mapped.events,
    { kind: "note", actor: ODP, text: `fault on attach ${args.att}: MR re-mapped` },
    ...unlocked.events,
  ]);
}

/**
 * The ODP MR's `invalidate_mappings` (mlx5 `mlx5_ib_dmabuf_invalidate_cb`,
 * kernel-model §5.2), resv held by the exporter: zaps the MR's translation
 * so the NIC stops accessing the memory, and `ib_umem_dmabuf_unmap_pages()`
 * before returning. The next ODP fault maps again (the `odp-fault` op).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the invalidated attachment.
 * @returns the world and events.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { rdmaOdpImporter, rdmaOdpInvalidate } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [rdmaOdpImporter()] });
 * const odp = (action: object) => ({ kind: "driver", driver: "rdma-odp", action }) as const;
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "gpu", args: { size: 0x4000n } },
 *   odp({ op: "ib_umem_dmabuf_get", device: "dev0", fd: 1, offset: 0n, size: 0x4000n }),
 *   odp({ op: "odp-fault", att: 1 }),
 *   { kind: "lock", buf: 1, holder: "ref-exporter" }, // the exporter moves the buffer under resv
 * ]);
 * // The MR's translation is zapped and its pages unmapped before the callback returns.
 * const r = rdmaOdpInvalidate(m, world, 1);
 * assert.equal(r.world.atts.get(1)?.mapping, null);
 * assert.ok(r.events.some((e) => e.kind === "note" && e.text.includes("HW access stopped")));
 * ```
 * @kernel drivers/infiniband/hw/mlx5/mr.c mlx5_ib_dmabuf_invalidate_cb
 *   drivers/infiniband/core/umem_dmabuf.c ib_umem_dmabuf_unmap_pages
 * @category Drivers
 */
export function rdmaOdpInvalidate(m: Machine, w: World, att: number): DriverStep {
  const umem = umemOf(m, w, ODP, att);
  if (umem === undefined || mustAtt(w, att).mapping === null) return { world: w, events: [] };
  const events: TraceEvent[] = [
    { kind: "note", actor: ODP, text: `attach ${att}: MR translation zapped, HW access stopped` },
  ];
  const r = mustRun(
    unmapAtt(m, w, att, mustBuf(w, umem.buf).resvHolder),
    "rdma-odp: ib_umem_dmabuf_unmap_pages",
  );
  return { world: r.world, events: [...events, ...r.events] };
}
