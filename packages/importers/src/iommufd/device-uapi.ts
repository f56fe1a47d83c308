/*
 * The uAPI in front of device.ts: hw_pagetable.c's `iommufd_hwpt_alloc`
 * (IOMMU_HWPT_ALLOC), device.c's `iommufd_get_hw_info`
 * (IOMMU_GET_HW_INFO), and the VFIO device cdev ioctls that call
 * `iommufd_device_bind` / `_attach` / `_detach` (drivers/vfio/device_cdev.c:
 * `vfio_df_ioctl_bind_iommufd`, `vfio_df_ioctl_attach_pt`,
 * `vfio_df_ioctl_detach_pt`, with vfio_main.c's rule that a cdev fd answers
 * nothing but BIND_IOMMUFD until it is bound).
 */
import {
  done,
  formatIoctlNumber,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
  iommuHwInfoVtd,
  kernelError,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT_MINSZ,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_BIND_IOMMUFD_MINSZ,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_IOMMUFD_PT_MINSZ,
  VFIO_DEVICE_DETACH_PASID,
  vfioDeviceAttachIommufdPt,
  vfioDeviceBindIommufd,
  vfioDeviceDetachIommufdPt,
} from "@dmabuf-ref/core";
import type {
  Errno,
  iommuHwInfo,
  iommuHwptAlloc,
  iommuHwptInvalidate,
  Machine,
  StepOutcome,
  StructLayout,
  TraceEvent,
  UserWrite,
  World,
} from "@dmabuf-ref/core";
import { domainGeometry } from "./config.js";
import { addHwptPaging, attachBound, bindDevice, detachBound } from "./device.js";
import { boundDevices, boundNamed, nextObjectId, objectsOf } from "./objects.js";
import type { HandlerResult } from "./outcome.js";
import { iommufdNote, refuse, refuseWith, respond } from "./outcome.js";
import { copyToUser } from "./user-copy.js";
import { withFields } from "@dmabuf-ref/core/encoding";

/** The decoded `struct iommu_hwpt_alloc`. */
export type HwptAllocCmd = ReturnType<typeof iommuHwptAlloc.decode>;
/** The decoded `struct iommu_hw_info`. */
export type HwInfoCmd = ReturnType<typeof iommuHwInfo.decode>;

const HWPT_ALLOC_FLAGS =
  IOMMU_HWPT_ALLOC_NEST_PARENT |
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
  IOMMU_HWPT_FAULT_ID_VALID |
  IOMMU_HWPT_ALLOC_PASID;

/** `iommufd_get_device`: the device object with that id, by name. */
function deviceOfId(m: Machine, w: World, id: number): string | undefined {
  return boundDevices(m, w).find((d) => d.id === id)?.object.device;
}

/**
 * `IOMMU_HWPT_ALLOC` (`iommufd_hwpt_alloc`) of a paging domain: a non-zero
 * `__reserved` is `EOPNOTSUPP`; `data_type` NONE with a `data_len`, or
 * another type without one, `EINVAL`; `dev_id` not a device object
 * `ENOENT`; `pt_id` naming no object `EINVAL`. On an IOAS
 * (`iommufd_hwpt_paging_alloc`): unknown flags `EOPNOTSUPP`, and so are
 * what the model's IOMMU lacks (dirty tracking, nesting parents, PASID
 * domains, driver data); then the domain joins the IOAS (alignment
 * `EINVAL`/`EADDRINUSE`, aperture `EADDRINUSE`, fill) as a manual HWPT,
 * which no automatic attach picks and which stays until `IOMMU_DESTROY`;
 * `IOMMU_HWPT_FAULT_ID_VALID` names a fault object the model never has
 * (`ENOENT`, the new HWPT aborted). On a HWPT (a nested domain): the
 * model's IOMMU has none (`EOPNOTSUPP`). Another object kind is `EINVAL`.
 * `out_hwpt_id` gets the new object's id.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_alloc iommufd_hwpt_paging_alloc
 */
export function hwptAlloc(m: Machine, w: World, cmd: HwptAllocCmd): HandlerResult<HwptAllocCmd> {
  if (cmd.__reserved !== 0) return refuse("EOPNOTSUPP", "__reserved must be 0");
  const none = cmd.data_type === IOMMU_HWPT_DATA_NONE;
  if ((none && cmd.data_len !== 0) || (!none && cmd.data_len === 0)) {
    return refuse("EINVAL", "data_len must be 0 exactly when data_type is IOMMU_HWPT_DATA_NONE");
  }
  const device = deviceOfId(m, w, cmd.dev_id);
  if (device === undefined) return refuse("ENOENT", `no device object ${cmd.dev_id}`);
  const pt = objectsOf(m, w).get(cmd.pt_id);
  if (pt === undefined) return refuse("EINVAL", `pt_id ${cmd.pt_id} names no object`);
  if (pt.kind === "hwpt") {
    return refuse("EOPNOTSUPP", "the model's IOMMU allocates no nested domains");
  }
  if (pt.kind !== "ioas")
    return refuse("EINVAL", `object ${cmd.pt_id} is neither an IOAS nor a HWPT`);
  if ((cmd.flags & ~HWPT_ALLOC_FLAGS) !== 0) {
    return refuse("EOPNOTSUPP", `unknown flags 0x${cmd.flags.toString(16)}`);
  }
  const unsupported: [number, string][] = [
    [IOMMU_HWPT_ALLOC_DIRTY_TRACKING, "dirty tracking"],
    [IOMMU_HWPT_ALLOC_NEST_PARENT, "nesting parents"],
    [IOMMU_HWPT_ALLOC_PASID, "PASID domains"],
  ];
  for (const [flag, what] of unsupported) {
    if ((cmd.flags & flag) !== 0) return refuse("EOPNOTSUPP", `the model's IOMMU has no ${what}`);
  }
  if (!none) return refuse("EOPNOTSUPP", "a paging domain takes no driver data");
  const hwpt = nextObjectId(m, w);
  const added = addHwptPaging(m, w, cmd.pt_id, hwpt, domainGeometry(m, device), false);
  if (added.status === "blocked") return { status: "blocked", reason: added.reason };
  if (added.status === "failed") return refuseWith(added.error);
  if ((cmd.flags & IOMMU_HWPT_FAULT_ID_VALID) !== 0) {
    return refuse("ENOENT", `no fault object ${cmd.fault_id}`);
  }
  return respond(added.world, added.events, { ...cmd, out_hwpt_id: hwpt });
}

/**
 * `IOMMU_GET_HW_INFO` (`iommufd_get_hw_info`): flags other than
 * `IOMMU_HW_INFO_FLAG_INPUT_TYPE` or a non-zero `__reserved` byte are
 * `EOPNOTSUPP`; without the flag the requested type is DEFAULT; `dev_id`
 * not a device object is `ENOENT`. The model's IOMMU is Intel VT-d: a type
 * other than DEFAULT or INTEL_VTD is `EOPNOTSUPP`; it reports a
 * `struct iommu_hw_info_vtd` with no flags and zero capability registers
 * (the model describes no register bits). `min(data_len, 24)` bytes go to
 * `data_uptr` and the rest of a larger buffer is zeroed (`EFAULT` if either
 * write faults); `data_len` is set to 24, `out_data_type` to INTEL_VTD,
 * `out_capabilities` and `out_max_pasid_log2` to 0 (no dirty tracking, no
 * PASID).
 *
 * @param m - the machine.
 * @param w - the world (unchanged).
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/device.c iommufd_get_hw_info
 */
export function getHwInfo(m: Machine, w: World, cmd: HwInfoCmd): HandlerResult<HwInfoCmd> {
  if ((cmd.flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) !== 0) {
    return refuse("EOPNOTSUPP", `unknown flags 0x${cmd.flags.toString(16)}`);
  }
  if (cmd.__reserved !== 0 || cmd.__reserved_1 !== 0 || cmd.__reserved_2 !== 0) {
    return refuse("EOPNOTSUPP", "__reserved must be 0");
  }
  const requested =
    (cmd.flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) !== 0
      ? cmd.out_data_type
      : IOMMU_HW_INFO_TYPE_DEFAULT;
  if (deviceOfId(m, w, cmd.dev_id) === undefined) {
    return refuse("ENOENT", `no device object ${cmd.dev_id}`);
  }
  if (requested !== IOMMU_HW_INFO_TYPE_DEFAULT && requested !== IOMMU_HW_INFO_TYPE_INTEL_VTD) {
    return refuse("EOPNOTSUPP", `the VT-d IOMMU reports no info of type ${requested}`);
  }
  const data = iommuHwInfoVtd.encode({ flags: 0, __reserved: 0, cap_reg: 0n, ecap_reg: 0n });
  const copyLen = Math.min(cmd.data_len, data.length);
  const written: UserWrite[] = [];
  if (copyLen > 0) {
    const c = copyToUser(cmd.data_uptr, data.subarray(0, copyLen));
    if (!c.ok) return refuseWith(c.error);
    written.push(c.value);
  }
  if (copyLen < cmd.data_len) {
    const c = copyToUser(cmd.data_uptr + BigInt(copyLen), new Uint8Array(cmd.data_len - copyLen));
    if (!c.ok) return { status: "failed", error: c.error, response: null, written };
    written.push(c.value);
  }
  const response: HwInfoCmd = {
    ...cmd,
    data_len: data.length,
    out_data_type: IOMMU_HW_INFO_TYPE_INTEL_VTD,
    out_capabilities: 0n,
    out_max_pasid_log2: 0,
  };
  return { status: "done", world: w, events: [], response, written };
}

/** Options of the `vfio-cdev-ioctl` op. */
export interface VfioCdevIoctlOptions {
  /**
   * The fd number the calling process holds for the iommufd: BIND's
   * `iommufd` must equal it (`EBADF` otherwise). Absent: any fd >= 0 is
   * taken as the iommufd.
   */
  readonly iommufd?: number | undefined;
  /** The calling process, as the `ioctl` trace event names it (default `"vmm"`). */
  readonly process?: string | undefined;
}

function vfioEvent(
  process: string,
  device: string,
  name: string,
  errno: Errno | null,
  message = "",
): TraceEvent {
  return {
    kind: "ioctl",
    process,
    target: device,
    name,
    result:
      errno === null ? { ok: true, ret: 0 } : { ok: false, error: kernelError(errno, message) },
  };
}

function vfioFailed(
  world: World,
  process: string,
  device: string,
  name: string,
  errno: Errno,
  message: string,
): StepOutcome {
  const error = kernelError(errno, message);
  return {
    status: "failed",
    world,
    error,
    events: [vfioEvent(process, device, name, errno, message)],
  };
}

/** The struct as the kernel leaves it in the user's buffer (at most `buffer.length` bytes). */
function outOf<V>(layout: StructLayout<V>, value: V, buffer: Uint8Array): Uint8Array {
  return layout.encode(value).subarray(0, Math.min(buffer.length, layout.size));
}

function decodePadded<V>(layout: StructLayout<V>, buffer: Uint8Array): V {
  const bytes = new Uint8Array(layout.size);
  bytes.set(buffer.subarray(0, Math.min(buffer.length, layout.size)));
  return layout.decode(bytes);
}

/**
 * `ioctl(device cdev fd, number, buffer)` for the ioctls that hand a VFIO
 * device to iommufd (drivers/vfio/device_cdev.c), each in the kernel's
 * order:
 * - `VFIO_DEVICE_BIND_IOMMUFD`: fewer than 16 bytes readable `EFAULT`;
 *   `argsz` < 16, non-zero `flags` or a negative `iommufd` `EINVAL`; a bound
 *   device `EINVAL`; an `iommufd` that is not the caller's iommufd `EBADF`;
 *   then `iommufd_device_bind` (`EINVAL` for a device not behind an IOMMU);
 *   `out_devid` gets the device object's id.
 * - `VFIO_DEVICE_ATTACH_IOMMUFD_PT`: an unbound fd answers `EINVAL`; fewer
 *   than 12 bytes `EFAULT`; `argsz` < 12 or unknown flags `EINVAL`;
 *   `VFIO_DEVICE_ATTACH_PASID` `EOPNOTSUPP` (the model's devices have no
 *   PASID); then `iommufd_device_attach` / `_replace` (`ENOENT` unknown id,
 *   `EINVAL` wrong kind, `EADDRINUSE`, `EINVAL` alignment, ...); `pt_id`
 *   gets the HWPT id.
 * - `VFIO_DEVICE_DETACH_IOMMUFD_PT`: unbound `EINVAL`; fewer than 8 bytes
 *   `EFAULT`; `argsz` < 8 or unknown flags `EINVAL`; PASID `EOPNOTSUPP`;
 *   then the detach (a device not attached: nothing to do, 0).
 * Any other number is `ENOTTY`. A failure changes nothing.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param device - the VFIO device whose cdev fd is called.
 * @param number - the ioctl number.
 * @param buffer - the user's argument buffer (empty: a NULL pointer).
 * @param opts - the caller's iommufd fd and name.
 * @returns the outcome, with the struct as the kernel left it in `returned.out`.
 * @kernel drivers/vfio/device_cdev.c vfio_df_ioctl_bind_iommufd vfio_df_ioctl_attach_pt
 *   vfio_df_ioctl_detach_pt
 */
export function vfioCdevIoctl(
  m: Machine,
  world: World,
  device: string,
  number: number,
  buffer: Uint8Array,
  opts: VfioCdevIoctlOptions = {},
): StepOutcome {
  const process = opts.process ?? "vmm";
  const bound = boundNamed(m, world, device);
  if (number === VFIO_DEVICE_BIND_IOMMUFD) {
    const name = "VFIO_DEVICE_BIND_IOMMUFD";
    if (buffer.length < VFIO_DEVICE_BIND_IOMMUFD_MINSZ) {
      return vfioFailed(world, process, device, name, "EFAULT", "copy_from_user of minsz faulted");
    }
    const bind = decodePadded(vfioDeviceBindIommufd, buffer);
    if (bind.argsz < VFIO_DEVICE_BIND_IOMMUFD_MINSZ || bind.flags !== 0 || bind.iommufd < 0) {
      return vfioFailed(
        world,
        process,
        device,
        name,
        "EINVAL",
        "argsz below minsz, flags set or a negative fd",
      );
    }
    if (bound !== undefined) {
      return vfioFailed(world, process, device, name, "EINVAL", `${device} is already bound`);
    }
    if (opts.iommufd !== undefined && bind.iommufd !== opts.iommufd) {
      return vfioFailed(
        world,
        process,
        device,
        name,
        "EBADF",
        `fd ${bind.iommufd} is not the iommufd`,
      );
    }
    const b = bindDevice(m, world, device);
    if (!b.ok) return vfioFailed(world, process, device, name, b.error.errno, b.error.message);
    const out = outOf(vfioDeviceBindIommufd, { ...bind, out_devid: b.value.id }, buffer);
    return {
      status: "done",
      world: b.value.world,
      events: [
        iommufdNote(`${device} bound (device ${b.value.id})`),
        vfioEvent(process, device, name, null),
      ],
      returned: { ret: 0, out },
    };
  }
  if (number === VFIO_DEVICE_ATTACH_IOMMUFD_PT || number === VFIO_DEVICE_DETACH_IOMMUFD_PT) {
    const attach = number === VFIO_DEVICE_ATTACH_IOMMUFD_PT;
    const name = attach ? "VFIO_DEVICE_ATTACH_IOMMUFD_PT" : "VFIO_DEVICE_DETACH_IOMMUFD_PT";
    if (bound === undefined) {
      return vfioFailed(
        world,
        process,
        device,
        name,
        "EINVAL",
        `${device}'s cdev fd is not bound yet`,
      );
    }
    const minsz = attach
      ? VFIO_DEVICE_ATTACH_IOMMUFD_PT_MINSZ
      : VFIO_DEVICE_DETACH_IOMMUFD_PT_MINSZ;
    if (buffer.length < minsz) {
      return vfioFailed(world, process, device, name, "EFAULT", "copy_from_user of minsz faulted");
    }
    const head = decodePadded(vfioDeviceDetachIommufdPt, buffer);
    const pasidFlag = attach ? VFIO_DEVICE_ATTACH_PASID : VFIO_DEVICE_DETACH_PASID;
    if (head.argsz < minsz || (head.flags & ~pasidFlag) !== 0) {
      return vfioFailed(
        world,
        process,
        device,
        name,
        "EINVAL",
        "argsz below minsz or unknown flags",
      );
    }
    if ((head.flags & pasidFlag) !== 0) {
      return vfioFailed(
        world,
        process,
        device,
        name,
        "EOPNOTSUPP",
        `${device} has no PASID support`,
      );
    }
    if (!attach) {
      const r = detachBound(m, world, bound);
      if (r.status !== "done") return r;
      return done(r.world, [...r.events, vfioEvent(process, device, name, null)]);
    }
    const cmd = decodePadded(vfioDeviceAttachIommufdPt, buffer);
    const r = attachBound(m, world, bound, cmd.pt_id);
    if (r.status === "blocked") return r;
    if (r.status === "failed")
      return vfioFailed(world, process, device, name, r.error.errno, r.error.message);
    return {
      status: "done",
      world: r.world,
      events: [...r.events, vfioEvent(process, device, name, null)],
      returned: {
        ret: 0,
        out: outOf(vfioDeviceAttachIommufdPt, { ...cmd, pt_id: r.value }, buffer),
      },
    };
  }
  return vfioFailed(
    world,
    process,
    device,
    formatIoctlNumber(number),
    "ENOTTY",
    `ioctl ${formatIoctlNumber(number)} is not modelled on ${device}'s cdev`,
  );
}

/** The decoded `struct iommu_hwpt_invalidate`. */
export type HwptInvalidateCmd = ReturnType<typeof iommuHwptInvalidate.decode>;

/**
 * `IOMMU_HWPT_INVALIDATE` (`iommufd_hwpt_invalidate`): `__reserved`
 * non-zero is `EOPNOTSUPP`; requests (`entry_num`) with no array
 * (`data_uptr` 0) or no entry size is `EINVAL`; `hwpt_id` not an object is
 * `ENOENT`; then only a nested HWPT or a vIOMMU takes user cache
 * invalidations, and the model has neither (a paging HWPT, an IOAS or a
 * device: `EINVAL`). Every exit copies the struct back with `entry_num` the
 * number of requests handled, 0 here. `data_type` is the driver's to check.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome (always a failure, with the struct copied back).
 * @kernel drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_invalidate
 */
export function hwptInvalidate(
  m: Machine,
  w: World,
  cmd: HwptInvalidateCmd,
): HandlerResult<HwptInvalidateCmd> {
  const fail = (errno: Errno, message: string): HandlerResult<HwptInvalidateCmd> => ({
    status: "failed",
    error: kernelError(errno, message),
    response: withFields(cmd, { entry_num: 0 }),
    written: [],
  });
  if (cmd.__reserved !== 0) return fail("EOPNOTSUPP", "__reserved must be 0");
  if (cmd.entry_num !== 0 && (cmd.data_uptr === 0n || cmd.entry_len === 0))
    return fail("EINVAL", `${cmd.entry_num} request(s) but no data_uptr or entry_len`);
  const o = objectsOf(m, w).get(cmd.hwpt_id);
  if (o === undefined) return fail("ENOENT", `no object ${cmd.hwpt_id}`);
  return fail(
    "EINVAL",
    `object ${cmd.hwpt_id} is ${o.kind === "hwpt" ? "a paging HWPT" : o.kind === "ioas" ? "an IOAS" : "a device"}: only a nested HWPT or a vIOMMU takes cache invalidations`,
  );
}
