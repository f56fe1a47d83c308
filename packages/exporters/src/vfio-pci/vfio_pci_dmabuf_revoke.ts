// drivers/vfio/pci/vfio_pci_dmabuf.c as Matt Evans' series v4 extends it
// (kernel-model §2.6, not merged): the two device features that act on a
// dma-buf fd the device exported. Models:
// - `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE` (13): a permanent revoke on
//   request, through the three-state helper `vfio_pci_dma_buf_set_status()`
//   (featureDmaBufRevoke);
// - `VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR` (14): the caching of later mmaps
//   (featureDmaBufMemattr);
// - their argument structs, byte for byte (encodeDmaBufRevokeFeature,
//   encodeDmaBufMemattrFeature).
// Both are -ENOTTY (an unknown feature) under a profile without the series.
import {
  VFIO_DEVICE_FEATURE_MINSZ,
  VFIO_DEVICE_FEATURE_SET,
  kernelError,
  lookupBuf,
  isKernelError,
  parseVfioDeviceFeature,
  returned,
  startRevoke,
  vfioCheckFeature,
  vfioDeviceFeature,
} from "@dmabuf-ref/core";
import type { KernelError, Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import { ioctlFailed } from "./ioctl-outcome.js";
import { holdsMemoryLock } from "./operation.js";
import { vfioOptionsFor } from "./profile-options.js";
import { deviceStateOf, operationsOf } from "./state.js";
import { buffersIdle, privOf, setStateUnderResv, withPriv } from "./vfio_pci_dmabuf.js";

/**
 * `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE = 13` (Matt Evans' series v3+, kernel-model §2.6).
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE = 13;
/**
 * `VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR = 14` (Matt Evans' series v3+, SET only).
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR = 14;
/**
 * `VFIO_DMABUF_MEMATTR_NC`: `pgprot_noncached`, the default caching of a dma-buf mmap.
 *
 * @category uAPI
 */
export const VFIO_DMABUF_MEMATTR_NC = 0;
/**
 * `VFIO_DMABUF_MEMATTR_WC`: `pgprot_writecombine`.
 *
 * @category uAPI
 */
export const VFIO_DMABUF_MEMATTR_WC = 1;

/** `sizeof(struct vfio_device_feature_dma_buf_revoke)`: `{ __s32 dmabuf_fd; }`. */
const REVOKE_SIZE = 4;
/** `sizeof(struct vfio_device_feature_dma_buf_memattr)`: `{ __s32 dmabuf_fd; __u32 memattr; }`. */
const MEMATTR_SIZE = 8;

/**
 * A REVOKE or MEMATTR request as userspace builds it.
 *
 * @category uAPI
 */
export interface DmaBufFdFeatureArgs {
  /** Header flags without the feature index (`VFIO_DEVICE_FEATURE_SET`, `_PROBE`, ...). */
  readonly flags: number;
  /** `dmabuf_fd`, a signed 32-bit fd (the model's fd is the dma-buf id). */
  readonly dmabuf_fd: number;
  /** `argsz`; defaults to the header plus the struct. */
  readonly argsz?: number;
}

function encodeFdFeature(feature: number, a: DmaBufFdFeatureArgs, memattr?: number): Uint8Array {
  const size = memattr === undefined ? REVOKE_SIZE : MEMATTR_SIZE;
  const out = new Uint8Array(VFIO_DEVICE_FEATURE_MINSZ + size);
  out.set(
    vfioDeviceFeature.encode({
      argsz: a.argsz ?? VFIO_DEVICE_FEATURE_MINSZ + size,
      flags: (a.flags | feature) >>> 0,
    }),
  );
  const view = new DataView(out.buffer);
  view.setInt32(VFIO_DEVICE_FEATURE_MINSZ, a.dmabuf_fd, true);
  if (memattr !== undefined) view.setUint32(VFIO_DEVICE_FEATURE_MINSZ + 4, memattr >>> 0, true);
  return out;
}

/**
 * The bytes of `ioctl(VFIO_DEVICE_FEATURE)` with `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE`.
 *
 * @param a - flags, `dmabuf_fd`, optional `argsz`.
 * @returns the header and `struct vfio_device_feature_dma_buf_revoke`, little-endian.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VFIO_DEVICE_FEATURE_SET, vfioDeviceFeature } from "@dmabuf-ref/core";
 * import {
 *   VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE,
 *   encodeDmaBufRevokeFeature,
 * } from "@dmabuf-ref/exporters";
 *
 * // Revoke dma-buf fd 9 for good.
 * const argp = encodeDmaBufRevokeFeature({ flags: VFIO_DEVICE_FEATURE_SET, dmabuf_fd: 9 });
 * assert.equal(argp.length, 8 + 4);
 * assert.deepEqual(vfioDeviceFeature.decode(argp), {
 *   argsz: 12,
 *   flags: VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE,
 * });
 * assert.equal(new DataView(argp.buffer).getInt32(8, true), 9);
 * ```
 * @category uAPI
 */
export function encodeDmaBufRevokeFeature(a: DmaBufFdFeatureArgs): Uint8Array {
  return encodeFdFeature(VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE, a);
}

/**
 * The bytes of `ioctl(VFIO_DEVICE_FEATURE)` with `VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR`.
 *
 * @param a - flags, `dmabuf_fd`, `memattr`, optional `argsz`.
 * @returns the header and `struct vfio_device_feature_dma_buf_memattr`, little-endian.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VFIO_DEVICE_FEATURE_SET, vfioDeviceFeature } from "@dmabuf-ref/core";
 * import { VFIO_DMABUF_MEMATTR_WC, encodeDmaBufMemattrFeature } from "@dmabuf-ref/exporters";
 *
 * // Later mmaps of dma-buf fd 9 are write-combined.
 * const argp = encodeDmaBufMemattrFeature({
 *   flags: VFIO_DEVICE_FEATURE_SET,
 *   dmabuf_fd: 9,
 *   memattr: VFIO_DMABUF_MEMATTR_WC,
 * });
 * assert.equal(vfioDeviceFeature.decode(argp).argsz, 8 + 8);
 * assert.equal(new DataView(argp.buffer).getUint32(12, true), VFIO_DMABUF_MEMATTR_WC);
 * ```
 * @category uAPI
 */
export function encodeDmaBufMemattrFeature(
  a: DmaBufFdFeatureArgs & { readonly memattr: number },
): Uint8Array {
  return encodeFdFeature(VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR, a, a.memattr);
}

/**
 * Whether a feature index is one of the series' and the profile has it.
 *
 * @param m - the machine.
 * @param config - the driver's configuration.
 * @param feature - the feature index.
 * @returns true for 13 with `userRevoke`, 14 with `memattr`.
 */
export function isDmaBufFdFeature(m: Machine, config: VfioPciConfig, feature: number): boolean {
  const o = vfioOptionsFor(m.profile, config);
  return (
    (feature === VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE && o.userRevoke) ||
    (feature === VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR && o.memattr)
  );
}

const NAME = "VFIO_DEVICE_FEATURE";

/** What the shared checks of both features found. */
type Checked =
  | { readonly kind: "probe" }
  | { readonly kind: "buf"; readonly buf: number; readonly memattr: number };

/**
 * The checks REVOKE and MEMATTR share, in the order the series makes them:
 * `vfio_check_feature(SET, sizeof)` (GET `-EINVAL`, PROBE returns 0, a
 * short payload `-EINVAL`), the copy (`-EFAULT`), for MEMATTR an unknown
 * attribute (`-ENOENT`, before the fd is looked up), `dma_buf_get()` (an
 * fd naming no live dma-buf `-EBADF`), and a buffer of another exporter or
 * device `-ENODEV`.
 */
function check(
  config: VfioPciConfig,
  w: World,
  device: string,
  argp: Uint8Array,
  memattr: boolean,
): Checked | KernelError {
  const parsed = parseVfioDeviceFeature(argp);
  if (!parsed.ok) return parsed.error;
  const size = memattr ? MEMATTR_SIZE : REVOKE_SIZE;
  const c = vfioCheckFeature(
    parsed.value.flags,
    parsed.value.dataSize,
    VFIO_DEVICE_FEATURE_SET,
    size,
  );
  if (!c.ok) return c.error;
  if (c.value === "probe") return { kind: "probe" };
  if (argp.length < VFIO_DEVICE_FEATURE_MINSZ + size) {
    return kernelError("EFAULT", "copy_from_user of the feature struct faulted");
  }
  const view = new DataView(argp.buffer, argp.byteOffset, argp.byteLength);
  const fd = view.getInt32(VFIO_DEVICE_FEATURE_MINSZ, true);
  const attr = memattr ? view.getUint32(VFIO_DEVICE_FEATURE_MINSZ + 4, true) : 0;
  if (attr !== 0 && attr !== 1) {
    return kernelError("ENOENT", () => `memattr ${attr} is neither NC (0) nor WC (1)`);
  }
  const b = fd < 0 ? undefined : lookupBuf(w, fd);
  if (b === undefined || isKernelError(b) || b.released) {
    return kernelError("EBADF", () => `dmabuf_fd ${fd} is not an open dma-buf`);
  }
  if (b.exporter !== config.name || privOf(w, fd).vdev !== device) {
    return kernelError("ENODEV", () => `dma-buf ${fd} was not exported by ${device}`);
  }
  return { kind: "buf", buf: fd, memattr: attr };
}

function ok0(
  w: World,
  events: readonly TraceEvent[],
  process: string,
  device: string,
): StepOutcome {
  return returned(
    w,
    [
      ...events,
      { kind: "ioctl", process, target: device, name: NAME, result: { ok: true, ret: 0 } },
    ],
    { ret: 0 },
  );
}

/**
 * `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE` (13, SET; kernel-model §2.6): revokes
 * a dma-buf of this device for good. After the shared checks (see
 * {@link featureDmaBufMemattr}'s order minus the attribute) the series takes
 * `memory_lock` for write and, under it, finds an already PERM_REVOKED
 * buffer `-EBADFD`; a TEMP_REVOKED one becomes PERM under resv without
 * waiting again (the call returns at once); an OK one goes through
 * `vfio_pci_dma_buf_set_status(PERM_REVOKED)`: resv lock, status = PERM,
 * `dma_buf_invalidate_mappings()`, the fence wait, resv unlock, the kref
 * put and `wait_for_completion()` (every importer's unmap), then
 * `unmap_mapping_range()` of the buffer's mmaps.
 *
 * That revoke is core's revoke task, which this step only starts: the
 * call returns 0 once the task is over (a replay settles it before the
 * next call; the explorer keeps the calling thread asleep until the task is
 * gone), and every other actor (an importer's DMA, a MAP_FILE, a CPU access
 * through an mmap, the importers' deferred unmaps) interleaves with its
 * steps, as they do with the kernel's. The task on the device's buffers
 * stands for `memory_lock` held: vfio-pci's own operations (FLR, memory
 * disable, close) wait until it is gone (`buffersIdle`), and so does a
 * second REVOKE on the same device. The PTE zap after the completion wait
 * is not a step of its own: the fault handler already refuses once the
 * status is PERM_REVOKED (step 2 of the task), and the model does not track
 * which PTEs a fault populated before it.
 *
 * While another operation holds `memory_lock`, or a revoke task runs on one
 * of the device's buffers, the call sleeps (`blocked`, world kept); so does
 * the TEMP -> PERM upgrade while someone holds the buffer's resv. A revoke
 * task sleeps in its own steps (resv, fences, unmaps).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device whose fd is used.
 * @param argp - the ioctl's bytes.
 * @param process - the caller.
 * @returns done with `returned.ret` 0 (the revoke task started, its id in
 *   `created`, or the TEMP -> PERM upgrade done), the errno, or blocked.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_core_feature_dma_buf_revoke
 *   vfio_pci_dma_buf_set_status (Matt Evans' series v4)
 */
export function featureDmaBufRevoke(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  argp: Uint8Array,
  process: string,
): StepOutcome {
  const fail = (e: KernelError): StepOutcome => ioctlFailed(w, process, device, NAME, e);
  const c = check(config, w, device, argp, false);
  if ("errno" in c) return fail(c);
  if (c.kind === "probe") return ok0(w, [], process, device);
  const b = lookupBuf(w, c.buf);
  if (isKernelError(b)) return fail(b);
  // scoped_guard(rwsem_write, &vdev->memory_lock): sleeps behind a holder.
  const holder = operationsOf(m, w, config).find(
    (o) => holdsMemoryLock(o.kind) && o.devices.includes(device),
  );
  if (holder !== undefined) {
    return {
      status: "blocked",
      reason: `memory_lock of ${device} is held by ${holder.kind}`,
      waitFor: "lock",
      outstanding: 0,
      world: w,
    };
  }
  if (!buffersIdle(w, config, [device])) {
    return {
      status: "blocked",
      reason: `memory_lock of ${device} is held by a dma-buf revoke in progress`,
      waitFor: "lock",
      outstanding: 0,
      world: w,
    };
  }
  if (b.revoked === "permanent") {
    return fail(kernelError("EBADFD", () => `dma-buf ${c.buf} is already PERM_REVOKED`));
  }
  const note: TraceEvent = {
    kind: "note",
    actor: device,
    text: `DMA_BUF_REVOKE: buf ${c.buf} -> PERM_REVOKED`,
  };
  if (b.revoked === "temporary") {
    if (b.resvHolder !== null) {
      return {
        status: "blocked",
        reason: `resv of dma-buf ${c.buf} is held by ${b.resvHolder}`,
        waitFor: "resv",
        outstanding: 0,
        world: w,
      };
    }
    const r = setStateUnderResv(w, c.buf, `${device}#DMA_BUF_REVOKE`, "permanent");
    return ok0(r.world, [note, ...r.events], process, device);
  }
  const s = startRevoke(w, c.buf, true, "DMA_BUF_REVOKE");
  if (s.status !== "done" || s.created === undefined) {
    return s.status === "failed" ? fail(s.error) : { ...s, world: w };
  }
  // No ioctl event here: the call has not returned yet; it returns 0 when
  // the task is gone (the caller's replay or thread reports that).
  return {
    status: "done",
    world: s.world,
    events: [note, ...s.events],
    returned: { ret: 0 },
    created: s.created,
  };
}

/**
 * `VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR` (14, SET only; kernel-model §2.6):
 * in order, GET `-EINVAL`, PROBE 0, a payload below 8 bytes `-EINVAL`, the
 * copy `-EFAULT`, an attribute other than NC (0) or WC (1) `-ENOENT`, an
 * fd that is no dma-buf `-EBADF`, another device's buffer `-ENODEV`; then
 * the buffer's later mmaps get that caching (existing VMAs keep theirs).
 *
 * @param _m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device whose fd is used.
 * @param argp - the ioctl's bytes.
 * @param process - the caller.
 * @returns done with 0, or the errno.
 */
export function featureDmaBufMemattr(
  _m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  argp: Uint8Array,
  process: string,
): StepOutcome {
  const c = check(config, w, device, argp, true);
  if ("errno" in c) return ioctlFailed(w, process, device, NAME, c);
  if (c.kind === "probe") return ok0(w, [], process, device);
  const world = withPriv(w, c.buf, { ...privOf(w, c.buf), memattr: c.memattr });
  const text = `DMA_BUF_MEMATTR: buf ${c.buf} mmaps ${c.memattr === 1 ? "WC" : "NC"} from now on`;
  return ok0(world, [{ kind: "note", actor: device, text }], process, device);
}

/**
 * Runs feature 13 or 14 on an open device fd (the caller checked
 * {@link isDmaBufFdFeature}); an unknown or closed device fd is `-EBADF`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device.
 * @param feature - 13 or 14.
 * @param argp - the ioctl's bytes.
 * @param process - the caller.
 * @returns the outcome.
 */
export function featureDmaBufFd(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  feature: number,
  argp: Uint8Array,
  process: string,
): StepOutcome {
  if (deviceStateOf(m, w, config, device)?.open !== true) {
    return ioctlFailed(
      w,
      process,
      device,
      NAME,
      kernelError("EBADF", () => `no open fd of ${device}`),
    );
  }
  return feature === VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE
    ? featureDmaBufRevoke(m, w, config, device, argp, process)
    : featureDmaBufMemattr(m, w, config, device, argp, process);
}
