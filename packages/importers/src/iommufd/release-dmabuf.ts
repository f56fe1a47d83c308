import {
  blocked,
  detachAtt,
  done,
  importerHolder,
  mustAtt,
  mustBuf,
  mustRun,
  resvLock,
  resvUnlock,
  unmapAtt,
  unpinAtt,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { IOMMUFD } from "./constants.js";

/**
 * `iopt_release_pages` for dma-buf pages (kernel-facts §3.3): under resv,
 * undo the mapping if it is still held (the RFC's PAL map, or core's
 * converted map of one (area, domain) pair), `dma_buf_unpin()` each pin; then
 * `dma_buf_detach()` (which drops the attachment's file reference). Sleeps
 * (blocked, nothing changes) while someone else holds the buffer's resv.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - iommufd's attachment.
 * @returns the outcome: done, or blocked on resv.
 */
export function releaseDmabuf(m: Machine, w: World, att: number): StepOutcome {
  const a = mustAtt(w, att);
  const b = mustBuf(w, a.buf);
  if (b.resvHolder !== null) {
    return blocked(w, "resv", () => `resv of buf ${a.buf} is held by ${String(b.resvHolder)}`);
  }
  const holder = importerHolder(IOMMUFD, att);
  const events: TraceEvent[] = [];
  let world = mustRun(resvLock(w, a.buf, holder), "iommufd: dma_resv_lock", events).world;
  if (a.mapping !== null)
    world = mustRun(
      unmapAtt(m, world, att, holder),
      "iommufd: dma_buf_unmap_attachment",
      events,
    ).world;
  for (let i = 0; i < a.pins; i++)
    world = mustRun(unpinAtt(m, world, att, holder), "iommufd: dma_buf_unpin", events).world;
  world = mustRun(resvUnlock(world, a.buf, holder), "iommufd: dma_resv_unlock", events).world;
  world = mustRun(detachAtt(m, world, att), "iommufd: dma_buf_detach", events).world;
  return done(world, events);
}
