import { iommufdNote } from "./outcome.js";
/*
 * device.c: devices, the HWPTs they attach through, and access objects.
 * Models `iommufd_device_attach` / `iommufd_device_detach` (the VFIO cdev's
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT / VFIO_DEVICE_DETACH_IOMMUFD_PT),
 * `iommufd_device_auto_get_domain` (share the IOAS's HWPT_PAGING or make
 * one, whose new domain `iopt_table_add_domain` fills) and
 * `iommufd_access_rw` (over pages.c's `iopt_pages_rw_access`).
 */
import {
  blocked,
  deviceIndex,
  done,
  emptyDomain,
  endGrants,
  err,
  failed,
  hex,
  kernelError,
  ok,
} from "@dmabuf-ref/core";
import type {
  Errno,
  Machine,
  PhysVec,
  Result,
  StepOutcome,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { ULONG_MAX } from "./constants.js";
import { grantArea } from "./grants.js";
import { DEVICE_RESERVATIONS, intersects } from "./io_pagetable.js";
import {
  addDevice,
  areaContaining,
  areaEntriesOf,
  areasOf,
  attachedDevices,
  deviceNamed,
  devicesOf,
  findIoas,
  mustIoas,
  nextObjectId,
  putIoas,
  putObject,
  removeDevice,
  removeObject,
} from "./objects.js";
import {
  areaChunks,
  dmabufPages,
  fillArea,
  mustPages,
  syncCoreFills,
  unfillArea,
} from "./pages.js";

/** Options of the `attach-device` op. */
export interface AttachDeviceOptions {
  /**
   * Give the device a domain of its own instead of sharing the IOAS's first
   * one (as `IOMMU_HWPT_ALLOC` + attach to that HWPT does). Default: share,
   * as the kernel's automatic domain reuses a compatible HWPT of the IOAS.
   */
  readonly newDomain?: boolean;
}

/** A domain added to an IOAS and filled, or why not: the failed or blocked fill as it came. */
type Added =
  | {
      readonly status: "done";
      readonly world: World;
      readonly domain: number;
      readonly hwpt: number;
      readonly events: TraceEvent[];
    }
  | Exclude<StepOutcome, { status: "done" }>;

function addDomain(m: Machine, w: World, ioas: number, reserved: readonly number[]): Added {
  const domain = w.domains.lowestFreeId();
  const next = w;
  let world: World = {
    ...next,
    domains: next.domains.set(domain, emptyDomain()),
  };
  const io = mustIoas(m, world, ioas);
  world = putIoas(m, world, ioas, { ...io, domains: [...io.domains, domain] });
  // The domain is a HWPT_PAGING object: it takes the lowest free object id.
  const hwpt = nextObjectId(m, world, reserved);
  world = putObject(m, world, hwpt, { kind: "hwpt", ioas, domain });
  const events: TraceEvent[] = [
    iommufdNote(`IOAS ${ioas}: new IOMMU domain ${domain} (HWPT ${hwpt})`),
  ];
  for (const area of areasOf(io)) {
    const filled = fillArea(m, world, ioas, area, domain);
    if (filled.status !== "done") return filled;
    world = filled.world;
    events.push(...filled.events);
  }
  return { status: "done", world, domain, hwpt, events };
}

/**
 * The HWPT_PAGING object of an IOAS's domain: the one the devices attached
 * through that domain name (every domain of an IOAS has one, made with it
 * and destroyed with its last device).
 */
function hwptOf(m: Machine, w: World, ioas: number, domain: number): number {
  const user = devicesOf(m, w, ioas).find((d) => d.domain === domain);
  if (user === undefined)
    throw new Error(`iommufd: domain ${domain} of IOAS ${ioas} has no device`);
  return user.hwpt;
}

/**
 * Attaches a device to an IOAS: the VFIO cdev `VFIO_DEVICE_ATTACH_IOMMUFD_PT`
 * path (not a uAPI struct here). The device must exist in the topology and
 * sit behind an IOMMU (`EINVAL`), the IOAS must exist (`ENOENT`). The first
 * device reserves the MSI window and the IOVA above the domain aperture;
 * an area already there conflicts (`EBUSY` here; the kernel returns
 * `EADDRINUSE`, which core's errno list lacks). The device's DMA is then
 * translated by an IOMMU domain of the IOAS, replacing its DMA-API domain:
 * a new domain is filled with every live area and maps nothing for revoked
 * ones (kernel-facts §3.5); every live area is granted to the device. A
 * device already attached elsewhere is moved (VFIO replaces the attachment).
 * Areas of the `iommu-domain` type are filled into a new domain by core
 * (kernel-facts §4.4); core's refusal fails the attach and changes nothing.
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
  const refuse = (errno: Errno, message: string): StepOutcome =>
    failed(world, kernelError(errno, message));
  const index = deviceIndex(m, device);
  if (index < 0) return refuse("EINVAL", `no device ${device}`);
  if (m.topology.devices[index]?.iommu !== true) {
    return refuse("EINVAL", `${device} is not behind an IOMMU`);
  }
  const io = findIoas(m, world, ioas);
  if (io === undefined) return refuse("ENOENT", `no IOAS ${ioas}`);
  const old = deviceNamed(m, world, device);
  let w = world;
  const events: TraceEvent[] = [];
  if (old !== undefined) {
    if (old.ioas === ioas && opts.newDomain !== true) return done(world, []);
    const detached = iommufdDetachDevice(m, w, device);
    if (detached.status !== "done") return detached;
    w = detached.world;
    events.push(...detached.events);
  }
  if (devicesOf(m, w, ioas).length === 0) {
    const clash = areasOf(io).find((a) =>
      DEVICE_RESERVATIONS.some((r) =>
        intersects(r, { start: a.iova, last: a.iova + a.length - 1n }),
      ),
    );
    if (clash !== undefined) {
      return refuse(
        "EBUSY",
        `area ${hex(clash.iova)} lies in a range ${device} reserves (EADDRINUSE)`,
      );
    }
  }
  // The bind comes first: the device object takes the lowest free id, then its HWPT.
  const id = nextObjectId(m, w);
  const shared = mustIoas(m, w, ioas).domains[0];
  let domain: number;
  let hwpt: number;
  if (shared === undefined || opts.newDomain === true) {
    const added = addDomain(m, w, ioas, [id]);
    if (added.status === "failed") return failed(world, added.error);
    if (added.status === "blocked") return blocked(world, added.waitFor, added.reason);
    w = added.world;
    domain = added.domain;
    hwpt = added.hwpt;
    events.push(...added.events);
  } else {
    domain = shared;
    hwpt = hwptOf(m, w, ioas, shared);
  }
  const previousDomain = w.deviceDomains.get(index) ?? null;
  w = syncCoreFills(m, { ...w, deviceDomains: w.deviceDomains.set(index, domain) }, domain);
  const current = mustIoas(m, w, ioas);
  let areas = current.areas;
  for (const [slot, area] of areaEntriesOf(current)) {
    const granted = grantArea(m, w, area, [device]);
    w = granted.world;
    areas = areas.set(slot, { ...area, grants: [...area.grants, ...granted.grants] });
  }
  w = putIoas(m, w, ioas, { ...current, areas });
  w = addDevice(m, w, id, { kind: "device", device, ioas, hwpt, domain, previousDomain });
  events.push(
    iommufdNote(`${device} (device ${id}) attached to IOAS ${ioas} through domain ${domain}`),
  );
  return done(w, events);
}

/**
 * Detaches a device from its IOAS (`VFIO_DEVICE_DETACH_IOMMUFD_PT`): a
 * device that is not attached is `EINVAL`. Its grants end, its DMA goes back
 * to the domain it had before, and a domain no other device uses is
 * unfilled (revoked areas are not unmapped twice; core-mapped pairs are
 * unmapped and detached by core, which may sleep on resv: blocked, and
 * retried) and destroyed. With the last device gone, the IOAS's reserved
 * ranges go too.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the device.
 * @returns done, the errno with the world unchanged, or blocked while core
 *   waits for a dma-buf's resv.
 */
export function iommufdDetachDevice(m: Machine, world: World, device: string): StepOutcome {
  const binding = deviceNamed(m, world, device);
  if (binding === undefined)
    return failed(
      world,
      kernelError("EINVAL", () => `${device} is not attached to an IOAS`),
    );
  const index = deviceIndex(m, device);
  let w: World = {
    ...world,
    deviceDomains:
      binding.previousDomain === null
        ? world.deviceDomains.delete(index)
        : world.deviceDomains.set(index, binding.previousDomain),
  };
  const io = mustIoas(m, w, binding.ioas);
  let areas = io.areas;
  for (const [slot, a] of areaEntriesOf(io)) {
    const mine = a.grants.filter((g) => w.grants.get(g)?.device === device);
    w = endGrants(w, mine);
    areas = areas.set(slot, { ...a, grants: a.grants.filter((g) => !mine.includes(g)) });
  }
  w = putIoas(m, w, binding.ioas, { ...io, areas });
  w = removeDevice(m, w, binding.id);
  w = syncCoreFills(m, w, binding.domain);
  const events: TraceEvent[] = [iommufdNote(`${device} detached from IOAS ${binding.ioas}`)];
  if (!attachedDevices(m, w).some((d) => d.domain === binding.domain)) {
    for (const area of areasOf(mustIoas(m, w, binding.ioas))) {
      const unfilled = unfillArea(m, w, binding.ioas, area, binding.domain);
      if (unfilled.status === "failed") return failed(world, unfilled.error);
      if (unfilled.status === "blocked") return blocked(world, unfilled.waitFor, unfilled.reason);
      w = unfilled.world;
      events.push(...unfilled.events);
    }
    const after = mustIoas(m, w, binding.ioas);
    w = putIoas(m, w, binding.ioas, {
      ...after,
      domains: after.domains.filter((d) => d !== binding.domain),
    });
    w = removeObject(m, w, binding.hwpt);
    w = { ...w, domains: w.domains.delete(binding.domain) };
    events.push(iommufdNote(`IOAS ${binding.ioas}: domain ${binding.domain} destroyed`));
  }
  return done(w, events);
}

/**
 * `iommufd_access_rw` through an emulated-device access object attached to
 * an IOAS (`iopt_pages_rw_access`, kernel-facts §3.4): the CPU reads or
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
    const pages = mustPages(m, world, area.pages);
    if (dmabufPages(pages) !== null) {
      return err(
        "EINVAL",
        () => `IOVA ${hex(cursor)} is a dma-buf area: no CPU access through iommufd`,
      );
    }
    const areaLast = area.iova + area.length - 1n;
    const end = areaLast < last ? areaLast : last;
    for (const c of areaChunks(area, pages)) {
      const from = c.iova > cursor ? c.iova : cursor;
      const to = c.iova + c.len - 1n < end ? c.iova + c.len - 1n : end;
      if (from <= to) touched.push({ paddr: c.phys + (from - c.iova), len: to - from + 1n });
    }
    if (end === ULONG_MAX) break;
    cursor = end + 1n;
  }
  return ok(touched);
}
