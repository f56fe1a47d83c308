import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  err,
  ok,
} from "@dmabuf-ref/core";
import type { iommuIoasMap, Machine, Result, TraceEvent, World } from "@dmabuf-ref/core";
import { insertUserArea } from "./area.js";
import { configOf } from "./config.js";
import { IOMMUFD, PAGE_SIZE, ULONG_MAX } from "./constants.js";
import type { HandlerResult } from "./outcome.js";
import { refuse, refuseWith, respond } from "./outcome.js";
import { placeIova } from "./place-iova.js";
import { findIoas, nextPagesId, putPages } from "./state.js";

/** The decoded `struct iommu_ioas_map`. */
export type MapCmd = ReturnType<typeof iommuIoasMap.decode>;

const KNOWN_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * Where the VMM's anonymous memory at `userVa` lives: the model's stand-in
 * for `pin_user_pages`. Memory at `user_va` is RAM at `ram.base + (user_va
 * mod ram.size)` of the configured RAM region, so mapping the same user
 * memory twice reaches the same physical pages. A range running past the
 * region's end is not backed (`EFAULT`, what a failed pin returns).
 *
 * @param m - the machine (its RAM region).
 * @param userVa - the user address.
 * @param length - bytes.
 * @returns the physical address of the first byte, or `EFAULT`.
 */
export function userMemoryPhys(m: Machine, userVa: bigint, length: bigint): Result<bigint> {
  const name = configOf(m).ramRegion;
  const ram = m.topology.regions.find((r) =>
    name === undefined ? r.kind === "ram" : r.id === name,
  );
  if (ram === undefined) throw new Error(`iommufd: no RAM region ${name ?? "in the topology"}`);
  const phys = ram.base + (userVa % ram.size);
  if (phys + length > ram.base + ram.size) {
    return err(
      "EFAULT",
      () => `user memory ${hex(userVa)}+${hex(length)} is not backed by ${ram.id}`,
    );
  }
  return ok(phys);
}

/**
 * `IOMMU_IOAS_MAP` (`iommufd_ioas_map`, `iopt_map_user_pages`): maps VMM
 * memory at `user_va`. Unknown flags or a non-zero `__reserved` are
 * `EOPNOTSUPP`; `iova`/`length` >= `ULONG_MAX` `EOVERFLOW`; neither
 * READABLE nor WRITEABLE `EINVAL`; unknown IOAS `ENOENT`; `length` 0
 * `EINVAL`; `user_va + length` wrapping `EOVERFLOW`; then the IOVA rules of
 * {@link placeIova}; then the pin ({@link userMemoryPhys}). The area is
 * mapped into every domain of the IOAS and granted to the attached devices.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome; the response carries the IOVA.
 */
export function ioasMap(m: Machine, w: World, cmd: MapCmd): HandlerResult<MapCmd> {
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
  if (cmd.length === 0n) return refuse("EINVAL", "length is 0");
  if (cmd.user_va + cmd.length > ULONG_MAX) return refuse("EOVERFLOW", "user_va + length wraps");
  const fixed = (cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA) !== 0;
  const pageOffset = cmd.user_va % PAGE_SIZE;
  const iova = placeIova(m, w, cmd.ioas_id, fixed, cmd.iova, cmd.user_va, pageOffset, cmd.length);
  if (!iova.ok) return refuseWith(iova.error);
  const phys = userMemoryPhys(m, cmd.user_va, cmd.length);
  if (!phys.ok) return refuseWith(phys.error);
  const pagesId = nextPagesId(m, w);
  const world = putPages(m, w, pagesId, {
    kind: "user",
    userVa: cmd.user_va,
    phys: phys.value,
    length: cmd.length,
    users: [],
  });
  const inserted = insertUserArea(m, world, cmd.ioas_id, {
    iova: iova.value,
    length: cmd.length,
    pages: pagesId,
    offset: 0n,
    read: (cmd.flags & IOMMU_IOAS_MAP_READABLE) !== 0,
    write: (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0,
    grants: [],
  });
  const events: TraceEvent[] = [
    {
      kind: "note",
      actor: IOMMUFD,
      text: `IOAS ${cmd.ioas_id}: user memory ${hex(cmd.user_va)}+${hex(cmd.length)} at IOVA ${hex(iova.value)}`,
    },
    ...inserted.events,
  ];
  return respond(inserted.world, events, { ...cmd, iova: iova.value });
}
