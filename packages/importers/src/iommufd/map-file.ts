import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  err,
  isKernelError,
  ok,
} from "@dmabuf-ref/core";
import type { iommuIoasMapFile, Machine, Result, TraceEvent, World } from "@dmabuf-ref/core";
import { insertArea } from "./area.js";
import { IOMMUFD, IOMMUFD_MAX_NPFNS, PAGE_SIZE, ULONG_MAX } from "./constants.js";
import { dmaBufGet } from "@dmabuf-ref/core";
import { importDmabuf } from "./import-dmabuf.js";
import { placeIova } from "./place-iova.js";
import type { HandlerResult } from "./outcome.js";
import { refuse, refuseWith, respond } from "./outcome.js";
import { findIoas, nextPagesId, putPages } from "./state.js";

/** The decoded `struct iommu_ioas_map_file`. */
export type MapFileCmd = ReturnType<typeof iommuIoasMapFile.decode>;

const KNOWN_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * The checks of `iommufd_ioas_map_file` and `iopt_map_file_pages` before the
 * file is looked at, in the kernel's order (kernel-facts §3.1, §3.2, §7.10):
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
 * `IOMMU_IOAS_MAP_FILE` with a dma-buf fd (kernel-facts §3.1–3.3, §7.10):
 * the argument checks, then `dma_buf_get(fd)` (any other fd is `EBADF`:
 * the model has no memfds), then the slice must lie inside the buffer and
 * be fewer than `MAX_NPFNS` pages (`EINVAL`), then the import (attach, pin,
 * physical ranges: `EOPNOTSUPP` for a foreign exporter or several ranges,
 * `ENODEV` when revoked), and only then the IOVA (allocated, or checked
 * with `FIXED_IOVA`). The new area is mapped into every domain of the IOAS
 * and granted to every attached device; for the converters proposal's
 * `iommu-domain` type core does that mapping, one core mapping per domain
 * (kernel-facts §4.4, `core-fill.ts`), and its refusal fails the call. Any
 * failure changes nothing.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct; `fd` is a dma-buf id.
 * @returns the outcome; the response carries the IOVA.
 */
export function ioasMapFile(m: Machine, w: World, cmd: MapFileCmd): HandlerResult<MapFileCmd> {
  const args = checkMapFileArgs(m, w, cmd);
  if (!args.ok) return refuseWith(args.error);
  const b = dmaBufGet(w, cmd.fd);
  if (isKernelError(b)) return refuse("EBADF", `fd ${cmd.fd} is not a dma-buf (${b.message})`);
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
  const pagesId = nextPagesId(m, imported.world);
  const world = putPages(m, imported.world, pagesId, {
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
  });
  const fixed = (cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
  const iova = placeIova(m, world, cmd.ioas_id, fixed, cmd.iova, cmd.start, startByte, cmd.length);
  if (!iova.ok) return refuseWith(iova.error);
  const inserted = insertArea(m, world, cmd.ioas_id, {
    iova: iova.value,
    length: cmd.length,
    pages: pagesId,
    offset: startByte,
    read: (cmd.flags & IOMMU_IOAS_MAP_READABLE) !== 0,
    write: (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0,
    grants: [],
  });
  if (inserted.status === "blocked") return { status: "blocked", reason: inserted.reason };
  if (inserted.status === "failed") return refuseWith(inserted.error);
  const events: TraceEvent[] = [
    ...imported.events,
    {
      kind: "note",
      actor: IOMMUFD,
      text: `IOAS ${cmd.ioas_id}: dma-buf ${cmd.fd} ${hex(cmd.start)}+${hex(cmd.length)} at IOVA ${hex(iova.value)}`,
    },
    ...inserted.events,
  ];
  return respond(inserted.world, events, { ...cmd, iova: iova.value });
}
