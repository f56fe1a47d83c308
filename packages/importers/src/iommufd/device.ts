/*
 * device.c (and hw_pagetable.c's paging half): devices, the HWPTs they
 * attach through, and access objects. Models `iommufd_device_bind` /
 * `iommufd_device_unbind`, `iommufd_device_attach` / `_replace` /
 * `_detach` (the VFIO cdev's VFIO_DEVICE_ATTACH_IOMMUFD_PT /
 * VFIO_DEVICE_DETACH_IOMMUFD_PT), `iommufd_device_auto_get_domain`,
 * `iommufd_hwpt_paging_alloc` with `iopt_table_add_domain` (the domain's
 * alignment, aperture and fill) and `iommufd_hwpt_paging_destroy` with
 * `iopt_table_remove_domain`, and `iommufd_access_rw` (over pages.c's
 * `iopt_pages_rw_access`). The uAPI handlers (IOMMU_HWPT_ALLOC,
 * IOMMU_GET_HW_INFO, the VFIO cdev ioctls) are in device-uapi.ts.
 */
import {
  blocked,
  deviceIndex,
  done,
  emptyDomain,
  endGrants,
  err,
  hex,
  kernelError,
  ok,
  worldWith,
} from "@dmabuf-ref/core";
import type {
  KernelError,
  Machine,
  PhysVec,
  Result,
  StepOutcome,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { deviceReservedRegions, domainGeometry } from "./config.js";
import type { DomainGeometry } from "./config.js";
import { ULONG_MAX } from "./constants.js";
import { grantArea } from "./grants.js";
import {
  alignmentWithDomain,
  apertureReservations,
  calculateIovaAlignment,
  checkReservable,
} from "./io_pagetable-iova.js";
import {
  addDevice,
  areaContaining,
  areaEntriesOf,
  areasOf,
  attachedDevices,
  boundNamed,
  findIoas,
  mustIoas,
  nextObjectId,
  objectsOf,
  putIoas,
  putObject,
  removeDevice,
  removeObject,
} from "./objects.js";
import type { BoundDevice } from "./objects.js";
import { iommufdNote } from "./outcome.js";
import {
  areaChunks,
  dmabufPages,
  fillArea,
  mustPages,
  syncCoreFills,
  unfillArea,
  unpinIfUnused,
} from "./pages.js";
import { lookedUpPages } from "./pages-pin.js";
import type { IommufdDeviceAttachment, IommufdHwptObject } from "./types.js";

/**
 * Options of the `attach-device` op.
 *
 * @category uAPI
 */
export interface AttachDeviceOptions {
  /**
   * Give the device a new automatic domain instead of sharing the IOAS's
   * (as if no compatible one existed). Default: share, as
   * `iommufd_device_auto_get_domain` reuses an automatic HWPT of the IOAS.
   */
  readonly newDomain?: boolean;
}

/** A step that ended with a value, or the failed or blocked step as it came. */
export type Stepped<T> =
  | {
      readonly status: "done";
      readonly world: World;
      readonly events: readonly TraceEvent[];
      readonly value: T;
    }
  | NotDone;

/** A failed or blocked step. */
export type NotDone = Exclude<StepOutcome, { status: "done" }>;

/**
 * A failure with the given world.
 *
 * @param world - the world to report (the caller's, unchanged).
 * @param error - the errno.
 * @returns the failed arm.
 */
export function failedWith(world: World, error: KernelError): NotDone {
  return { status: "failed", world, error };
}

function passOn(world: World, r: NotDone): NotDone {
  if (r.status !== "blocked") return { ...r, world };
  // Rebuilt, not spread: a blocked outcome's reason may be written only when read.
  const b = blocked(world, r.waitFor, () => r.reason, r.outstanding);
  return b.status === "blocked" ? b : r;
}

/**
 * `iommufd_device_bind`: gives a device a device object (the lowest free
 * object id, `out_devid`). A device the topology does not have, or one not
 * behind an IOMMU, fails the `IOMMU_CAP_CACHE_COHERENCY` check (`EINVAL`).
 * Binding a bound device is the caller's `EINVAL` (VFIO refuses a second
 * bind before it gets here).
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device (topology id).
 * @returns the world with the device object and its id, or the errno.
 * @kernel drivers/iommu/iommufd/device.c iommufd_device_bind
 */
export function bindDevice(
  m: Machine,
  world: World,
  device: string,
): Result<{ readonly world: World; readonly id: number }> {
  const index = deviceIndex(m, device);
  if (index < 0) return err("EINVAL", () => `no device ${device}`);
  if (m.topology.devices[index]?.iommu !== true) {
    return err("EINVAL", () => `${device} is not behind an IOMMU (no cache coherency capability)`);
  }
  if (boundNamed(m, world, device) !== undefined) {
    return err("EINVAL", () => `${device} is already bound`);
  }
  const id = nextObjectId(m, world);
  return ok({ world: addDevice(m, world, id, { kind: "device", device, attach: null }), id });
}

/**
 * `iopt_table_add_domain` for a new HWPT_PAGING of an IOAS (the object is
 * stored under `hwpt`): the alignment rule ({@link alignmentWithDomain}:
 * `EINVAL` for a smallest page above PAGE_SIZE, `EADDRINUSE` when an area
 * does not conform), the aperture reservation (`EADDRINUSE` when an area or
 * allowed range lies outside it), then every area is filled into the new
 * domain (a revoked dma-buf area maps nothing; core may refuse or sleep for
 * the `iommu-domain` type). On success the IOAS lists the domain and has its
 * new alignment; on failure the world is as it was.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param ioas - the IOAS id.
 * @param hwpt - the new HWPT's object id.
 * @param geometry - the domain's page sizes and aperture.
 * @param auto - whether it is an automatic domain.
 * @returns the new domain's id.
 * @kernel drivers/iommu/iommufd/io_pagetable.c iopt_table_add_domain
 */
export function addHwptPaging(
  m: Machine,
  w: World,
  ioas: number,
  hwpt: number,
  geometry: DomainGeometry,
  auto: boolean,
): Stepped<number> {
  const { pgsizeBitmap, aperture } = geometry;
  const alignment = alignmentWithDomain(m, w, ioas, pgsizeBitmap);
  if (!alignment.ok) return failedWith(w, alignment.error);
  const io = mustIoas(m, w, ioas);
  const reservable = checkReservable(io, apertureReservations(aperture));
  if (!reservable.ok) return failedWith(w, reservable.error);
  const domain = w.domains.lowestFreeId();
  let world: World = worldWith(w, { domains: w.domains.set(domain, emptyDomain()) });
  world = putIoas(m, world, ioas, {
    ...io,
    domains: [...io.domains, domain],
    iovaAlignment: alignment.value,
  });
  const object: IommufdHwptObject = { kind: "hwpt", ioas, domain, pgsizeBitmap, aperture, auto };
  world = putObject(m, world, hwpt, object);
  const events: TraceEvent[] = [
    iommufdNote(
      `IOAS ${ioas}: new IOMMU domain ${domain} (HWPT ${hwpt}), IOVA alignment ${hex(alignment.value)}`,
    ),
  ];
  for (const area of areasOf(io)) {
    const filled = fillArea(m, world, ioas, area, domain);
    if (filled.status !== "done") return passOn(w, filled);
    world = filled.world;
    events.push(...filled.events);
  }
  return { status: "done", world, events, value: domain };
}

/**
 * `iommufd_hwpt_paging_destroy` with `iopt_table_remove_domain`: unmaps
 * every area from the domain (revoked areas are not unmapped twice;
 * core-mapped pairs go back to core, which may sleep on resv), drops it
 * from the IOAS, recomputes the IOAS's alignment
 * (`iopt_calculate_iova_alignment`, which can only fall here), removes the
 * HWPT object and frees the domain.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param hwpt - the HWPT object id (no device attached through it).
 * @returns done, or blocked while core waits for a dma-buf's resv.
 * @kernel drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_paging_destroy
 *   drivers/iommu/iommufd/io_pagetable.c iopt_table_remove_domain
 */
export function destroyHwptPaging(m: Machine, w: World, hwpt: number): StepOutcome {
  const o = objectsOf(m, w).get(hwpt);
  if (o?.kind !== "hwpt") throw new Error(`iommufd: ${hwpt} is no HWPT`);
  let world = syncCoreFills(m, w, o.domain);
  const events: TraceEvent[] = [];
  for (const area of areasOf(mustIoas(m, world, o.ioas))) {
    const unfilled = unfillArea(m, world, o.ioas, area, o.domain);
    if (unfilled.status !== "done") return passOn(w, unfilled);
    world = unfilled.world;
    events.push(...unfilled.events);
  }
  const io = mustIoas(m, world, o.ioas);
  world = putIoas(m, world, o.ioas, { ...io, domains: io.domains.filter((d) => d !== o.domain) });
  for (const area of areasOf(io)) world = unpinIfUnused(m, world, area.pages);
  world = removeObject(m, world, hwpt);
  const alignment = calculateIovaAlignment(m, world, o.ioas, io.disableLargePages);
  if (!alignment.ok) throw new Error(`iommufd: removing a domain raised the alignment`);
  world = putIoas(m, world, o.ioas, {
    ...mustIoas(m, world, o.ioas),
    iovaAlignment: alignment.value,
  });
  world = worldWith(world, { domains: world.domains.delete(o.domain) });
  events.push(iommufdNote(`IOAS ${o.ioas}: domain ${o.domain} (HWPT ${hwpt}) destroyed`));
  return done(world, events);
}

/** Whether a device other than `device` is attached through `hwpt`. */
function hwptInUse(m: Machine, w: World, hwpt: number, device: string): boolean {
  return attachedDevices(m, w).some((d) => d.hwpt === hwpt && d.device !== device);
}

/** The HWPT an attach lands on: an existing one, or a new automatic one to make. */
type Target =
  | { readonly kind: "existing"; readonly hwpt: number; readonly object: IommufdHwptObject }
  | { readonly kind: "new-auto"; readonly ioas: number };

function resolveTarget(
  m: Machine,
  w: World,
  ptId: number,
  opts: AttachDeviceOptions,
): Result<Target> {
  const pt = objectsOf(m, w).get(ptId);
  if (pt === undefined) return err("ENOENT", () => `no object ${ptId}`);
  if (pt.kind === "hwpt") return ok({ kind: "existing", hwpt: ptId, object: pt });
  if (pt.kind !== "ioas")
    return err("EINVAL", () => `object ${ptId} is neither an IOAS nor a HWPT`);
  if (opts.newDomain !== true) {
    for (const [id, o] of objectsOf(m, w).entries()) {
      if (o.kind === "hwpt" && o.ioas === ptId && o.auto) {
        return ok({ kind: "existing", hwpt: id, object: o });
      }
    }
  }
  return ok({ kind: "new-auto", ioas: ptId });
}

/**
 * `iommufd_device_attach` / `iommufd_device_replace` for a bound device:
 * `pt_id` names an IOAS (the device shares the IOAS's automatic HWPT, or a
 * new automatic one is made: `iommufd_device_auto_get_domain`) or a HWPT
 * (`IOMMU_HWPT_ALLOC`'s). An unknown id is `ENOENT`, another kind of object
 * `EINVAL`. The device's reserved regions must not cut an area or allowed
 * range of the IOAS (`EADDRINUSE`); a new domain then follows
 * {@link addHwptPaging} (`EINVAL`/`EADDRINUSE`, fill). The device's DMA is
 * translated by the domain from then on and it is granted every live area.
 * Attaching where it already is changes nothing; attaching elsewhere
 * replaces the attachment, and an automatic HWPT nobody uses any more is
 * destroyed. Any failure leaves the world as it was.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param bound - the device's binding.
 * @param ptId - the IOAS or HWPT id.
 * @param opts - share the IOAS's automatic domain (default) or take a new one.
 * @returns the HWPT id written back in `pt_id`, or the errno, or blocked.
 * @kernel drivers/iommu/iommufd/device.c iommufd_device_attach iommufd_device_replace
 *   iommufd_device_auto_get_domain
 */
export function attachBound(
  m: Machine,
  world: World,
  bound: BoundDevice,
  ptId: number,
  opts: AttachDeviceOptions = {},
): Stepped<number> {
  const device = bound.object.device;
  const old = bound.object.attach;
  const target = resolveTarget(m, world, ptId, opts);
  if (!target.ok) return failedWith(world, target.error);
  if (old !== null && target.value.kind === "existing" && target.value.hwpt === old.hwpt) {
    return { status: "done", world, events: [], value: old.hwpt };
  }
  const ioas = target.value.kind === "existing" ? target.value.object.ioas : target.value.ioas;
  let w = world;
  const events: TraceEvent[] = [];
  if (old !== null) w = endDeviceGrants(m, w, device, old.ioas);
  // iopt_table_enforce_dev_resv_regions: the device's regions join the IOAS's reserved tree.
  const reservable = checkReservable(mustIoas(m, w, ioas), deviceReservedRegions(m, device));
  if (!reservable.ok) return failedWith(world, reservable.error);
  let hwpt: number;
  let domain: number;
  if (target.value.kind === "existing") {
    hwpt = target.value.hwpt;
    domain = target.value.object.domain;
  } else {
    hwpt = nextObjectId(m, w);
    const added = addHwptPaging(m, w, ioas, hwpt, domainGeometry(m, device), true);
    if (added.status !== "done") return passOn(world, added);
    w = added.world;
    domain = added.value;
    events.push(...added.events);
  }
  const index = deviceIndex(m, device);
  const previousDomain = old !== null ? old.previousDomain : (w.deviceDomains.get(index) ?? null);
  const attach: IommufdDeviceAttachment = { ioas, hwpt, domain, previousDomain };
  w = putObject(m, w, bound.id, { ...bound.object, attach });
  w = syncCoreFills(m, worldWith(w, { deviceDomains: w.deviceDomains.set(index, domain) }), domain);
  w = grantDevice(m, w, device, ioas);
  events.push(
    iommufdNote(`${device} (device ${bound.id}) attached to IOAS ${ioas} through HWPT ${hwpt}`),
  );
  if (old !== null) {
    const released = releaseHwptUser(m, w, old, device);
    if (released.status !== "done") return passOn(world, released);
    w = released.world;
    events.push(...released.events);
  }
  return { status: "done", world: w, events, value: hwpt };
}

function grantDevice(m: Machine, w: World, device: string, ioas: number): World {
  let world = w;
  const io = mustIoas(m, world, ioas);
  let areas = io.areas;
  for (const [slot, area] of areaEntriesOf(io)) {
    const granted = grantArea(m, world, area, [device]);
    world = granted.world;
    areas = areas.set(slot, { ...area, grants: [...area.grants, ...granted.grants] });
  }
  return putIoas(m, world, ioas, { ...mustIoas(m, world, ioas), areas });
}

function endDeviceGrants(m: Machine, w: World, device: string, ioas: number): World {
  let world = w;
  const io = mustIoas(m, world, ioas);
  let areas = io.areas;
  for (const [slot, a] of areaEntriesOf(io)) {
    const mine = a.grants.filter((g) => world.grants.get(g)?.device === device);
    if (mine.length === 0) continue;
    world = endGrants(world, mine);
    areas = areas.set(slot, { ...a, grants: a.grants.filter((g) => !mine.includes(g)) });
  }
  return putIoas(m, world, ioas, { ...mustIoas(m, world, ioas), areas });
}

/**
 * What `iommufd_hw_pagetable_put` does when a device leaves a HWPT: core's
 * grants of core-mapped pairs follow the devices still there, and an
 * automatic HWPT that no device uses any more is destroyed.
 */
function releaseHwptUser(
  m: Machine,
  w: World,
  old: IommufdDeviceAttachment,
  device: string,
): StepOutcome {
  const world = syncCoreFills(m, w, old.domain);
  const o = objectsOf(m, world).get(old.hwpt);
  if (o?.kind !== "hwpt" || !o.auto || hwptInUse(m, world, old.hwpt, device)) {
    return done(world, []);
  }
  return destroyHwptPaging(m, world, old.hwpt);
}

/**
 * `iommufd_device_detach` (VFIO_DEVICE_DETACH_IOMMUFD_PT) of a bound
 * device: its grants end, its DMA goes back to the domain it had before,
 * and an automatic domain no other device uses is unfilled and destroyed.
 * A device that is not attached is left as it is (VFIO's detach returns 0).
 *
 * @param m - the machine.
 * @param world - the world.
 * @param bound - the device's binding.
 * @returns done, or blocked while core waits for a dma-buf's resv.
 * @kernel drivers/iommu/iommufd/device.c iommufd_device_detach
 */
export function detachBound(m: Machine, world: World, bound: BoundDevice): StepOutcome {
  const old = bound.object.attach;
  if (old === null) return done(world, []);
  const device = bound.object.device;
  const index = deviceIndex(m, device);
  let w: World = worldWith(world, {
    deviceDomains:
      old.previousDomain === null
        ? world.deviceDomains.delete(index)
        : world.deviceDomains.set(index, old.previousDomain),
  });
  w = endDeviceGrants(m, w, device, old.ioas);
  w = putObject(m, w, bound.id, { ...bound.object, attach: null });
  const events: TraceEvent[] = [iommufdNote(`${device} detached from IOAS ${old.ioas}`)];
  const released = releaseHwptUser(m, w, old, device);
  if (released.status !== "done") return passOn(world, released);
  return done(released.world, [...events, ...released.events]);
}

/**
 * The `attach-device` op (the replay's `attach` event): binds the device if
 * it is not bound yet (`iommufd_device_bind`), then attaches it to the IOAS
 * ({@link attachBound}). A device the topology lacks or one not behind an
 * IOMMU is `EINVAL`, an unknown IOAS `ENOENT`; the other errnos are the
 * attach's. A failure leaves the world as it was, binding included.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device (topology id).
 * @param ioas - the IOAS id.
 * @param opts - share the IOAS's domain (default) or take a new one.
 * @returns done, the errno with the world unchanged, or blocked when core
 *   must sleep on a dma-buf's resv to fill the new domain (the caller's
 *   scheduler retries; the kernel sleeps there, it never answers `EAGAIN`).
 */
export function iommufdAttachDevice(
  m: Machine,
  world: World,
  device: string,
  ioas: number,
  opts: AttachDeviceOptions = {},
): StepOutcome {
  let w = world;
  let bound = boundNamed(m, w, device);
  if (bound === undefined) {
    const b = bindDevice(m, w, device);
    if (!b.ok) return failedWith(world, b.error);
    w = b.value.world;
    bound = { id: b.value.id, object: { kind: "device", device, attach: null } };
  }
  if (findIoas(m, w, ioas) === undefined) {
    return failedWith(world, kernelError("ENOENT", `no IOAS ${ioas}`));
  }
  const r = attachBound(m, w, bound, ioas, opts);
  if (r.status !== "done") return passOn(world, r);
  return done(r.world, r.events);
}

/**
 * The `detach-device` op (the replay's `detach` event,
 * VFIO_DEVICE_DETACH_IOMMUFD_PT): a device never bound is `EINVAL`; the
 * device stays bound.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device.
 * @returns done, the errno with the world unchanged, or blocked while core
 *   waits for a dma-buf's resv.
 */
export function iommufdDetachDevice(m: Machine, world: World, device: string): StepOutcome {
  const bound = boundNamed(m, world, device);
  if (bound === undefined) {
    return failedWith(
      world,
      kernelError("EINVAL", () => `${device} is not bound to iommufd`),
    );
  }
  return detachBound(m, world, bound);
}

/**
 * The `unbind-device` op: `vfio_df_unbind_iommufd` when the device's cdev
 * fd closes: detach if attached, then `iommufd_device_unbind` (the device
 * object goes; its id becomes free). A device never bound is `EINVAL`.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device.
 * @returns done, the errno, or blocked.
 * @kernel drivers/vfio/device_cdev.c vfio_df_unbind_iommufd drivers/iommu/iommufd/device.c
 *   iommufd_device_unbind
 */
export function iommufdUnbindDevice(m: Machine, world: World, device: string): StepOutcome {
  const bound = boundNamed(m, world, device);
  if (bound === undefined) {
    return failedWith(
      world,
      kernelError("EINVAL", () => `${device} is not bound to iommufd`),
    );
  }
  const detached = detachBound(m, world, bound);
  if (detached.status !== "done") return detached;
  return done(removeDevice(m, detached.world, bound.id), [
    ...detached.events,
    iommufdNote(`${device} (device ${bound.id}) unbound`),
  ]);
}

/**
 * `iommufd_access_rw` through an emulated-device access object attached to
 * an IOAS (`iopt_pages_rw_access`, kernel-model §3.4): the CPU reads or
 * writes IOVA `[iova, iova + length)` on a device's behalf. Unknown IOAS:
 * `ENOENT`; `length` 0: `EINVAL`; a wrapping range: `EOVERFLOW`; a range not
 * covered by contiguous areas: `ENOENT`; any dma-buf area in it: `EINVAL`
 * (MMIO has no struct page to copy through). World-neutral: it returns the
 * physical ranges the CPU would touch.
 *
 * @param m - the machine.
 * @param world - the world (unchanged).
 * @param ioas - the IOAS id the access object is attached to.
 * @param iova - first IOVA.
 * @param length - bytes.
 * @returns the physical ranges touched, in order, or the errno.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE,
 *   iommuIoasAlloc, iommuIoasMap, boot, referenceMachine, runScript,
 * } from "@dmabuf-ref/core";
 * import { iommufdAccessRw, iommufdImporter } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [iommufdImporter()] });
 * const ioctl = (number: number, buffer: Uint8Array) =>
 *   ({ kind: "driver", driver: "iommufd", action: { op: "ioctl", number, buffer } }) as const;
 * const flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA;
 * const { world } = runScript(m, boot(m), [
 *   ioctl(IOMMU_IOAS_ALLOC, iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 })),
 *   ioctl(IOMMU_IOAS_MAP, iommuIoasMap.encode({ size: iommuIoasMap.size, flags, ioas_id: 1,
 *     __reserved: 0, user_va: 0x7f00_2000_0000n, length: 0x2000n, iova: 0x10_0000n })),
 * ]);
 * // An emulated device reads 0x20 bytes at IOVA 0x10_0ff0: the CPU copies from the VMM's RAM.
 * const r = iommufdAccessRw(m, world, 1, 0x10_0ff0n, 0x20n);
 * assert.ok(r.ok);
 * assert.equal(r.value.reduce((n, v) => n + v.len, 0n), 0x20n);
 * // Past the mapping there is no area: ENOENT.
 * const hole = iommufdAccessRw(m, world, 1, 0x10_2000n, 0x10n);
 * assert.equal(hole.ok ? "ok" : hole.error.errno, "ENOENT");
 * ```
 * @kernel drivers/iommu/iommufd/device.c iommufd_access_rw
 *   drivers/iommu/iommufd/pages.c iopt_pages_rw_access
 * @category Drivers
 */
export function iommufdAccessRw(
  m: Machine,
  world: World,
  ioas: number,
  iova: bigint,
  length: bigint,
): Result<readonly PhysVec[]> {
  const io = findIoas(m, world, ioas);
  if (io === undefined) return err("ENOENT", () => `no IOAS ${ioas}`);
  if (length === 0n) return err("EINVAL", "length is 0");
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return err("EOVERFLOW", "iova + length - 1 wraps");
  const touched: PhysVec[] = [];
  let cursor = iova;
  while (cursor <= last) {
    const area = areaContaining(io, cursor);
    if (area === undefined) return err("ENOENT", () => `IOVA ${hex(cursor)} is not mapped`);
    const stored = mustPages(m, world, area.pages);
    if (dmabufPages(stored) !== null) {
      return err(
        "EINVAL",
        () => `IOVA ${hex(cursor)} is a dma-buf area: no CPU access through iommufd`,
      );
    }
    const pages = lookedUpPages(m, world, stored);
    if (!pages.ok) return pages;
    const areaLast = area.iova + area.length - 1n;
    const end = areaLast < last ? areaLast : last;
    for (const c of areaChunks(area, pages.value)) {
      const from = c.iova > cursor ? c.iova : cursor;
      const to = c.iova + c.len - 1n < end ? c.iova + c.len - 1n : end;
      if (from <= to) touched.push({ paddr: c.phys + (from - c.iova), len: to - from + 1n });
    }
    if (end === ULONG_MAX) break;
    cursor = end + 1n;
  }
  return ok(touched);
}
