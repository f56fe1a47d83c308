/*
 * ioas.c: the IOAS ioctls, which check the user's struct and call into
 * io_pagetable. Models `iommufd_ioas_alloc_ioctl` (IOMMU_IOAS_ALLOC),
 * `iommufd_ioas_map` (IOMMU_IOAS_MAP, `iopt_map_user_pages`),
 * `iommufd_ioas_map_file` (IOMMU_IOAS_MAP_FILE of a dma-buf fd,
 * `iopt_map_file_pages`), `iommufd_ioas_unmap` (IOMMU_IOAS_UNMAP,
 * `iopt_unmap_iova` / `iopt_unmap_all`) and `iommufd_ioas_iova_ranges`
 * (IOMMU_IOAS_IOVA_RANGES).
 */
import {
  dmaBufGet,
  err,
  hex,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  iommuIovaRange,
  isKernelError,
  kernelError,
  memfdPages,
  ok,
  U64_MAX,
} from "@dmabuf-ref/core";
import type {
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  Machine,
  Result,
  TraceEvent,
  UserWrite,
  World,
} from "@dmabuf-ref/core";
import { IOMMUFD, IOMMUFD_MAX_NPFNS, PAGE_SIZE, ULONG_MAX } from "./constants.js";
import type { IovaInterval } from "./constants.js";
import { insertArea, removeArea } from "./io_pagetable.js";
import { holesOf, placeIova, reservedIovas } from "./io_pagetable-iova.js";
import { areasIn, emptyIoas, findIoas, nextObjectId, putObject } from "./objects.js";
import type { HandlerResult } from "./outcome.js";
import { refuse, refuseWith, respond } from "./outcome.js";
import { nextPagesId, putPages } from "./pages.js";
import type { IommufdPages } from "./types.js";
import { importDmabuf } from "./pages-dmabuf.js";
import { copyToUser } from "./user-copy.js";
import type { IoctlCall } from "./user-copy.js";
import { DEFAULT_CALL } from "./user-copy.js";

/** The decoded `struct iommu_ioas_alloc`. */
export type IoasAllocCmd = ReturnType<typeof iommuIoasAlloc.decode>;

/** The decoded `struct iommu_ioas_map`. */
export type MapCmd = ReturnType<typeof iommuIoasMap.decode>;

/** The decoded `struct iommu_ioas_map_file`. */
export type MapFileCmd = ReturnType<typeof iommuIoasMapFile.decode>;

/** The decoded `struct iommu_ioas_unmap`. */
export type UnmapCmd = ReturnType<typeof iommuIoasUnmap.decode>;

/** The decoded `struct iommu_ioas_iova_ranges`. */
export type IovaRangesCmd = ReturnType<typeof iommuIoasIovaRanges.decode>;

const KNOWN_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
/**
 * `IOMMU_IOAS_ALLOC` (`iommufd_ioas_alloc_ioctl`): `flags` must be 0
 * (`EOPNOTSUPP`); the new IOAS gets the lowest free object id, returned in
 * `out_ioas_id`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_alloc_ioctl
 */
export function ioasAlloc(m: Machine, w: World, cmd: IoasAllocCmd): HandlerResult<IoasAllocCmd> {
  if (cmd.flags !== 0) return refuse("EOPNOTSUPP", `flags 0x${cmd.flags.toString(16)} must be 0`);
  const id = nextObjectId(m, w);
  const world = putObject(m, w, id, emptyIoas());
  const events: TraceEvent[] = [{ kind: "note", actor: IOMMUFD, text: `IOAS ${id} allocated` }];
  return respond(world, events, { ...cmd, out_ioas_id: id });
}

/**
 * `IOMMU_IOAS_MAP` (`iommufd_ioas_map`, `iopt_map_user_pages`): maps VMM
 * memory at `user_va`. Unknown flags or a non-zero `__reserved` are
 * `EOPNOTSUPP`; `iova`/`length` >= `ULONG_MAX` `EOVERFLOW`; neither
 * READABLE nor WRITEABLE `EINVAL`; unknown IOAS `ENOENT`; `length` 0
 * or more than `ULONG_MAX - PAGE_SIZE` `EINVAL`; `user_va + length`
 * wrapping `EOVERFLOW`; then the IOVA rules of {@link placeIova}; then the
 * area is mapped into every domain of the IOAS, which pins the process's
 * pages first (`pin_user_pages`: page 0, unbacked memory or a device or
 * dma-buf mmap (VM_PFNMAP) is `EFAULT`). With no domain nothing is pinned:
 * the map succeeds, and the first domain attached pins (and may fail).
 * The area is granted to the attached devices.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome; the response carries the IOVA.
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_map drivers/iommu/iommufd/io_pagetable.c
 *   iopt_map_user_pages
 */
export function ioasMap(
  m: Machine,
  w: World,
  cmd: MapCmd,
  call: IoctlCall = DEFAULT_CALL,
): HandlerResult<MapCmd> {
  if ((cmd.flags & ~KNOWN_FLAGS) !== 0 || cmd.__reserved !== 0) {
    return refuse("EOPNOTSUPP", "unknown flags or non-zero __reserved");
  }
  if (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX) {
    return refuse("EOVERFLOW", "iova or length is ULONG_MAX or more");
  }
  if ((cmd.flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) === 0) {
    return refuse("EINVAL", "neither IOMMU_IOAS_MAP_READABLE nor IOMMU_IOAS_MAP_WRITEABLE");
  }
  if (findIoas(m, w, cmd.ioas_id) === undefined) return refuse("ENOENT", `no IOAS ${cmd.ioas_id}`);
  // iopt_alloc_user_pages
  if (cmd.length === 0n || cmd.length > ULONG_MAX - PAGE_SIZE) {
    return refuse("EINVAL", `length ${hex(cmd.length)} is 0 or too large`);
  }
  if (cmd.user_va + cmd.length > ULONG_MAX) return refuse("EOVERFLOW", "user_va + length wraps");
  return mapPages(
    m,
    w,
    cmd,
    cmd.user_va,
    {
      kind: "user",
      process: call.process,
      userVa: cmd.user_va,
      length: cmd.length,
      writable: (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0,
      pinned: null,
      users: [],
    },
    `user memory ${hex(cmd.user_va)}+${hex(cmd.length)}`,
  );
}

/**
 * The checks of `iommufd_ioas_map_file` and `iopt_map_file_pages` before the
 * file is looked at, in the kernel's order (kernel-model §3.1, §3.2, §7.10):
 * unknown flags `EOPNOTSUPP`; `iova` or `length` >= `ULONG_MAX` `EOVERFLOW`;
 * neither READABLE nor WRITEABLE `EINVAL`; unknown IOAS `ENOENT`; `length`
 * 0 `EINVAL`; `start + length - 1` wraps `EOVERFLOW`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns nothing, or the errno.
 */
export function checkMapFileArgs(m: Machine, w: World, cmd: MapFileCmd): Result<undefined> {
  if ((cmd.flags & ~KNOWN_FLAGS) !== 0) {
    return err("EOPNOTSUPP", () => `unknown flags 0x${(cmd.flags & ~KNOWN_FLAGS).toString(16)}`);
  }
  if (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX) {
    return err("EOVERFLOW", "iova or length is ULONG_MAX or more");
  }
  if ((cmd.flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) === 0) {
    return err("EINVAL", "neither IOMMU_IOAS_MAP_READABLE nor IOMMU_IOAS_MAP_WRITEABLE");
  }
  if (findIoas(m, w, cmd.ioas_id) === undefined)
    return err("ENOENT", () => `no IOAS ${cmd.ioas_id}`);
  if (cmd.length === 0n) return err("EINVAL", "length is 0");
  if (cmd.start + cmd.length - 1n > ULONG_MAX) return err("EOVERFLOW", "start + length - 1 wraps");
  return ok(undefined);
}

/**
 * `IOMMU_IOAS_MAP_FILE` (kernel-model §3.1–3.3, §7.10): the argument
 * checks, then `dma_buf_get(fd)`; an fd that is no dma-buf goes the file
 * way (`mapMemfd`: a memfd, else `EBADF`). For a dma-buf the slice must lie inside the buffer and
 * be fewer than `MAX_NPFNS` pages (`EINVAL`), then the import (attach, pin,
 * physical ranges: `EOPNOTSUPP` for a foreign exporter or several ranges,
 * `ENODEV` when revoked), and only then the IOVA (allocated, or checked
 * with `FIXED_IOVA`). The new area is mapped into every domain of the IOAS
 * and granted to every attached device; for the converters proposal's
 * `iommu-domain` type core does that mapping, one core mapping per domain
 * (kernel-model §4.4, `coreFill` in pages.ts), and its refusal fails the call. Any
 * failure changes nothing.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct; `fd` is a dma-buf id or a memfd's fd.
 * @returns the outcome; the response carries the IOVA.
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_map_file drivers/iommu/iommufd/io_pagetable.c
 *   iopt_map_file_pages
 */
export function ioasMapFile(m: Machine, w: World, cmd: MapFileCmd): HandlerResult<MapFileCmd> {
  const args = checkMapFileArgs(m, w, cmd);
  if (!args.ok) return refuseWith(args.error);
  const b = dmaBufGet(w, cmd.fd);
  if (isKernelError(b)) return mapMemfd(m, w, cmd);
  const last = cmd.start + cmd.length - 1n;
  if (b.size <= last) {
    return refuse(
      "EINVAL",
      `slice ${hex(cmd.start)}..${hex(last)} is outside the ${hex(b.size)}-byte dma-buf`,
    );
  }
  if (cmd.length / PAGE_SIZE >= IOMMUFD_MAX_NPFNS) {
    return refuse("EINVAL", `${hex(cmd.length / PAGE_SIZE)} pages is MAX_NPFNS or more`);
  }
  const imported = importDmabuf(m, w, cmd.fd);
  if (imported.status === "blocked") return { status: "blocked", reason: imported.reason };
  if (imported.status === "failed") return refuseWith(imported.error);
  const startByte = cmd.start % PAGE_SIZE;
  return mapPages(
    m,
    imported.world,
    cmd,
    cmd.start,
    {
      kind: "dmabuf",
      buf: cmd.fd,
      att: imported.att,
      phys: imported.phys,
      mappedBy: imported.mappedBy,
      revoked: false,
      start: cmd.start - startByte,
      length: cmd.length,
      tracker: [],
      users: [],
    },
    `dma-buf ${cmd.fd} ${hex(cmd.start)}+${hex(cmd.length)}`,
    { offset: startByte, before: imported.events },
  );
}

/**
 * `IOMMU_IOAS_MAP_FILE` of a file that is not a dma-buf
 * (`iopt_map_file_pages` after `dma_buf_get` failed): `fget` of anything
 * but an open memfd is `EBADF` (the model has no other files); the pages are
 * the memfd's from `start`, placed like a user map with `start` as the
 * source offset, and pinned (`memfd_pin_folios`) when a domain is filled:
 * a range past the end of the file is then `EINVAL`. With no domain the
 * map succeeds and the first domain attached pins.
 */
function mapMemfd(m: Machine, w: World, cmd: MapFileCmd): HandlerResult<MapFileCmd> {
  if (memfdPages(m, w, cmd.fd, 0n, 0n) === undefined) {
    return refuse("EBADF", `fd ${cmd.fd} is neither a dma-buf nor an open memfd`);
  }
  return mapPages(
    m,
    w,
    cmd,
    cmd.start,
    {
      kind: "file",
      fd: cmd.fd,
      start: cmd.start,
      length: cmd.length,
      writable: (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0,
      pinned: null,
      users: [],
    },
    `memfd ${cmd.fd} ${hex(cmd.start)}+${hex(cmd.length)}`,
  );
}

/**
 * `IOMMU_IOAS_UNMAP` (`iommufd_ioas_unmap`, `iopt_unmap_iova_range`,
 * kernel-model §3.1): unknown IOAS `ENOENT`; `iova = 0, length = U64_MAX`
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
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_unmap drivers/iommu/iommufd/io_pagetable.c
 *   iopt_unmap_iova iopt_unmap_all
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
  if (hits.length === 0 && !all) {
    return refuse("ENOENT", `no area in ${hex(range.start)}..${hex(range.last)}`);
  }
  let world = w;
  const events: TraceEvent[] = [];
  let unmapped = 0n;
  // iopt_unmap_iova_range walks the areas in IOVA order and removes each
  // one whole; at the first area the range cuts it stops with ENOENT,
  // leaving the areas before it unmapped (no undo).
  for (const area of hits) {
    if (area.iova < range.start || area.iova + area.length - 1n > range.last) {
      const error = kernelError(
        "ENOENT",
        () =>
          `${hex(range.start)}..${hex(range.last)} cuts the area ${hex(area.iova)}+${hex(area.length)}` +
          (unmapped === 0n ? "" : ` (the ${hex(unmapped)} bytes of areas before it stay unmapped)`),
      );
      return unmapped === 0n
        ? refuseWith(error)
        : { status: "failed", error, response: null, written: [], committed: { world, events } };
    }
    const removed = removeArea(m, world, cmd.ioas_id, area.iova);
    if (removed.status === "blocked") return { status: "blocked", reason: removed.reason };
    if (removed.status === "failed") throw new Error(removed.error.message);
    world = removed.world;
    events.push(...removed.events);
    unmapped += area.length;
  }
  return respond(world, events, { ...cmd, length: unmapped });
}

/**
 * `IOMMU_IOAS_IOVA_RANGES` (`iommufd_ioas_iova_ranges`, kernel-model §3.1):
 * a non-zero `__reserved` is `EOPNOTSUPP`, an unknown IOAS `ENOENT`. The
 * allowed ranges are the holes of the reserved tree in `[0, ULONG_MAX]`;
 * the first `num_iovas` of them are copied to `allowed_iovas` one by one
 * (a copy that faults, e.g. a NULL `allowed_iovas` with `num_iovas` >= 1,
 * is `EFAULT`, after the ranges before it were written and before the
 * struct is copied back); `num_iovas` is set to how many exist and
 * `out_iova_alignment` to the IOAS's `iova_alignment` (1 with no domain).
 * The struct is copied back even when the array was too small, and then
 * the ioctl fails with `EMSGSIZE`.
 *
 * @param m - the machine.
 * @param w - the world (unchanged: this is a query).
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_iova_ranges
 */
export function iovaRanges(m: Machine, w: World, cmd: IovaRangesCmd): HandlerResult<IovaRangesCmd> {
  if (cmd.__reserved !== 0) return refuse("EOPNOTSUPP", "__reserved must be 0");
  const ioas = findIoas(m, w, cmd.ioas_id);
  if (ioas === undefined) return refuse("ENOENT", `no IOAS ${cmd.ioas_id}`);
  const holes = holesOf(reservedIovas(m, w, cmd.ioas_id));
  const written: UserWrite[] = [];
  for (const [i, h] of holes.slice(0, cmd.num_iovas).entries()) {
    const addr = cmd.allowed_iovas + BigInt(i * iommuIovaRange.size);
    const copied = copyToUser(addr, iommuIovaRange.encode({ start: h.start, last: h.last }));
    if (!copied.ok) return { status: "failed", error: copied.error, response: null, written };
    written.push(copied.value);
  }
  const response: IovaRangesCmd = {
    ...cmd,
    num_iovas: holes.length,
    out_iova_alignment: ioas.iovaAlignment,
  };
  if (holes.length > cmd.num_iovas) {
    return {
      status: "failed",
      error: kernelError(
        "EMSGSIZE",
        () => `${holes.length} allowed range(s) do not fit in num_iovas ${cmd.num_iovas}`,
      ),
      response,
      written,
    };
  }
  return { status: "done", world: w, events: [], response, written };
}

/**
 * `iopt_map_common` for every kind of pages (user memory, `IOMMU_IOAS_MAP`;
 * a memfd or a dma-buf, `IOMMU_IOAS_MAP_FILE`): place the IOVA
 * (FIXED_IOVA checked, else `iopt_alloc_iova` with `source` as the source
 * offset whose sub-page part the IOVA keeps), create the pages object and
 * insert the area, filling every domain of the IOAS (which pins, and may
 * fail `EFAULT`/`EINVAL`). The struct is copied back with the IOVA.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the ioctl's struct (flags, IOAS, IOVA, length).
 * @param source - the source offset: `user_va`, or the file offset.
 * @param pages - the new pages object.
 * @param what - the memory in words, for the trace.
 * @param area - for a dma-buf: the area's byte offset into its page-aligned
 *   pages (the sub-page part of `start`), and the attach's events, which
 *   come first.
 * @returns the outcome.
 */
function mapPages<C extends MapCmd | MapFileCmd>(
  m: Machine,
  w: World,
  cmd: C,
  source: bigint,
  pages: IommufdPages,
  what: string,
  area: { readonly offset: bigint; readonly before: readonly TraceEvent[] } = {
    offset: 0n,
    before: [],
  },
): HandlerResult<C> {
  const fixed = (cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
  const pageOffset = source % PAGE_SIZE;
  const iova = placeIova(m, w, cmd.ioas_id, fixed, cmd.iova, source, pageOffset, cmd.length);
  if (!iova.ok) return refuseWith(iova.error);
  const pagesId = nextPagesId(m, w);
  const inserted = insertArea(m, putPages(m, w, pagesId, pages), cmd.ioas_id, {
    iova: iova.value,
    length: cmd.length,
    pages: pagesId,
    offset: area.offset,
    read: (cmd.flags & IOMMU_IOAS_MAP_READABLE) !== 0,
    write: (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0,
    grants: [],
  });
  if (inserted.status === "blocked") return { status: "blocked", reason: inserted.reason };
  if (inserted.status === "failed") return refuseWith(inserted.error);
  const events: TraceEvent[] = [
    ...area.before,
    {
      kind: "note",
      actor: IOMMUFD,
      text: `IOAS ${cmd.ioas_id}: ${what} at IOVA ${hex(iova.value)}`,
    },
    ...inserted.events,
  ];
  return respond(inserted.world, events, { ...cmd, iova: iova.value });
}
