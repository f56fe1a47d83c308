import {
  blocked,
  detachAtt,
  done,
  failed,
  importerHolder,
  kernelError,
  mustAtt,
  mustRun,
  resvLock,
  resvUnlock,
  unmapAtt,
  unpinAtt,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import type { RdmaImporterName } from "./constants.js";
import { putUmem, umemOf } from "./state.js";

/**
 * `ib_umem_dmabuf_release()` (kernel-model §5.2): under resv, unmap the
 * pages if mapped and, for a pinned umem not yet revoked, `dma_buf_unpin()`;
 * then detach and drop the umem. An attachment that is no umem of
 * `importer` is `EINVAL`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param importer - the umem's interface.
 * @param att - the umem's attachment.
 * @returns done, failed (world unchanged) or blocked on resv.
 * @kernel drivers/infiniband/core/umem_dmabuf.c ib_umem_dmabuf_release
 *   drivers/infiniband/core/umem.c ib_umem_release
 */
export function ibUmemRelease(
  m: Machine,
  w: World,
  importer: RdmaImporterName,
  att: number,
): StepOutcome {
  const umem = umemOf(m, w, importer, att);
  if (umem === undefined)
    return failed(
      w,
      kernelError("EINVAL", () => `attach ${att} is no ${importer} umem`),
    );
  const holder = importerHolder(importer, att);
  const locked = resvLock(w, umem.buf, holder);
  if (locked.status !== "done")
    return locked.status === "blocked" ? blocked(w, "resv", locked.reason) : locked;
  let world = locked.world;
  const events: TraceEvent[] = [...locked.events];
  if (mustAtt(world, att).mapping !== null) {
    world = mustRun(
      unmapAtt(m, world, att, holder),
      "rdma: ib_umem_dmabuf_unmap_pages",
      events,
    ).world;
  }
  // Every pin the attachment still holds goes before the detach: the pinned
  // umem's own (unless a revoke already dropped it) and any other taken in
  // the importer's name.
  for (let pins = mustAtt(world, att).pins; pins > 0; pins--) {
    world = mustRun(unpinAtt(m, world, att, holder), "rdma: dma_buf_unpin", events).world;
  }
  world = mustRun(resvUnlock(world, umem.buf, holder), "rdma: dma_resv_unlock", events).world;
  const detached = mustRun(detachAtt(m, world, att), "rdma: dma_buf_detach");
  return done(putUmem(m, detached.world, importer, att, null), [...events, ...detached.events]);
}
