import {
  blocked,
  detachAtt,
  done,
  importerHolder,
  mustAtt,
  mustBuf,
  resvLock,
  resvUnlock,
  unmapAtt,
  unpinAtt,
} from "@dmabuf-ref/core";
import type { StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { IOMMUFD } from "./constants.js";

function run(r: StepOutcome, what: string, events: TraceEvent[]): World {
  if (r.status !== "done") {
    throw new Error(
      `iommufd: ${what} did not run: ${r.status === "failed" ? r.error.message : r.reason}`,
    );
  }
  events.push(...r.events);
  return r.world;
}

/**
 * `iopt_release_pages` for dma-buf pages (kernel-facts §3.3): under resv,
 * undo the RFC's PAL map if it is still held, `dma_buf_unpin()`; then
 * `dma_buf_detach()` (which drops the attachment's file reference). Sleeps
 * (blocked, nothing changes) while someone else holds the buffer's resv.
 *
 * @param w - the world.
 * @param att - iommufd's attachment.
 * @returns the outcome: done, or blocked on resv.
 */
export function releaseDmabuf(w: World, att: number): StepOutcome {
  const a = mustAtt(w, att);
  const b = mustBuf(w, a.buf);
  if (b.resvHolder !== null) {
    return blocked(w, "resv", `resv of buf ${a.buf} is held by ${b.resvHolder}`);
  }
  const holder = importerHolder(IOMMUFD, att);
  const events: TraceEvent[] = [];
  let world = run(resvLock(w, a.buf, holder), "dma_resv_lock", events);
  if (a.mapping !== null)
    world = run(unmapAtt(world, att, holder), "dma_buf_pal_unmap_phys", events);
  for (let i = 0; i < a.pins; i++)
    world = run(unpinAtt(world, att, holder), "dma_buf_unpin", events);
  world = run(resvUnlock(world, a.buf, holder), "dma_resv_unlock", events);
  world = run(detachAtt(world, att), "dma_buf_detach", events);
  return done(world, events);
}
