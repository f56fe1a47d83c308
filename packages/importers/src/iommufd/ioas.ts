import type { Machine } from "@dmabuf-ref/core";
import type { TraceEvent, World, iommuDestroy, iommuIoasAlloc } from "@dmabuf-ref/core";
import { removeArea } from "./area.js";
import { IOMMUFD } from "./constants.js";
import type { HandlerResult } from "./outcome.js";
import { refuse, respond } from "./outcome.js";
import {
  areasOf,
  devicesOf,
  emptyIoas,
  nextObjectId,
  objectsOf,
  putObject,
  removeObject,
} from "./state.js";

/** The decoded `struct iommu_ioas_alloc`. */
export type IoasAllocCmd = ReturnType<typeof iommuIoasAlloc.decode>;
/** The decoded `struct iommu_destroy`. */
export type DestroyCmd = ReturnType<typeof iommuDestroy.decode>;

/**
 * `IOMMU_IOAS_ALLOC` (`iommufd_ioas_alloc_ioctl`): `flags` must be 0
 * (`EOPNOTSUPP`); the new IOAS gets the lowest free object id, returned in
 * `out_ioas_id`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 */
export function ioasAlloc(m: Machine, w: World, cmd: IoasAllocCmd): HandlerResult<IoasAllocCmd> {
  if (cmd.flags !== 0) return refuse("EOPNOTSUPP", `flags 0x${cmd.flags.toString(16)} must be 0`);
  const id = nextObjectId(m, w);
  const world = putObject(m, w, id, emptyIoas());
  const events: TraceEvent[] = [{ kind: "note", actor: IOMMUFD, text: `IOAS ${id} allocated` }];
  return respond(world, events, { ...cmd, out_ioas_id: id });
}

/**
 * `IOMMU_DESTROY` (`iommufd_object_remove`): an unknown id is `ENOENT`;
 * a device object is held by its VFIO binding until unbind, and an
 * automatic HWPT by the devices attached through it (`EBUSY`: the object's
 * users count is not one); an IOAS with attached devices is still
 * referenced (`EBUSY`); an
 * IOAS with areas is destroyed with them (`iopt_unmap_all`, which releases
 * their pages and dma-buf attachments).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 */
export function destroyObject(m: Machine, w: World, cmd: DestroyCmd): HandlerResult<DestroyCmd> {
  const ioas = objectsOf(m, w).get(cmd.id);
  if (ioas?.kind === "device")
    return refuse("EBUSY", `object ${cmd.id} is a device: it goes with its unbind`);
  if (ioas?.kind === "hwpt")
    return refuse("EBUSY", `HWPT ${cmd.id} is in use by an attached device`);
  if (ioas === undefined) return refuse("ENOENT", `no object ${cmd.id}`);
  if (devicesOf(m, w, cmd.id).length > 0) {
    return refuse("EBUSY", `IOAS ${cmd.id} still has devices attached`);
  }
  let world = w;
  const events: TraceEvent[] = [];
  for (const area of areasOf(ioas)) {
    const removed = removeArea(m, world, cmd.id, area.iova);
    if (removed.status === "blocked") return { status: "blocked", reason: removed.reason };
    if (removed.status === "failed") throw new Error(removed.error.message);
    world = removed.world;
    events.push(...removed.events);
  }
  world = removeObject(m, world, cmd.id);
  events.push({ kind: "note", actor: IOMMUFD, text: `IOAS ${cmd.id} destroyed` });
  return respond(world, events, cmd);
}
