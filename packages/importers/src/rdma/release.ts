import {
  blocked,
  detachAtt,
  done,
  failed,
  importerHolder,
  kernelError,
  mustAtt,
  resvLock,
  resvUnlock,
  unmapAtt,
  unpinAtt,
} from "@dmabuf-ref/core";
import type { StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import type { RdmaImporterName } from "./constants.js";
import { putUmem, umemOf } from "./state.js";
import { mustRun } from "./must-run.js";

/**
 * `ib_umem_dmabuf_release()` (kernel-facts §5.2): under resv, unmap the
 * pages if mapped and, for a pinned umem not yet revoked, `dma_buf_unpin()`;
 * then detach and drop the umem. An attachment that is no umem of
 * `importer` is `EINVAL`.
 *
 * @param w - the world.
 * @param importer - the umem's interface.
 * @param att - the umem's attachment.
 * @returns done, failed (world unchanged) or blocked on resv.
 */
export function ibUmemRelease(w: World, importer: RdmaImporterName, att: number): StepOutcome {
  const umem = umemOf(w, importer, att);
  if (umem === undefined)
    return failed(w, kernelError("EINVAL", `attach ${att} is no ${importer} umem`));
  const holder = importerHolder(importer, att);
  const locked = resvLock(w, umem.buf, holder);
  if (locked.status !== "done")
    return locked.status === "blocked" ? blocked(w, "resv", locked.reason) : locked;
  let world = locked.world;
  const events: TraceEvent[] = [...locked.events];
  if (mustAtt(world, att).mapping !== null) {
    const r = mustRun(unmapAtt(world, att, holder), "ib_umem_dmabuf_unmap_pages");
    world = r.world;
    events.push(...r.events);
  }
  if (umem.pinned && !umem.revoked && mustAtt(world, att).pins > 0) {
    const r = mustRun(unpinAtt(world, att, holder), "dma_buf_unpin");
    world = r.world;
    events.push(...r.events);
  }
  const unlocked = mustRun(resvUnlock(world, umem.buf, holder), "dma_resv_unlock");
  world = unlocked.world;
  events.push(...unlocked.events);
  const detached = mustRun(detachAtt(world, att), "dma_buf_detach");
  return done(putUmem(detached.world, importer, att, null), [...events, ...detached.events]);
}
