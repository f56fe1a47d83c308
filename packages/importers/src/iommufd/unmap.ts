import { U64_MAX } from "@dmabuf-ref/core";
import type { iommuIoasUnmap, Machine, TraceEvent, World } from "@dmabuf-ref/core";
import { removeArea } from "./area.js";
import { ULONG_MAX } from "./constants.js";
import type { IovaInterval } from "./constants.js";
import type { HandlerResult } from "./outcome.js";
import { refuse, respond } from "./outcome.js";
import { areasIn, findIoas } from "./state.js";

/** The decoded `struct iommu_ioas_unmap`. */
export type UnmapCmd = ReturnType<typeof iommuIoasUnmap.decode>;

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * `IOMMU_IOAS_UNMAP` (`iommufd_ioas_unmap`, `iopt_unmap_iova_range`,
 * kernel-facts §3.1): unknown IOAS `ENOENT`; `iova = 0, length = U64_MAX`
 * unmaps everything and succeeds even on an empty IOAS; otherwise `iova`
 * or `length` >= `ULONG_MAX` is `EOVERFLOW`, `length` 0 `EINVAL`, a
 * wrapping range `EOVERFLOW`, and the range must cover whole areas: one that
 * covers no area, or cuts one, is `ENOENT`. Dead (revoked) areas unmap like
 * any other and count in the bytes reported back in `length`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome; the response's `length` is the bytes unmapped.
 *
 * @remarks
 * The kernel walks the areas from the lowest IOVA and unmaps each whole one
 * before it meets a cut area, so a cutting range can fail with `ENOENT`
 * after unmapping the areas below the cut. The model checks the whole range
 * first and changes nothing on `ENOENT` (DESIGN §3.7: a failed call changes
 * no state); the errno is the kernel's.
 */
export function ioasUnmap(m: Machine, w: World, cmd: UnmapCmd): HandlerResult<UnmapCmd> {
  const ioas = findIoas(m, w, cmd.ioas_id);
  if (ioas === undefined) return refuse("ENOENT", `no IOAS ${cmd.ioas_id}`);
  const all = cmd.iova === 0n && cmd.length === U64_MAX;
  if (!all) {
    if (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX) {
      return refuse("EOVERFLOW", "iova or length is ULONG_MAX or more");
    }
    if (cmd.length === 0n) return refuse("EINVAL", "length is 0");
    if (cmd.iova + cmd.length - 1n > ULONG_MAX)
      return refuse("EOVERFLOW", "iova + length - 1 wraps");
  }
  const range: IovaInterval = all
    ? { start: 0n, last: ULONG_MAX }
    : { start: cmd.iova, last: cmd.iova + cmd.length - 1n };
  const hits = areasIn(ioas, range.start, range.last - range.start + 1n);
  const cut = hits.find((a) => a.iova < range.start || a.iova + a.length - 1n > range.last);
  if (cut !== undefined) {
    return refuse(
      "ENOENT",
      `${hex(range.start)}..${hex(range.last)} cuts the area ${hex(cut.iova)}+${hex(cut.length)}`,
    );
  }
  if (hits.length === 0 && !all) {
    return refuse("ENOENT", `no area in ${hex(range.start)}..${hex(range.last)}`);
  }
  let world = w;
  const events: TraceEvent[] = [];
  let unmapped = 0n;
  for (const area of hits) {
    const removed = removeArea(m, world, cmd.ioas_id, area.iova);
    if (removed.status === "blocked") return { status: "blocked", reason: removed.reason };
    if (removed.status === "failed") throw new Error(removed.error.message);
    world = removed.world;
    events.push(...removed.events);
    unmapped += area.length;
  }
  return respond(world, events, { ...cmd, length: unmapped });
}
