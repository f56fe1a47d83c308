import { defineSlice, readSlice, tableSlice, writeSlice } from "@dmabuf-ref/core";
import { PTable, iovaIndex } from "@dmabuf-ref/core/encoding";
import type { Machine, SliceDef, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import {
  iommufdAreaCodec,
  iommufdObjectCodec,
  iommufdPagesCodec,
  objectIdsCodec,
  pagesIdCodec,
} from "./codecs.js";
import { IOMMUFD } from "./constants.js";
import type {
  IommufdArea,
  IommufdAreaRef,
  IommufdDevice,
  IommufdDeviceObject,
  IommufdDmabufPages,
  IommufdHwpt,
  IommufdIoas,
  IommufdIoasObject,
  IommufdObject,
  IommufdPages,
  IommufdState,
} from "./types.js";

/**
 * `ictx->objects`: every iommufd object (IOAS, device, HWPT_PAGING) by its
 * object id, the one id space `xa_alloc` hands out lowest-free from 1.
 */
export const IOMMUFD_OBJECTS: SliceDef<PTable<IommufdObject>> = tableSlice(
  "objects",
  iommufdObjectCodec,
);

/**
 * The `struct iopt_pages` objects by id. The kernel's pages have no id
 * (areas point at them); the model's ids are lowest-free table keys, kept
 * canonical so that worlds repeat.
 */
export const IOMMUFD_PAGES: SliceDef<PTable<IommufdPages>> = tableSlice("pages", iommufdPagesCodec);

/**
 * The device objects, in attach order: each VFIO device's binding
 * (`df->idev`), a small index so that looking a device up by name or
 * listing an IOAS's devices scans the few devices, never every object.
 */
export const IOMMUFD_ATTACHED: SliceDef<readonly number[]> = defineSlice(
  "attached",
  objectIdsCodec,
  Object.freeze([]),
);

/**
 * Every attachment iommufd made, by attachment id, to the pages it serves
 * (`attach->importer_priv`): the pages' own attachment and each (area,
 * domain) pair's core attachment. Kept by {@link putPages} and
 * {@link deletePages}.
 */
export const IOMMUFD_ATTACHMENTS: SliceDef<PTable<number>> = tableSlice(
  "attachments",
  pagesIdCodec,
);

/** iommufd's slices, for the driver object's `slices`. */
export const IOMMUFD_SLICES: readonly SliceDef<unknown>[] = Object.freeze([
  IOMMUFD_OBJECTS,
  IOMMUFD_PAGES,
  IOMMUFD_ATTACHED,
  IOMMUFD_ATTACHMENTS,
]);

function read<T>(m: Machine, w: World, def: SliceDef<T>): T {
  return readSlice(m, w, IOMMUFD, def);
}

/**
 * Writes one slice, and the others as they are: a world holds all of
 * iommufd's slices or none, so that a slice never written and one
 * written back to its initial value cannot tell two equal worlds apart.
 */
function write<T>(m: Machine, w: World, def: SliceDef<T>, value: T): World {
  let world = writeSlice(m, w, IOMMUFD, def, value);
  for (const other of IOMMUFD_SLICES) {
    if (other !== def) world = writeSlice(m, world, IOMMUFD, other, read(m, world, other));
  }
  return world;
}

/**
 * iommufd's objects (`ictx->objects`) in a world.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the table by object id.
 */
export function objectsOf(m: Machine, w: World): PTable<IommufdObject> {
  return read(m, w, IOMMUFD_OBJECTS);
}

/**
 * The id the next iommufd object gets: `ictx->objects` is an xarray that
 * allocates the lowest free id from 1 (`xa_alloc` with `xa_limit_31b`), in
 * one id space for every object kind: IOAS, device and HWPT objects alike.
 * O(1) (the table keeps its lowest free id) plus one step per reserved id.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param reserved - ids already taken by an object being built (a bind's
 *   device before the attach's HWPT).
 * @returns the lowest id no object uses.
 */
export function nextObjectId(m: Machine, w: World, reserved: readonly number[] = []): number {
  const objects = objectsOf(m, w);
  let id = objects.lowestFreeId();
  while (reserved.includes(id)) id = objects.lowestFreeId(id + 1);
  return id;
}

/**
 * Stores an object under its id (`iommufd_object_finalize`, or a change to one).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the object id.
 * @param object - the object.
 * @returns the new world.
 */
export function putObject(m: Machine, w: World, id: number, object: IommufdObject): World {
  return write(m, w, IOMMUFD_OBJECTS, objectsOf(m, w).set(id, object));
}

/**
 * Removes an object (`iommufd_object_remove`); its id becomes free.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the object id.
 * @returns the new world.
 */
export function removeObject(m: Machine, w: World, id: number): World {
  return write(m, w, IOMMUFD_OBJECTS, objectsOf(m, w).delete(id));
}

/**
 * An IOAS by id (`iommufd_get_ioas`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the IOAS id.
 * @returns the IOAS, or undefined (no object, or one of another kind).
 */
export function findIoas(m: Machine, w: World, id: number): IommufdIoasObject | undefined {
  const o = objectsOf(m, w).get(id);
  return o?.kind === "ioas" ? o : undefined;
}

/**
 * An IOAS that must exist (its absence is a bug in the model).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the IOAS id.
 * @returns the IOAS.
 */
export function mustIoas(m: Machine, w: World, id: number): IommufdIoasObject {
  const ioas = findIoas(m, w, id);
  if (ioas === undefined) throw new Error(`iommufd: no IOAS ${id}`);
  return ioas;
}

/**
 * Replaces one IOAS. Its areas may change only in what they grant: an area
 * comes, goes or moves through {@link setArea}, which keeps the pages'
 * references.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the IOAS id.
 * @param ioas - the new IOAS.
 * @returns the new world.
 */
export function putIoas(m: Machine, w: World, id: number, ioas: IommufdIoasObject): World {
  return putObject(m, w, id, ioas);
}

/**
 * An empty IOAS (`iommufd_ioas_alloc`): no areas, no domains.
 *
 * @returns the object.
 */
export function emptyIoas(): IommufdIoasObject {
  return { kind: "ioas", areas: PTable.indexed(iommufdAreaCodec, areaIndex), domains: [] };
}

/** `iopt->area_itree`: the areas by IOVA (page granule for the IOVA allocator). */
const areaIndex = iovaIndex<IommufdArea>(
  (a) => a.iova,
  (a) => a.length,
  0x1000n,
);

/**
 * An IOAS's areas with their slots, in IOVA order (`iopt_area_iter_first`
 * order), read from the IOVA index.
 *
 * @param ioas - the IOAS.
 * @returns `[slot, area]` pairs.
 */
export function areaEntriesOf(ioas: IommufdIoasObject): readonly [number, IommufdArea][] {
  return [...ioas.areas.index.entries()].map((e) => [e.value, mustArea(ioas, e.value)]);
}

/**
 * An IOAS's areas, in IOVA order.
 *
 * @param ioas - the IOAS.
 * @returns the areas.
 */
export function areasOf(ioas: IommufdIoasObject): readonly IommufdArea[] {
  return [...ioas.areas.index.entries()].map((e) => mustArea(ioas, e.value));
}

/**
 * The areas of an IOAS that share an IOVA with `[iova, iova + length)`, in
 * IOVA order (`iopt_area_iter_first`/`_next` over the range): O(log k)
 * plus the areas found.
 *
 * @param ioas - the IOAS.
 * @param iova - the first IOVA.
 * @param length - bytes (at least 1).
 * @returns the areas.
 */
export function areasIn(
  ioas: IommufdIoasObject,
  iova: bigint,
  length: bigint,
): readonly IommufdArea[] {
  return [...ioas.areas.index.overlappingAll(iova, length)].map((e) => mustArea(ioas, e.value));
}

function mustArea(ioas: IommufdIoasObject, slot: number): IommufdArea {
  const a = ioas.areas.get(slot);
  if (a === undefined)
    throw new Error(`IOAS area index names slot ${String(slot)}, which is empty`);
  return a;
}

/**
 * The area of an IOAS that contains an IOVA (`iopt_area_iter_first` over
 * one IOVA), found through the IOVA index.
 *
 * @param ioas - the IOAS.
 * @param iova - the IOVA.
 * @returns the area, or undefined.
 */
export function areaContaining(ioas: IommufdIoasObject, iova: bigint): IommufdArea | undefined {
  const e = ioas.areas.index.covering(iova, 1n);
  return e === undefined ? undefined : ioas.areas.get(e.value);
}

function slotAt(ioas: IommufdIoasObject, iova: bigint): number | undefined {
  return ioas.areas.index.at(iova)?.value;
}

/**
 * The area of an IOAS that starts at an IOVA.
 *
 * @param ioas - the IOAS.
 * @param iova - the area's first IOVA.
 * @returns the area, or undefined.
 */
export function areaAt(ioas: IommufdIoasObject, iova: bigint): IommufdArea | undefined {
  const slot = slotAt(ioas, iova);
  return slot === undefined ? undefined : ioas.areas.get(slot);
}

function compareRefs(a: IommufdAreaRef, b: IommufdAreaRef): number {
  if (a.ioas !== b.ioas) return a.ioas - b.ioas;
  return a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0;
}

function withUsers(pages: IommufdPages, users: readonly IommufdAreaRef[]): IommufdPages {
  return { ...pages, users };
}

/**
 * Inserts, replaces or removes the area that starts at `iova` in an IOAS
 * (`iopt_insert_area` / `iopt_remove_area`), keeping the references the
 * pages count (`pages->kref`): an area holds one on its pages.
 *
 * @param m - the machine.
 * @param w - the world; the new area's pages must exist.
 * @param ioas - the IOAS id.
 * @param iova - the area's first IOVA.
 * @param area - the new area (its `iova` is `iova`), or null to remove it.
 * @returns the new world.
 */
export function setArea(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  area: IommufdArea | null,
): World {
  const io = mustIoas(m, w, ioas);
  const slot = slotAt(io, iova);
  const old = slot === undefined ? undefined : io.areas.get(slot);
  const areas =
    area === null
      ? slot === undefined
        ? io.areas
        : io.areas.delete(slot)
      : io.areas.set(slot ?? io.areas.lowestFreeId(), area);
  let world = putIoas(m, w, ioas, { ...io, areas });
  if (old?.pages === area?.pages) return world;
  const ref: IommufdAreaRef = { ioas, iova };
  if (old !== undefined) {
    const pages = mustPages(m, world, old.pages);
    const users = pages.users.filter((u) => u.ioas !== ioas || u.iova !== iova);
    world = putPages(m, world, old.pages, withUsers(pages, users));
  }
  if (area !== null) {
    const pages = mustPages(m, world, area.pages);
    world = putPages(
      m,
      world,
      area.pages,
      withUsers(pages, [...pages.users, ref].sort(compareRefs)),
    );
  }
  return world;
}

/**
 * iommufd's pages objects in a world.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the table by pages id.
 */
export function pagesTableOf(m: Machine, w: World): PTable<IommufdPages> {
  return read(m, w, IOMMUFD_PAGES);
}

/**
 * The id the next pages object gets: the lowest free one (O(1)).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the lowest id no pages object uses.
 */
export function nextPagesId(m: Machine, w: World): number {
  return pagesTableOf(m, w).lowestFreeId();
}

/**
 * Pages that must exist.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @returns the pages.
 */
export function mustPages(m: Machine, w: World, id: number): IommufdPages {
  const pages = pagesTableOf(m, w).get(id);
  if (pages === undefined) throw new Error(`iommufd: no pages ${id}`);
  return pages;
}

function attachmentsOf(pages: IommufdPages | undefined): readonly number[] {
  if (pages === undefined || pages.kind !== "dmabuf") return [];
  const atts = [pages.att];
  for (const t of pages.tracker) if (t.att !== undefined) atts.push(t.att);
  return atts;
}

function reindex(
  m: Machine,
  w: World,
  id: number,
  before: IommufdPages | undefined,
  after: IommufdPages | undefined,
): World {
  const gone = attachmentsOf(before);
  const come = attachmentsOf(after);
  let index = read(m, w, IOMMUFD_ATTACHMENTS);
  for (const att of gone) if (!come.includes(att)) index = index.delete(att);
  for (const att of come) if (index.get(att) !== id) index = index.set(att, id);
  return write(m, w, IOMMUFD_ATTACHMENTS, index);
}

/**
 * Replaces (or adds) a pages object, and indexes the attachments it holds.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @param pages - the pages.
 * @returns the new world.
 */
export function putPages(m: Machine, w: World, id: number, pages: IommufdPages): World {
  const table = pagesTableOf(m, w);
  const before = table.get(id);
  const world = write(m, w, IOMMUFD_PAGES, table.set(id, pages));
  return reindex(m, world, id, before, pages);
}

/**
 * Drops a pages object (`iopt_release_pages`, the last reference gone),
 * and its attachments from the index.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the pages' id.
 * @returns the new world.
 */
export function deletePages(m: Machine, w: World, id: number): World {
  const table = pagesTableOf(m, w);
  const before = table.get(id);
  const world = write(m, w, IOMMUFD_PAGES, table.delete(id));
  return reindex(m, world, id, before, undefined);
}

/**
 * The dma-buf pages behind an attachment, if iommufd made it
 * (`attach->importer_priv`): the pages' own attachment or one that holds a
 * core mapping of one (area, domain).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @returns the pages' id and value, or undefined.
 */
export function pagesOfAttachment(
  m: Machine,
  w: World,
  att: number,
): { readonly id: number; readonly pages: IommufdDmabufPages } | undefined {
  const id = read(m, w, IOMMUFD_ATTACHMENTS).get(att);
  if (id === undefined) return undefined;
  const pages = dmabufPages(mustPages(m, w, id));
  return pages === null ? undefined : { id, pages };
}

function deviceView(id: number, o: IommufdDeviceObject): IommufdDevice {
  return {
    id,
    device: o.device,
    ioas: o.ioas,
    hwpt: o.hwpt,
    domain: o.domain,
    previousDomain: o.previousDomain,
  };
}

/**
 * Every attached device, in attach order: a scan of the few devices.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the devices.
 */
export function attachedDevices(m: Machine, w: World): readonly IommufdDevice[] {
  const objects = objectsOf(m, w);
  return read(m, w, IOMMUFD_ATTACHED).map((id) => {
    const o = objects.get(id);
    if (o?.kind !== "device") throw new Error(`iommufd: attached ${id} is no device object`);
    return deviceView(id, o);
  });
}

/**
 * The device object of a device, by its topology name (the VFIO cdev's
 * `df->idev`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param device - the device.
 * @returns the device, or undefined when it is not attached.
 */
export function deviceNamed(m: Machine, w: World, device: string): IommufdDevice | undefined {
  return attachedDevices(m, w).find((d) => d.device === device);
}

/**
 * The devices attached to an IOAS.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @returns the attached devices, in attach order.
 */
export function devicesOf(m: Machine, w: World, ioas: number): readonly IommufdDevice[] {
  return attachedDevices(m, w).filter((d) => d.ioas === ioas);
}

/**
 * Adds a device object (bind and attach) after the attached ones.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - its object id.
 * @param device - the object.
 * @returns the new world.
 */
export function addDevice(m: Machine, w: World, id: number, device: IommufdDeviceObject): World {
  const world = putObject(m, w, id, device);
  return write(m, world, IOMMUFD_ATTACHED, [...read(m, world, IOMMUFD_ATTACHED), id]);
}

/**
 * Removes a device object (detach and unbind).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - its object id.
 * @returns the new world.
 */
export function removeDevice(m: Machine, w: World, id: number): World {
  const world = removeObject(m, w, id);
  const attached = read(m, world, IOMMUFD_ATTACHED).filter((x) => x !== id);
  return write(m, world, IOMMUFD_ATTACHED, attached);
}

/**
 * iommufd's state as plain arrays, for inspection (tests, renderers, the
 * explorer's invariants). O(everything): not for the driver's own paths.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the state; an empty context before the first ioctl.
 */
export function iommufdStateOf(m: Machine, w: World): IommufdState {
  const ioas: IommufdIoas[] = [];
  const hwpts: IommufdHwpt[] = [];
  for (const [id, o] of objectsOf(m, w).entries()) {
    if (o.kind === "ioas") ioas.push({ id, areas: areasOf(o), domains: o.domains });
    if (o.kind === "hwpt") hwpts.push({ id, ioas: o.ioas, domain: o.domain });
  }
  const pages = [...pagesTableOf(m, w).entries()].map(([id, p]) => ({ id, pages: p }));
  return { ioas, pages, devices: attachedDevices(m, w), hwpts };
}

/**
 * The dma-buf view of a pages object (`iopt_is_dmabuf`): the pages when
 * they come from a dma-buf, null for user memory.
 *
 * @param pages - the pages.
 * @returns the dma-buf pages, or null.
 */
export function dmabufPages(pages: IommufdPages): IommufdDmabufPages | null {
  return match(pages)
    .returnType<IommufdDmabufPages | null>()
    .with({ kind: "dmabuf" }, (p) => p)
    .with({ kind: "user" }, () => null)
    .exhaustive();
}

/**
 * Whether an area is dead: its dma-buf pages were revoked.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param area - the area.
 * @returns true when no domain may translate it.
 */
export function areaDead(m: Machine, w: World, area: IommufdArea): boolean {
  return dmabufPages(mustPages(m, w, area.pages))?.revoked === true;
}
