/*
 * ioas.c, continued: the IOAS ioctls a VMM issues while it sets up (kept
 * apart from ioas.ts for size). Models `iommufd_ioas_allow_iovas` with
 * `iommufd_ioas_load_iovas` and `iopt_set_allow_iova`
 * (IOMMU_IOAS_ALLOW_IOVAS), `iommufd_ioas_copy` with `iopt_get_pages` and
 * `iopt_map_pages` (IOMMU_IOAS_COPY), and `iommufd_option` with
 * `iommufd_option_rlimit_mode` and `iommufd_ioas_option_huge_pages`
 * (`iopt_disable_large_pages` / `iopt_enable_large_pages`) (IOMMU_OPTION),
 * and `iommufd_ioas_change_process` (IOMMU_IOAS_CHANGE_PROCESS).
 */
import {
  hex,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  iommuIovaRange,
} from "@dmabuf-ref/core";
import type {
  iommuIoasAllowIovas,
  iommuIoasCopy,
  iommuIoasChangeProcess,
  iommuOption,
  Machine,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { ULONG_MAX } from "./constants.js";
import type { IovaInterval } from "./constants.js";
import { insertArea } from "./io_pagetable.js";
import {
  calculateIovaAlignment,
  intersects,
  placeIova,
  reservedIovas,
} from "./io_pagetable-iova.js";
import {
  areaContaining,
  areasOf,
  findIoas,
  IOMMUFD_CTX,
  mustIoas,
  objectsOf,
  putIoas,
  readIommufdSlice,
  writeIommufdSlice,
} from "./objects.js";
import type { HandlerResult } from "./outcome.js";
import { iommufdNote, refuse, refuseWith, respond } from "./outcome.js";
import { mustPages } from "./pages.js";
import type { IommufdArea } from "./types.js";
import { copyFromUser } from "./user-copy.js";
import type { IoctlCall } from "./user-copy.js";

/** The decoded `struct iommu_ioas_allow_iovas`. */
export type AllowIovasCmd = ReturnType<typeof iommuIoasAllowIovas.decode>;
/** The decoded `struct iommu_ioas_copy`. */
export type CopyCmd = ReturnType<typeof iommuIoasCopy.decode>;
/** The decoded `struct iommu_option`. */
export type OptionCmd = ReturnType<typeof iommuOption.decode>;

const MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

/**
 * `IOMMU_IOAS_ALLOW_IOVAS` (`iommufd_ioas_allow_iovas`): a non-zero
 * `__reserved` is `EOPNOTSUPP`, an unknown IOAS `ENOENT`; then the
 * `num_iovas` ranges are read from `allowed_iovas` one by one
 * (`iommufd_ioas_load_iovas`): a read that faults is `EFAULT`, a range
 * with `start >= last` or one overlapping an earlier range of the list
 * `EINVAL`; last, the new list may not meet a reserved range
 * (`iopt_set_allow_iova`: `EADDRINUSE`). The list replaces the old one
 * whole (0 ranges clears it); any failure keeps the old one.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @param call - the caller and the user memory it filled (the ranges).
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_allow_iovas iommufd_ioas_load_iovas
 *   drivers/iommu/iommufd/io_pagetable.c iopt_set_allow_iova
 */
export function allowIovas(
  m: Machine,
  w: World,
  cmd: AllowIovasCmd,
  call: IoctlCall,
): HandlerResult<AllowIovasCmd> {
  if (cmd.__reserved !== 0) return refuse("EOPNOTSUPP", "__reserved must be 0");
  const ioas = findIoas(m, w, cmd.ioas_id);
  if (ioas === undefined) return refuse("ENOENT", `no IOAS ${cmd.ioas_id}`);
  const loaded: IovaInterval[] = [];
  for (let i = 0; i < cmd.num_iovas; i++) {
    const addr = cmd.allowed_iovas + BigInt(i * iommuIovaRange.size);
    const bytes = copyFromUser(call.user, addr, iommuIovaRange.size);
    if (!bytes.ok) return refuseWith(bytes.error);
    const range = iommuIovaRange.decode(bytes.value);
    if (range.start >= range.last) {
      return refuse("EINVAL", `range ${i}: start ${hex(range.start)} >= last ${hex(range.last)}`);
    }
    const interval = { start: range.start, last: range.last };
    if (loaded.some((r) => intersects(r, interval))) {
      return refuse("EINVAL", `range ${i} overlaps an earlier range of the list`);
    }
    loaded.push(interval);
  }
  const reserved = reservedIovas(m, w, cmd.ioas_id);
  const clash = loaded.find((a) => reserved.some((r) => intersects(a, r)));
  if (clash !== undefined) {
    return refuse(
      "EADDRINUSE",
      `allowed range ${hex(clash.start)}..${hex(clash.last)} meets a reserved range`,
    );
  }
  const allowed = [...loaded].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const world = putIoas(m, w, cmd.ioas_id, { ...ioas, allowed });
  return respond(
    world,
    [iommufdNote(`IOAS ${cmd.ioas_id}: ${allowed.length} allowed range(s)`)],
    cmd,
  );
}

/** One piece of `iopt_get_pages`: an area's pages from a byte offset. */
interface PagesPiece {
  readonly pages: number;
  readonly offset: bigint;
  readonly length: bigint;
}

/**
 * `iopt_get_pages`: the pages behind `[iova, iova + length)` of an IOAS,
 * walking areas that must follow each other without a gap from the first
 * byte (`iopt_for_each_contig_area`); `length` 0 is `EINVAL`, a wrapping
 * range `EOVERFLOW`, a byte no area covers `ENOENT`.
 */
function getPages(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  length: bigint,
):
  | { ok: true; pieces: PagesPiece[] }
  | { ok: false; errno: "EINVAL" | "EOVERFLOW" | "ENOENT"; why: string } {
  if (length === 0n) return { ok: false, errno: "EINVAL", why: "length is 0" };
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return { ok: false, errno: "EOVERFLOW", why: "src_iova + length wraps" };
  const io = mustIoas(m, w, ioas);
  const pieces: PagesPiece[] = [];
  let cur = iova;
  for (;;) {
    const area: IommufdArea | undefined = areaContaining(io, cur);
    if (area === undefined) {
      return { ok: false, errno: "ENOENT", why: `IOVA ${hex(cur)} of IOAS ${ioas} is not mapped` };
    }
    const areaLast = area.iova + area.length - 1n;
    const end = areaLast < last ? areaLast : last;
    pieces.push({
      pages: area.pages,
      offset: area.offset + (cur - area.iova),
      length: end - cur + 1n,
    });
    if (end === last) return { ok: true, pieces };
    cur = end + 1n;
  }
}

/**
 * `IOMMU_IOAS_COPY` (`iommufd_ioas_copy`): maps the pages behind a range of
 * one IOAS into another without pinning again. Unknown flags are
 * `EOPNOTSUPP`; `length`, `src_iova` or `dst_iova` >= `ULONG_MAX`
 * `EOVERFLOW`; neither READABLE nor WRITEABLE `EINVAL`; an unknown source
 * IOAS `ENOENT`; then the source range ({@link getPages}: `EINVAL` length 0,
 * `EOVERFLOW`, `ENOENT` where no area continues it); an unknown destination
 * IOAS `ENOENT`; then the destination IOVA as for a map (`placeIova`, the
 * alignment guessed from the first piece's source offset); WRITEABLE over
 * pages mapped read-only is `EPERM` (`iopt_insert_area`); then one area per
 * source area crossed, filled into the destination's domains. The new
 * IOVA is written back in `dst_iova`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_copy
 */
export function ioasCopy(m: Machine, w: World, cmd: CopyCmd): HandlerResult<CopyCmd> {
  if ((cmd.flags & ~MAP_FLAGS) !== 0) return refuse("EOPNOTSUPP", "unknown flags");
  if (cmd.length >= ULONG_MAX || cmd.src_iova >= ULONG_MAX || cmd.dst_iova >= ULONG_MAX) {
    return refuse("EOVERFLOW", "length, src_iova or dst_iova is ULONG_MAX or more");
  }
  if ((cmd.flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) === 0) {
    return refuse("EINVAL", "neither IOMMU_IOAS_MAP_READABLE nor IOMMU_IOAS_MAP_WRITEABLE");
  }
  if (findIoas(m, w, cmd.src_ioas_id) === undefined) {
    return refuse("ENOENT", `no source IOAS ${cmd.src_ioas_id}`);
  }
  const got = getPages(m, w, cmd.src_ioas_id, cmd.src_iova, cmd.length);
  if (!got.ok) return refuse(got.errno, got.why);
  if (findIoas(m, w, cmd.dst_ioas_id) === undefined) {
    return refuse("ENOENT", `no destination IOAS ${cmd.dst_ioas_id}`);
  }
  const first = got.pieces[0];
  if (first === undefined) throw new Error("iommufd: iopt_get_pages returned nothing");
  const firstPages = mustPages(m, w, first.pages);
  const addr = (firstPages.kind === "user" ? firstPages.userVa : firstPages.start) + first.offset;
  const fixed = (cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
  const iova = placeIova(
    m,
    w,
    cmd.dst_ioas_id,
    fixed,
    cmd.dst_iova,
    addr,
    addr % 0x1000n,
    cmd.length,
  );
  if (!iova.ok) return refuseWith(iova.error);
  const write = (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0;
  for (const piece of got.pieces) {
    const pages = mustPages(m, w, piece.pages);
    if (write && pages.kind !== "dmabuf" && !pages.writable) {
      return refuse("EPERM", "WRITEABLE copy of pages mapped read-only");
    }
  }
  let world = w;
  const events: TraceEvent[] = [];
  let at = iova.value;
  for (const piece of got.pieces) {
    const inserted = insertArea(m, world, cmd.dst_ioas_id, {
      iova: at,
      length: piece.length,
      pages: piece.pages,
      offset: piece.offset,
      read: (cmd.flags & IOMMU_IOAS_MAP_READABLE) !== 0,
      write: (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0,
      grants: [],
    });
    if (inserted.status === "blocked") return { status: "blocked", reason: inserted.reason };
    if (inserted.status === "failed") return refuseWith(inserted.error);
    world = inserted.world;
    events.push(...inserted.events);
    at += piece.length;
  }
  events.push(
    iommufdNote(
      `IOAS ${cmd.dst_ioas_id}: copy of IOAS ${cmd.src_ioas_id} ${hex(cmd.src_iova)}+${hex(cmd.length)} at IOVA ${hex(iova.value)}`,
    ),
  );
  return respond(world, events, { ...cmd, dst_iova: iova.value });
}

/**
 * `IOMMU_OPTION` (`iommufd_option`): a non-zero `__reserved` is
 * `EOPNOTSUPP`. `IOMMU_OPTION_RLIMIT_MODE` (global: a non-zero `object_id`
 * is `EOPNOTSUPP`): GET returns the account mode; SET (the caller is taken
 * to have CAP_SYS_RESOURCE) is `EBUSY` once the context holds any object,
 * `EINVAL` for a value other than 0 or 1. `IOMMU_OPTION_HUGE_PAGES` (per
 * IOAS: an unknown `object_id` is `ENOENT`): GET returns 1 unless large
 * pages are disabled; SET 0 disables them (`EINVAL` when the IOAS already
 * has both a domain and an area; the alignment becomes at least PAGE_SIZE,
 * `EADDRINUSE` if an area does not conform), SET 1 enables them again
 * (the alignment is recomputed), any other value `EINVAL`. Another `op` or
 * `option_id` is `EOPNOTSUPP`. Only `val64` is copied back, on success.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/main.c iommufd_option drivers/iommu/iommufd/ioas.c
 *   iommufd_option_rlimit_mode iommufd_ioas_option
 */
export function iommuOptionIoctl(m: Machine, w: World, cmd: OptionCmd): HandlerResult<OptionCmd> {
  if (cmd.__reserved !== 0) return refuse("EOPNOTSUPP", "__reserved must be 0");
  if (cmd.option_id === IOMMU_OPTION_RLIMIT_MODE) {
    if (cmd.object_id !== 0)
      return refuse("EOPNOTSUPP", "RLIMIT_MODE is global: object_id must be 0");
    const ctx = readIommufdSlice(m, w, IOMMUFD_CTX);
    if (cmd.op === IOMMU_OPTION_OP_GET)
      return respond(w, [], { ...cmd, val64: BigInt(ctx.accountMode) });
    if (cmd.op !== IOMMU_OPTION_OP_SET) return refuse("EOPNOTSUPP", `unknown op ${cmd.op}`);
    if (objectsOf(m, w).size > 0) return refuse("EBUSY", "the iommufd already holds objects");
    if (cmd.val64 !== 0n && cmd.val64 !== 1n)
      return refuse("EINVAL", `RLIMIT_MODE ${cmd.val64} is not 0 or 1`);
    const world = writeIommufdSlice(m, w, IOMMUFD_CTX, { ...ctx, accountMode: Number(cmd.val64) });
    return respond(world, [], cmd);
  }
  if (cmd.option_id !== IOMMU_OPTION_HUGE_PAGES) {
    return refuse("EOPNOTSUPP", `unknown option ${cmd.option_id}`);
  }
  const ioas = findIoas(m, w, cmd.object_id);
  if (ioas === undefined) return refuse("ENOENT", `no IOAS ${cmd.object_id}`);
  if (cmd.op === IOMMU_OPTION_OP_GET) {
    return respond(w, [], { ...cmd, val64: ioas.disableLargePages ? 0n : 1n });
  }
  if (cmd.op !== IOMMU_OPTION_OP_SET) return refuse("EOPNOTSUPP", `unknown op ${cmd.op}`);
  if (cmd.val64 !== 0n && cmd.val64 !== 1n)
    return refuse("EINVAL", `HUGE_PAGES ${cmd.val64} is not 0 or 1`);
  const disable = cmd.val64 === 0n;
  if (disable) {
    if (ioas.disableLargePages) return respond(w, [], cmd);
    if (ioas.domains.length > 0 && ioas.areas.size > 0) {
      return refuse("EINVAL", `IOAS ${cmd.object_id} already maps areas into a domain`);
    }
  }
  const alignment = calculateIovaAlignment(m, w, cmd.object_id, disable);
  if (!alignment.ok) return refuseWith(alignment.error);
  const world = putIoas(m, w, cmd.object_id, {
    ...ioas,
    disableLargePages: disable,
    iovaAlignment: alignment.value,
  });
  return respond(world, [], cmd);
}

/** The decoded `struct iommu_ioas_change_process`. */
export type ChangeProcessCmd = ReturnType<typeof iommuIoasChangeProcess.decode>;

/**
 * `IOMMU_IOAS_CHANGE_PROCESS` (`iommufd_ioas_change_process`, v6.14): a
 * live update hands the iommufd to a new process, which takes over the
 * charge for every pinned page. `__reserved` non-zero is `EOPNOTSUPP`;
 * then, with every IOAS locked, any area whose pages are not a file's
 * (`IOMMU_IOAS_MAP` of user memory, a dma-buf's MAP_FILE) is `EINVAL`, with
 * nothing changed. Otherwise the pages are charged to the caller and
 * uncharged from their old owner: the model keeps no per-process charge,
 * so it returns 0 and changes nothing. Nothing is copied back.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_change_process
 */
export function ioasChangeProcess(
  m: Machine,
  w: World,
  cmd: ChangeProcessCmd,
): HandlerResult<ChangeProcessCmd> {
  if (cmd.__reserved !== 0) return refuse("EOPNOTSUPP", "__reserved must be 0");
  for (const [id, o] of objectsOf(m, w).entries()) {
    if (o.kind !== "ioas") continue;
    for (const area of areasOf(o)) {
      const pages = mustPages(m, w, area.pages);
      if (pages.kind !== "file") {
        return refuse(
          "EINVAL",
          `area 0x${area.iova.toString(16)} of IOAS ${id} maps ${pages.kind === "user" ? "user memory" : "a dma-buf"}, not a file`,
        );
      }
    }
  }
  return respond(w, [], cmd);
}
