/*
 * iommufd's state in the World (model-only; the kernel keeps it in
 * `struct iommufd_ctx` and `struct io_pagetable`, iommufd_private.h and
 * io_pagetable.h): the driver's four slices and the one writer that keeps
 * them together; the object table `ictx->objects` (`xa_alloc` ids,
 * `iommufd_object_finalize`, `iommufd_object_remove`, `iommufd_get_ioas`);
 * an IOAS's area tree `iopt->area_itree` and its readers
 * (`iopt_area_iter_first`, an io_pagetable.h inline, which pages.c uses
 * too); the attached-device index; and the inspection view
 * `iommufdStateOf`. Areas change in io_pagetable.ts (`setArea`), pages in
 * pages.ts.
 */
import { defineSlice, readSlice, tableSlice, writeSlice } from "@dmabuf-ref/core";
import { PTable, iovaIndex } from "@dmabuf-ref/core/encoding";
import type { Machine, SliceDef, World } from "@dmabuf-ref/core";
import {
  iommufdAreaCodec,
  iommufdCtxCodec,
  iommufdObjectCodec,
  iommufdPagesCodec,
  objectIdsCodec,
  pagesIdCodec,
} from "./codecs.js";
import { IOMMUFD } from "./constants.js";
import type {
  IommufdArea,
  IommufdCtx,
  IommufdDevice,
  IommufdDeviceObject,
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
 *
 * @category Drivers
 */
export const IOMMUFD_OBJECTS: SliceDef<PTable<IommufdObject>> = tableSlice(
  "objects",
  iommufdObjectCodec,
);

/**
 * The `struct iopt_pages` objects by id. The kernel's pages have no id
 * (areas point at them); the model's ids are lowest-free table keys, kept
 * canonical so that worlds repeat.
 *
 * @category Drivers
 */
export const IOMMUFD_PAGES: SliceDef<PTable<IommufdPages>> = tableSlice("pages", iommufdPagesCodec);

/**
 * The device objects, in bind order: each VFIO device's binding
 * (`df->idev`), a small index so that looking a device up by name or
 * listing an IOAS's devices scans the few devices, never every object.
 *
 * @category Drivers
 */
export const IOMMUFD_ATTACHED: SliceDef<readonly number[]> = defineSlice(
  "attached",
  objectIdsCodec,
  Object.freeze([]),
);

/**
 * Every attachment iommufd made, by attachment id, to the pages it serves
 * (`attach->importer_priv`): the pages' own attachment and each (area,
 * domain) pair's core attachment. Kept by `putPages` and
 * `deletePages` (pages.ts).
 *
 * @category Drivers
 */
export const IOMMUFD_ATTACHMENTS: SliceDef<PTable<number>> = tableSlice(
  "attachments",
  pagesIdCodec,
);

/**
 * `struct iommufd_ctx`'s own state beyond its objects (`account_mode`).
 *
 * @category Drivers
 */
export const IOMMUFD_CTX: SliceDef<IommufdCtx> = defineSlice(
  "ctx",
  iommufdCtxCodec,
  Object.freeze({ accountMode: 0, releasing: Object.freeze([]), vfioIoas: null }),
);

// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
/**
 * iommufd's slices by name (its driver's `state`).
 *
 * @category Drivers
 */
export type IommufdSlices = {
  /** `ictx->objects`: IOAS, devices and HWPTs by object id. */
  readonly objects: SliceDef<PTable<IommufdObject>>;
  /** The `struct iopt_pages` by id. */
  readonly pages: SliceDef<PTable<IommufdPages>>;
  /** The device objects' ids. */
  readonly attached: SliceDef<readonly number[]>;
  /** Every attachment iommufd made, to the pages it serves. */
  readonly attachments: SliceDef<PTable<number>>;
  /** The context's own state (`account_mode`). */
  readonly ctx: SliceDef<IommufdCtx>;
};

/** iommufd's slices by name, in the order of {@link IOMMUFD_SLICES}. */
export const IOMMUFD_STATE: IommufdSlices = Object.freeze({
  objects: IOMMUFD_OBJECTS,
  pages: IOMMUFD_PAGES,
  attached: IOMMUFD_ATTACHED,
  attachments: IOMMUFD_ATTACHMENTS,
  ctx: IOMMUFD_CTX,
});

/** iommufd's slices, for the driver object's `slices`. */
export const IOMMUFD_SLICES: readonly SliceDef<unknown>[] = Object.freeze([
  IOMMUFD_OBJECTS,
  IOMMUFD_PAGES,
  IOMMUFD_ATTACHED,
  IOMMUFD_ATTACHMENTS,
  IOMMUFD_CTX,
]);

/**
 * Reads one of iommufd's slices.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param def - the slice.
 * @returns its value in the world.
 */
export function readIommufdSlice<T>(m: Machine, w: World, def: SliceDef<T>): T {
  return readSlice(m, w, IOMMUFD, def);
}

/**
 * Writes one slice, and the others as they are: a world holds all of
 * iommufd's slices or none, so that a slice never written and one
 * written back to its initial value cannot tell two equal worlds apart.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param def - the slice.
 * @param value - its new value.
 * @returns the new world.
 */
export function writeIommufdSlice<T>(m: Machine, w: World, def: SliceDef<T>, value: T): World {
  let world = writeSlice(m, w, IOMMUFD, def, value);
  for (const other of IOMMUFD_SLICES) {
    if (other !== def)
      world = writeSlice(m, world, IOMMUFD, other, readIommufdSlice(m, world, other));
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
  return readIommufdSlice(m, w, IOMMUFD_OBJECTS);
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
 * @kernel drivers/iommu/iommufd/main.c iommufd_object_finalize
 */
export function putObject(m: Machine, w: World, id: number, object: IommufdObject): World {
  return writeIommufdSlice(m, w, IOMMUFD_OBJECTS, objectsOf(m, w).set(id, object));
}

/**
 * Removes an object (`iommufd_object_remove`); its id becomes free.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the object id.
 * @returns the new world.
 * @kernel drivers/iommu/iommufd/main.c iommufd_object_remove
 */
export function removeObject(m: Machine, w: World, id: number): World {
  return writeIommufdSlice(m, w, IOMMUFD_OBJECTS, objectsOf(m, w).delete(id));
}

/**
 * An IOAS by id (`iommufd_get_ioas`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - the IOAS id.
 * @returns the IOAS, or undefined (no object, or one of another kind).
 * @kernel drivers/iommu/iommufd/iommufd_private.h iommufd_get_ioas
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
 * comes, goes or moves through `setArea` (io_pagetable.ts), which keeps the pages'
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
 * @kernel drivers/iommu/iommufd/ioas.c iommufd_ioas_alloc
 */
export function emptyIoas(): IommufdIoasObject {
  return {
    kind: "ioas",
    areas: PTable.indexed(iommufdAreaCodec, areaIndex),
    domains: [],
    // iopt_init_table: software tables have no alignment restriction.
    iovaAlignment: 1n,
    disableLargePages: false,
    allowed: [],
    testReserved: [],
  };
}

/**
 * `iopt->area_itree`: the areas by IOVA. Byte granule: with no domain an
 * IOAS maps any length at any IOVA (alignment 1), and the allocator's hole
 * search must see exact ends.
 */
const areaIndex = iovaIndex<IommufdArea>(
  (a) => a.iova,
  (a) => a.length,
  1n,
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

/**
 * The slot, in an IOAS's area table, of the area that starts at an IOVA,
 * found through the IOVA index.
 *
 * @param ioas - the IOAS.
 * @param iova - the area's first IOVA.
 * @returns the slot, or undefined.
 */
export function slotAt(ioas: IommufdIoasObject, iova: bigint): number | undefined {
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

function deviceView(id: number, o: IommufdDeviceObject): IommufdDevice | undefined {
  if (o.attach === null) return undefined;
  return { id, device: o.device, ...o.attach };
}

/** A bound device object with its id (`df->idev`). */
export interface BoundDevice {
  /** Its object id (`out_devid`). */
  readonly id: number;
  /** The object. */
  readonly object: IommufdDeviceObject;
}

/**
 * Every bound device, in bind order: a scan of the few devices.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the device objects with their ids.
 */
export function boundDevices(m: Machine, w: World): readonly BoundDevice[] {
  const objects = objectsOf(m, w);
  return readIommufdSlice(m, w, IOMMUFD_ATTACHED).map((id) => {
    const o = objects.get(id);
    if (o?.kind !== "device") throw new Error(`iommufd: bound ${id} is no device object`);
    return { id, object: o };
  });
}

/**
 * The device object of a device, attached or not, by its topology name.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param device - the device.
 * @returns it, or undefined when the device is not bound.
 */
export function boundNamed(m: Machine, w: World, device: string): BoundDevice | undefined {
  return boundDevices(m, w).find((d) => d.object.device === device);
}

/**
 * Every attached device, in bind order: a scan of the few devices.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the devices.
 */
export function attachedDevices(m: Machine, w: World): readonly IommufdDevice[] {
  const out: IommufdDevice[] = [];
  for (const d of boundDevices(m, w)) {
    const v = deviceView(d.id, d.object);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/**
 * The attached device of a device, by its topology name (the VFIO cdev's
 * `df->idev` once attached).
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
 * @returns the attached devices, in bind order.
 */
export function devicesOf(m: Machine, w: World, ioas: number): readonly IommufdDevice[] {
  return attachedDevices(m, w).filter((d) => d.ioas === ioas);
}

/**
 * Adds a device object (`iommufd_device_bind`) after the bound ones.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - its object id.
 * @param device - the object.
 * @returns the new world.
 */
export function addDevice(m: Machine, w: World, id: number, device: IommufdDeviceObject): World {
  const world = putObject(m, w, id, device);
  return writeIommufdSlice(m, world, IOMMUFD_ATTACHED, [
    ...readIommufdSlice(m, world, IOMMUFD_ATTACHED),
    id,
  ]);
}

/**
 * Removes a device object (`iommufd_device_unbind`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param id - its object id.
 * @returns the new world.
 */
export function removeDevice(m: Machine, w: World, id: number): World {
  const world = removeObject(m, w, id);
  const attached = readIommufdSlice(m, world, IOMMUFD_ATTACHED).filter((x) => x !== id);
  return writeIommufdSlice(m, world, IOMMUFD_ATTACHED, attached);
}

/**
 * iommufd's state as plain arrays, for inspection (tests, renderers, the
 * explorer's invariants). O(everything): not for the driver's own paths.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the state; an empty context before the first ioctl.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   IOMMU_IOAS_ALLOC, boot, iommuIoasAlloc, referenceMachine, step,
 * } from "@dmabuf-ref/core";
 * import { iommufdImporter, iommufdStateOf } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [iommufdImporter()] });
 * assert.deepEqual(iommufdStateOf(m, boot(m)).ioas, []);
 * const buffer = iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 });
 * const action = { op: "ioctl", number: IOMMU_IOAS_ALLOC, buffer };
 * const r = step(m, boot(m), { kind: "driver", driver: "iommufd", action });
 * // IOMMU_IOAS_ALLOC made IOAS 1: no areas, and no domain until a device attaches.
 * const ioas = iommufdStateOf(m, r.world).ioas;
 * assert.deepEqual(ioas.map((i) => [i.id, i.areas.length, i.domains.length]), [[1, 0, 0]]);
 * ```
 * @category Drivers
 */
export function iommufdStateOf(m: Machine, w: World): IommufdState {
  const ioas: IommufdIoas[] = [];
  const hwpts: IommufdHwpt[] = [];
  for (const [id, o] of objectsOf(m, w).entries()) {
    if (o.kind === "ioas") ioas.push({ id, areas: areasOf(o), domains: o.domains });
    if (o.kind === "hwpt") hwpts.push({ id, ioas: o.ioas, domain: o.domain });
  }
  const pages = [...readIommufdSlice(m, w, IOMMUFD_PAGES).entries()].map(([id, p]) => ({
    id,
    pages: p,
  }));
  const bound = boundDevices(m, w).map((d) => ({ id: d.id, device: d.object.device }));
  return { ioas, pages, devices: attachedDevices(m, w), hwpts, bound };
}
