/*
 * main.c: the iommufd fd's ioctl entry and the object table's uAPI. Models
 * `iommufd_fops_ioctl` with its `iommufd_ioctl_ops` dispatch table (the
 * struct size rule on the way in, the `iommufd_ucmd_respond` copy-back on
 * the way out) and `iommufd_destroy` (IOMMU_DESTROY). The object table's
 * accessors (`xa_alloc` ids, `iommufd_object_finalize`,
 * `iommufd_object_remove`, lookups) are in objects.ts and the handlers'
 * result helpers in outcome.ts: the IOAS handlers this file dispatches to
 * need both, so neither can live here without an import cycle.
 */
import {
  blocked,
  copyIommufdStruct,
  failed,
  findUapiIoctl,
  formatIoctlNumber,
  iommuDestroy,
  iommuHwInfo,
  iommuHwptAlloc,
  iommuHwptInvalidate,
  iommuIoasAllowIovas,
  iommuIoasChangeProcess,
  iommuIoasCopy,
  iommuOption,
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  iommuVdeviceAlloc,
  iommuVfioIoas,
  iommuViommuAlloc,
  kernelError,
  respondIommufdStruct,
  returned,
} from "@dmabuf-ref/core";
import type {
  KernelError,
  Machine,
  StepOutcome,
  StructLayout,
  SyscallReturn,
  TraceEvent,
  UserWrite,
  World,
} from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";
import { match } from "ts-pattern";
import { IOMMUFD } from "./constants.js";
import { destroyHwptPaging } from "./device.js";
import { getHwInfo, hwptAlloc, hwptInvalidate } from "./device-uapi.js";
import { ioasAlloc, ioasMap, ioasMapFile, ioasUnmap, iovaRanges } from "./ioas.js";
import { allowIovas, ioasChangeProcess, ioasCopy, iommuOptionIoctl } from "./ioas-setup.js";
import { removeArea } from "./io_pagetable.js";
import {
  IOMMUFD_CTX,
  areasOf,
  attachedDevices,
  objectsOf,
  readIommufdSlice,
  removeObject,
  writeIommufdSlice,
} from "./objects.js";
import { iommufdTestCmd } from "./selftest.js";
import { vfioIoas } from "./vfio_compat.js";
import { vdeviceAlloc, viommuAlloc } from "./viommu.js";
import type { IoctlCall, UserRegion } from "./user-copy.js";
import type { HandlerResult } from "./outcome.js";
import { refuse, respond } from "./outcome.js";

/** `IOMMUFD_CMD_BASE`: the first command number of iommufd's dispatch table. */
const IOMMUFD_CMD_BASE = 0x80;
/** The last command number of the table (`IOMMUFD_CMD_HW_QUEUE_ALLOC`, 0x94). */
const IOMMUFD_CMD_LAST = 0x94;

/**
 * Options of the `ioctl` op.
 *
 * @category uAPI
 */
export interface IoctlOptions {
  /** The calling process, as the `ioctl` trace event names it (default `"vmm"`). */
  readonly process?: string | undefined;
  /**
   * User memory the caller filled before the call, which the kernel may
   * read through the struct's pointers (`IOMMU_IOAS_ALLOW_IOVAS`' ranges);
   * a read outside it faults (`EFAULT`).
   */
  readonly user?: readonly UserRegion[] | undefined;
}

interface IoctlEntry {
  readonly name: string;
  readonly number: number;
  run(
    m: Machine,
    world: World,
    buffer: Uint8Array,
    process: string,
    user: readonly UserRegion[],
  ): StepOutcome;
}

function ioctlEvent(process: string, name: string, error: KernelError | null): TraceEvent {
  return {
    kind: "ioctl",
    process,
    target: IOMMUFD,
    name,
    result: error === null ? { ok: true, ret: 0 } : { ok: false, error },
  };
}

/**
 * What the kernel copied back to userspace: the struct (`iommufd_ucmd_respond`:
 * `min(size, sizeof)` bytes) and other user memory; `written` only when non-empty.
 */
function copiedBack(out: Uint8Array | undefined, written: readonly UserWrite[]): SyscallReturn {
  return {
    ret: 0,
    ...(out === undefined ? {} : { out }),
    ...(written.length === 0 ? {} : { written }),
  };
}

/**
 * A failed ioctl: the errno, the same world, the `ioctl` event reporting the
 * error and, when the kernel copied something back before failing
 * (`IOMMU_IOAS_IOVA_RANGES`' `EMSGSIZE`), what it copied.
 */
function failedOutcome(
  world: World,
  process: string,
  name: string,
  error: KernelError,
  out: Uint8Array | undefined,
  written: readonly UserWrite[],
): StepOutcome {
  const events = [ioctlEvent(process, name, error)];
  return out === undefined && written.length === 0
    ? failed(world, error, events)
    : { status: "failed", error, world, events, returned: copiedBack(out, written) };
}

function defineIoctl<V>(
  name: string,
  layout: StructLayout<V>,
  handler: (m: Machine, w: World, cmd: V, call: IoctlCall) => HandlerResult<V>,
): IoctlEntry {
  const info = findUapiIoctl(name);
  const minSize = info?.minSize;
  if (info === undefined || minSize === undefined) throw new Error(`no iommufd ioctl ${name}`);
  return {
    name,
    number: info.number,
    run(m, world, buffer, process, user) {
      const copied = copyIommufdStruct(layout, minSize, buffer);
      if (!copied.ok) return failedOutcome(world, process, name, copied.error, undefined, []);
      const { value, userSize } = copied.value;
      return match(handler(m, world, value, { process, user }))
        .returnType<StepOutcome>()
        .with({ status: "done" }, (r) =>
          returned(
            r.world,
            [...r.events, ioctlEvent(process, name, null)],
            copiedBack(respondIommufdStruct(layout, r.response, userSize), r.written),
          ),
        )
        .with({ status: "failed" }, (r) => {
          const outcome = failedOutcome(
            world,
            process,
            name,
            r.error,
            r.response === null ? undefined : respondIommufdStruct(layout, r.response, userSize),
            r.written,
          );
          return r.committed === undefined || outcome.status !== "failed"
            ? outcome
            : withFields(outcome, {
                committed: {
                  world: r.committed.world,
                  events: [...r.committed.events, ...(outcome.events ?? [])],
                },
              });
        })
        .with({ status: "blocked" }, (r) => blocked(world, "resv", r.reason))
        .exhaustive();
    },
  };
}

const IOCTLS: readonly IoctlEntry[] = [
  defineIoctl("IOMMU_DESTROY", iommuDestroy, destroyObject),
  defineIoctl("IOMMU_IOAS_ALLOC", iommuIoasAlloc, ioasAlloc),
  defineIoctl("IOMMU_IOAS_IOVA_RANGES", iommuIoasIovaRanges, iovaRanges),
  defineIoctl("IOMMU_IOAS_MAP", iommuIoasMap, ioasMap),
  defineIoctl("IOMMU_IOAS_UNMAP", iommuIoasUnmap, ioasUnmap),
  defineIoctl("IOMMU_IOAS_MAP_FILE", iommuIoasMapFile, ioasMapFile),
  defineIoctl("IOMMU_IOAS_ALLOW_IOVAS", iommuIoasAllowIovas, allowIovas),
  defineIoctl("IOMMU_IOAS_COPY", iommuIoasCopy, ioasCopy),
  defineIoctl("IOMMU_OPTION", iommuOption, iommuOptionIoctl),
  defineIoctl("IOMMU_HWPT_ALLOC", iommuHwptAlloc, hwptAlloc),
  defineIoctl("IOMMU_GET_HW_INFO", iommuHwInfo, getHwInfo),
  defineIoctl("IOMMU_VFIO_IOAS", iommuVfioIoas, vfioIoas),
  defineIoctl("IOMMU_HWPT_INVALIDATE", iommuHwptInvalidate, hwptInvalidate),
  defineIoctl("IOMMU_VIOMMU_ALLOC", iommuViommuAlloc, viommuAlloc),
  defineIoctl("IOMMU_VDEVICE_ALLOC", iommuVdeviceAlloc, vdeviceAlloc),
  defineIoctl("IOMMU_IOAS_CHANGE_PROCESS", iommuIoasChangeProcess, ioasChangeProcess),
  // CONFIG_IOMMUFD_TEST: iommufdTestCmd answers ENOTTY without the selftest mock.
  {
    name: "IOMMU_TEST_CMD",
    number: findUapiIoctl("IOMMU_TEST_CMD")?.number ?? 0,
    run: (m, world, buffer, process) => iommufdTestCmd(m, world, buffer, process),
  },
];

/**
 * `ioctl(iommufd, number, buffer)`: the iommufd uAPI entry point
 * (`iommufd_fops_ioctl`, kernel-model §3.1). Dispatches on the ioctl number
 * (an unmodelled or unknown number is `ENOTTY`), applies the size rule of
 * {@link copyIommufdStruct} (`size` below the ioctl's `min_size`: `EINVAL`;
 * non-zero bytes past the kernel's struct: `E2BIG`), runs the command and
 * copies the struct back with {@link respondIommufdStruct}.
 *
 * Modelled: `IOMMU_DESTROY`, `IOMMU_IOAS_ALLOC`, `IOMMU_IOAS_ALLOW_IOVAS`,
 * `IOMMU_IOAS_COPY`, `IOMMU_IOAS_IOVA_RANGES`, `IOMMU_IOAS_MAP`,
 * `IOMMU_IOAS_UNMAP`, `IOMMU_OPTION`, `IOMMU_VFIO_IOAS`, `IOMMU_HWPT_ALLOC`,
 * `IOMMU_GET_HW_INFO`, `IOMMU_HWPT_INVALIDATE`, `IOMMU_IOAS_MAP_FILE`,
 * `IOMMU_VIOMMU_ALLOC`, `IOMMU_VDEVICE_ALLOC` (no IOMMU driver of the model
 * has vIOMMUs), `IOMMU_IOAS_CHANGE_PROCESS`, and `IOMMU_TEST_CMD`'s ops
 * where the machine has the selftest mock (`iommufdTestCmd`). A failed call returns the kernel's errno and the
 * same World, with its `ioctl` trace event (and, for `IOMMU_IOAS_IOVA_RANGES`'
 * `EMSGSIZE`, what was copied back before failing, in `returned`); a call
 * that would sleep on a dma-buf's resv is `blocked` with `waitFor: "resv"`.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param ioctlNumber - e.g. `IOMMU_IOAS_MAP_FILE` (0x3b8f).
 * @param buffer - the user's argument struct, starting with its `u32 size`.
 * @param opts - who calls, for the trace.
 * @returns core's step outcome: done with the new world, the events (ending
 *   with the `ioctl` event) and `returned` (`ret` 0, the struct copied back in
 *   `out`, other user memory written in `written`); failed; or blocked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   IOMMU_IOAS_ALLOC, boot, iommuIoasAlloc, referenceMachine, step,
 * } from "@dmabuf-ref/core";
 * import { iommufdImporter } from "@dmabuf-ref/importers";
 *
 * // Userspace reaches iommufdIoctl through iommufd's `ioctl` driver op.
 * const m = referenceMachine({ importers: [iommufdImporter()] });
 * const alloc = (size: number) => {
 *   const buffer = iommuIoasAlloc.encode({ size, flags: 0, out_ioas_id: 0 });
 *   const action = { op: "ioctl", number: IOMMU_IOAS_ALLOC, buffer };
 *   return step(m, boot(m), { kind: "driver", driver: "iommufd", action });
 * };
 * const r = alloc(12);
 * assert.ok(r.status === "done" && r.returned?.out !== undefined);
 * assert.equal(r.returned.ret, 0);
 * assert.equal(iommuIoasAlloc.decode(r.returned.out).out_ioas_id, 1);
 * // A `size` below the struct's minimum is EINVAL.
 * const bad = alloc(4);
 * assert.equal(bad.status === "failed" ? bad.error.errno : bad.status, "EINVAL");
 * ```
 * @kernel drivers/iommu/iommufd/main.c iommufd_fops_ioctl
 */
export function iommufdIoctl(
  m: Machine,
  world: World,
  ioctlNumber: number,
  buffer: Uint8Array,
  opts: IoctlOptions = {},
): StepOutcome {
  const process = opts.process ?? "vmm";
  const entry = IOCTLS.find((e) => e.number === ioctlNumber);
  if (entry === undefined) {
    const name = formatIoctlNumber(ioctlNumber);
    // iommufd_fops_ioctl reads the leading u32 size of any command whose
    // _IOC_NR falls in its table before it compares the whole number.
    const nr = ioctlNumber & 0xff;
    if (nr >= IOMMUFD_CMD_BASE && nr <= IOMMUFD_CMD_LAST && buffer.length < 4) {
      const error = kernelError("EFAULT", "get_user of the leading u32 size faulted");
      return failedOutcome(world, process, name, error, undefined, []);
    }
    // Below the table's base (and past its end) the kernel hands the number
    // to the VFIO container compatibility, iommufd_vfio_ioctl: not modelled.
    const compat = nr < IOMMUFD_CMD_BASE ? " (VFIO container compatibility)" : "";
    const error = kernelError("ENOTTY", () => `ioctl ${name}${compat} is not modelled`);
    return failedOutcome(world, process, name, error, undefined, []);
  }
  return entry.run(m, world, buffer, process, opts.user ?? []);
}

/** The decoded `struct iommu_destroy`. */
export type DestroyCmd = ReturnType<typeof iommuDestroy.decode>;

/**
 * `IOMMU_DESTROY` (`iommufd_object_remove`): an unknown id is `ENOENT`; an
 * object someone else still holds is `EBUSY` (its users count is not one):
 * a device object (its VFIO binding holds it until unbind), a HWPT with a
 * device attached through it, an IOAS that a HWPT (automatic or not) still
 * maps. A HWPT nobody uses goes with its domain (`iopt_table_remove_domain`:
 * the IOAS's alignment is recomputed); an IOAS goes with its areas
 * (`iopt_unmap_all`, which releases their pages and dma-buf attachments).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/main.c iommufd_destroy
 */
export function destroyObject(m: Machine, w: World, cmd: DestroyCmd): HandlerResult<DestroyCmd> {
  const o = objectsOf(m, w).get(cmd.id);
  if (o === undefined) return refuse("ENOENT", `no object ${cmd.id}`);
  if (o.kind === "device") {
    return refuse("EBUSY", `object ${cmd.id} is a device: it goes with its unbind`);
  }
  if (o.kind === "hwpt") {
    if (attachedDevices(m, w).some((d) => d.hwpt === cmd.id)) {
      return refuse("EBUSY", `HWPT ${cmd.id} is in use by an attached device`);
    }
    const destroyed = destroyHwptPaging(m, w, cmd.id);
    if (destroyed.status === "blocked") return { status: "blocked", reason: destroyed.reason };
    if (destroyed.status === "failed") throw new Error(destroyed.error.message);
    return respond(destroyed.world, destroyed.events, cmd);
  }
  for (const other of objectsOf(m, w).values()) {
    if (other.kind === "hwpt" && other.ioas === cmd.id) {
      return refuse("EBUSY", `IOAS ${cmd.id} is still mapped by a HWPT`);
    }
  }
  let world = w;
  const events: TraceEvent[] = [];
  for (const area of areasOf(o)) {
    const removed = removeArea(m, world, cmd.id, area.iova);
    if (removed.status === "blocked") return { status: "blocked", reason: removed.reason };
    if (removed.status === "failed") throw new Error(removed.error.message);
    world = removed.world;
    events.push(...removed.events);
  }
  world = removeObject(m, world, cmd.id);
  // The VFIO compatibility IOAS, if it was this one, is gone with it.
  const ctx = readIommufdSlice(m, world, IOMMUFD_CTX);
  if (ctx.vfioIoas === cmd.id)
    world = writeIommufdSlice(m, world, IOMMUFD_CTX, withFields(ctx, { vfioIoas: null }));
  events.push({ kind: "note", actor: IOMMUFD, text: `IOAS ${cmd.id} destroyed` });
  return respond(world, events, cmd);
}
