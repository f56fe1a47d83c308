// drivers/vfio/pci/vfio_pci_dmabuf.c: the export ioctl, the buffer's private
// data, and the revoke and restore of a device's dma-bufs. Models:
// - `struct vfio_pci_dma_buf` and the `vdev->dmabufs` list (VfioDmaBufPriv,
//   vfioPriv, privOf, withPriv, buffersOf);
// - `validate_dmabuf_input()` (validateDmaRanges) and
//   `vfio_pci_core_fill_phys_vec()` (fillPhysVec);
// - `vfio_pci_core_feature_dma_buf()` (featureDmaBuf);
// - `vfio_pci_dma_buf_move()` (revokeBuffers, restoreBuffers, buffersIdle)
//   and the revoke half of `vfio_pci_dma_buf_cleanup()` (revokeBuffers with
//   `permanent`; its unlink and `vdev = NULL` half is the close stage
//   `cleanupFinish` in vfio_pci_core.ts).
// The `dma_buf_ops` callbacks are in vfio_pci_dmabuf_ops.ts; the dma-buf
// mmap of Matt Evans' series is in vfio_pci_dmabuf_mmap.ts.
import {
  arrayCodec,
  blocked,
  bufWith,
  createDmaBuf,
  decodedWith,
  encodedWith,
  err,
  intCodec,
  kernelError,
  mustBuf,
  nullableCodec,
  ok,
  parseVfioDeviceFeature,
  physVecCodec,
  recordCodec,
  recordViolation,
  resvLock,
  resvUnlock,
  returned,
  setRevoked,
  startRevoke,
  startUnrevoke,
  stringCodec,
  taskOn,
  U64_MAX,
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_MINSZ,
  vfioCheckFeature,
  vfioDeviceFeatureDmaBuf,
  vfioRegionDmaRange,
  worldWith,
} from "@dmabuf-ref/core";
import type {
  Codec,
  DmaBufState,
  Effect,
  Encoded,
  KernelError,
  Machine,
  PhysVec,
  Result,
  StepOutcome,
  TraceEvent,
  VfioRegionDmaRange,
  World,
} from "@dmabuf-ref/core";
import { idsInGroup } from "@dmabuf-ref/core/encoding";
import { barOf, deviceConfig } from "./bars.js";
import { VFIO_PCI_ROM_REGION_INDEX } from "./config.js";
import type { VfioPciConfig } from "./config.js";
import { ioctlFailed } from "./ioctl-outcome.js";
import { holdsMemoryLock } from "./operation.js";
import { PAGE_SIZE } from "./page.js";
import { vfioOptionsFor } from "./profile-options.js";
import { deviceOf, deviceStateOf, operationsOf, vfioMemoryEnabled } from "./state.js";

/**
 * `struct vfio_pci_dma_buf` (kernel-model §2.3), the exporter's `dmabuf->priv`:
 * what VFIO remembers about one exported buffer. The `revoked` state is
 * core's {@link DmaBufState.revoked}; the kref and completion are implicit in
 * core's revoke task, which waits for every mapping to be unmapped.
 *
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf
 * @category Drivers
 */
export interface VfioDmaBufPriv {
  /** `priv->vdev`: the device, or null after `vfio_pci_dma_buf_cleanup()` (only once revoked for good). */
  readonly vdev: string | null;
  /** The BAR the ranges lie in. */
  readonly bar: number;
  /** `priv->phys_vec[]`: CPU physical ranges, in the order userspace gave them. */
  readonly phys: readonly PhysVec[];
  /** `priv->provider`: the p2pdma provider (the exporting PCI function). */
  readonly provider: string;
  /** `priv->nr_ranges`. */
  readonly nrRanges: number;
  /** `open_flags` passed to `dma_buf_export()` and `dma_buf_fd()`. */
  readonly openFlags: number;
  /**
   * `priv->kref` as the revoke drains it (see {@link VfioKrefState}); only
   * the v7.1-rc kernels without c64a647c84f3 leave it drained.
   */
  readonly kref: VfioKrefState;
  /**
   * The caching later mmaps get (Matt Evans' MEMATTR, kernel-model §2.6):
   * `VFIO_DMABUF_MEMATTR_NC` (0, the default) or `_WC` (1).
   */
  readonly memattr: number;
}

/**
 * `priv->kref` with its completion (1a8a5227f229): `"armed"` is the base
 * reference in place (a new buffer, or a revoke that re-armed it at its
 * end, c64a647c84f3); `"drained"` is a revoke of a kernel without that
 * fix, which put the base reference and left it at zero until an
 * un-revoke's `kref_init`; `"underflowed"` is a second drain of a drained
 * buffer: `refcount_t` saturates, nothing completes `comp`, and the waiter
 * sleeps for ever.
 *
 * @category Drivers
 */
export type VfioKrefState = "armed" | "drained" | "underflowed";

const KREF_CODE: Readonly<Record<VfioKrefState, number>> = {
  armed: 0,
  drained: 1,
  underflowed: 2,
};

/** Canonical encoding of a {@link VfioKrefState}: one small integer. */
const krefCodec: Codec<VfioKrefState> = {
  seed: 0xf112,
  encode: (v, out) => void out.push(KREF_CODE[v]),
};

/** How a {@link VfioDmaBufPriv} is stored in the World (`dmabuf->priv`). */
export const vfioDmaBufPrivCodec: Codec<VfioDmaBufPriv> = recordCodec<VfioDmaBufPriv>(
  "vfio_pci_dma_buf",
  {
    vdev: nullableCodec(stringCodec),
    bar: intCodec,
    phys: arrayCodec(physVecCodec),
    provider: stringCodec,
    nrRanges: intCodec,
    openFlags: intCodec,
    kref: krefCodec,
    memattr: intCodec,
  },
);

/**
 * VFIO private data as `dma_buf_export()` stores it.
 *
 * @param priv - the private data.
 * @returns it, with its codec.
 */
export function vfioPriv(priv: VfioDmaBufPriv): Encoded<VfioDmaBufPriv> {
  return encodedWith(vfioDmaBufPrivCodec, priv);
}

/**
 * The VFIO private data of a buffer (a buffer of another exporter is a bug).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the private data.
 */
export function privOf(w: World, buf: number): VfioDmaBufPriv {
  return decodedWith(mustBuf(w, buf).priv, vfioDmaBufPrivCodec, `dma-buf ${buf}'s VFIO priv`);
}

/**
 * Replaces a buffer's private data.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param priv - the new private data.
 * @returns the new world.
 */
export function withPriv(w: World, buf: number, priv: VfioDmaBufPriv): World {
  const b = mustBuf(w, buf);
  return worldWith(w, { bufs: w.bufs.set(buf, bufWith(b, { priv: vfioPriv(priv) })) });
}

/**
 * `vdev->dmabufs`: the live buffers (file not yet released) this driver
 * exported for a device that still point at it, in id order.
 *
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @returns buffer ids and states.
 */
export function buffersOf(
  w: World,
  config: VfioPciConfig,
  device: string,
): [number, DmaBufState][] {
  const out: [number, DmaBufState][] = [];
  // The exporter's own buffers, in id order, through the buffer table's index.
  for (const id of idsInGroup(w.bufs.index.byExporter, config.name)) {
    const b = w.bufs.get(id);
    if (b === undefined || b.released) continue;
    if (privOf(w, id).vdev === device) out.push([id, b]);
  }
  return out;
}

/**
 * `DMA_IOVA_USE_SWIOTLB`: bit 63 of a total length is refused (kernel-model §2.2 step 4).
 *
 * @category Drivers
 */
export const DMA_IOVA_USE_SWIOTLB = 1n << 63n;

/**
 * `validate_dmabuf_input()` (kernel-model §2.2 step 4): every range has a
 * non-zero length and a page-aligned offset and length, else `-EINVAL`; the
 * total (a `size_t`) must not overflow and must not have bit 63 set
 * (`DMA_IOVA_USE_SWIOTLB`), else `-EINVAL`.
 *
 * @param ranges - the copied `dma_ranges[]`.
 * @returns the total length (the future `dmabuf->size`), or the errno.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c validate_dmabuf_input
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateDmaRanges } from "@dmabuf-ref/exporters";
 *
 * const r = validateDmaRanges([
 *   { offset: 0n, length: 0x10000n },
 *   { offset: 0x100000n, length: 0x2000n },
 * ]);
 * assert.deepEqual(r, { ok: true, value: 0x12000n });
 * const unaligned = validateDmaRanges([{ offset: 0x800n, length: 0x1000n }]);
 * assert.equal(unaligned.ok ? undefined : unaligned.error.errno, "EINVAL");
 * ```
 * @category Drivers
 */
export function validateDmaRanges(ranges: readonly VfioRegionDmaRange[]): Result<bigint> {
  let total = 0n;
  for (const [i, r] of ranges.entries()) {
    if (r.length === 0n) return err("EINVAL", () => `dma_ranges[${i}] has length 0`);
    if (r.offset % PAGE_SIZE !== 0n || r.length % PAGE_SIZE !== 0n) {
      return err("EINVAL", () => `dma_ranges[${i}] is not PAGE_ALIGNED`);
    }
    total += r.length;
    if (total > U64_MAX) return err("EINVAL", "the total length overflows size_t");
  }
  if ((total & DMA_IOVA_USE_SWIOTLB) !== 0n) {
    return err("EINVAL", "the total length has bit 63 (DMA_IOVA_USE_SWIOTLB) set");
  }
  return ok(total);
}

/**
 * `vfio_pci_core_fill_phys_vec()` (kernel-model §2.2 step 5): per range in
 * array order, `paddr = bar_start + offset`; overflow of that or of
 * `paddr + length` is `-EOVERFLOW`; a range ending past
 * `bar_start + bar_len` is `-EINVAL`.
 *
 * @param ranges - the validated ranges.
 * @param barStart - `pci_resource_start(pdev, bar)`.
 * @param barLen - `pci_resource_len(pdev, bar)`.
 * @returns the `phys_vec[]`, or the errno.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_core_fill_phys_vec
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fillPhysVec } from "@dmabuf-ref/exporters";
 *
 * // BAR 0: 16 MiB at 256 GiB.
 * const ranges = [{ offset: 0x10000n, length: 0x10000n }];
 * assert.deepEqual(fillPhysVec(ranges, 0x4000000000n, 0x1000000n), {
 *   ok: true,
 *   value: [{ paddr: 0x4000010000n, len: 0x10000n }],
 * });
 * const past = fillPhysVec([{ offset: 0xff0000n, length: 0x20000n }], 0x4000000000n, 0x1000000n);
 * assert.equal(past.ok ? undefined : past.error.errno, "EINVAL");
 * ```
 * @category Drivers
 */
export function fillPhysVec(
  ranges: readonly VfioRegionDmaRange[],
  barStart: bigint,
  barLen: bigint,
): Result<PhysVec[]> {
  const maxAddr = barStart + barLen;
  const out: PhysVec[] = [];
  for (const [i, r] of ranges.entries()) {
    if (r.length === 0n) return err("EINVAL", () => `dma_ranges[${i}] has length 0`);
    const paddr = barStart + r.offset;
    const end = paddr + r.length;
    if (paddr > U64_MAX || end > U64_MAX) {
      return err("EOVERFLOW", () => `dma_ranges[${i}]: BAR start + offset + length overflows`);
    }
    if (end > maxAddr) return err("EINVAL", () => `dma_ranges[${i}] ends past the end of the BAR`);
    out.push({ paddr, len: r.length });
  }
  return ok(out);
}

/**
 * `KMALLOC_MAX_SIZE` on x86-64 (`1 << (MAX_PAGE_ORDER + PAGE_SHIFT)` = 4 MiB):
 * `memdup_array_user()` of a larger `dma_ranges[]` fails with `-ENOMEM`
 * before it copies anything (kernel-model §2.2 step 3).
 *
 * @category Drivers
 */
export const KMALLOC_MAX_SIZE = 4 * 1024 * 1024;

/**
 * `vfio_pci_core_setup_barmap()` under 702809dabdec and 05f2a68b407a
 * (kernel-model §2.2 step 2): the error `vfio_pci_core_enable()` stored for
 * the BAR (an unimplemented BAR counts as empty), reported as `-ENODEV`
 * before the ranges are read. Null where the profile has no such check or
 * the BAR was claimed.
 */
function barResourceError(
  m: Machine,
  config: VfioPciConfig,
  device: string,
  index: number,
): KernelError | null {
  if (!vfioOptionsFor(m.profile, config).barResourceCheck) return null;
  const bar = deviceConfig(config, device).bars.find((b) => b.index === index);
  const stored = bar === undefined ? "ENODEV" : bar.claimed;
  if (stored === true) return null;
  return kernelError(
    "ENODEV",
    () => `vfio_pci_core_setup_barmap(${device}, ${index}) failed: stored ${stored}`,
  );
}

/** What the export ioctl validated: the future buffer's private data and size. */
interface Validated {
  readonly priv: VfioDmaBufPriv;
  readonly size: bigint;
}

const NAME = "VFIO_DEVICE_FEATURE";

/** Steps 1–6 of kernel-model §2.2 on the payload, after the core and feature checks. */
function validate(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  argp: Uint8Array,
): Validated | KernelError {
  const header = VFIO_DEVICE_FEATURE_MINSZ;
  if (argp.length < header + vfioDeviceFeatureDmaBuf.size) {
    return kernelError("EFAULT", "copy_from_user of vfio_device_feature_dma_buf faulted");
  }
  const req = vfioDeviceFeatureDmaBuf.decode(argp, header);
  if (req.nr_ranges === 0) return kernelError("EINVAL", "nr_ranges is 0");
  if (req.flags !== 0)
    return kernelError("EINVAL", () => `flags 0x${req.flags.toString(16)} is not 0`);
  if (req.region_index >= VFIO_PCI_ROM_REGION_INDEX) {
    return kernelError("ENODEV", () => `region_index ${req.region_index} is not a BAR (0-5)`);
  }
  const stored = barResourceError(m, config, device, req.region_index);
  if (stored !== null) return stored;
  const bytes = req.nr_ranges * vfioRegionDmaRange.size;
  if (bytes > KMALLOC_MAX_SIZE) {
    return kernelError(
      "ENOMEM",
      () => `memdup_array_user of ${req.nr_ranges} ranges: kmalloc failed`,
    );
  }
  const first = header + vfioDeviceFeatureDmaBuf.size;
  if (argp.length < first + bytes) {
    return kernelError("EFAULT", () => `memdup_array_user of ${req.nr_ranges} ranges faulted`);
  }
  const ranges: VfioRegionDmaRange[] = [];
  for (let i = 0; i < req.nr_ranges; i++) {
    ranges.push(vfioRegionDmaRange.decode(argp, first + i * vfioRegionDmaRange.size));
  }
  const size = validateDmaRanges(ranges);
  if (!size.ok) return size.error;
  const bar = barOf(m, w, config, device, req.region_index);
  if (bar === undefined || !bar.config.p2pProvider) {
    return kernelError(
      "EINVAL",
      () => `pcim_p2pdma_provider(${device}, ${req.region_index}) is NULL`,
    );
  }
  const phys = fillPhysVec(ranges, bar.region.base, bar.region.size);
  if (!phys.ok) return phys.error;
  if (deviceStateOf(m, w, config, device)?.registered !== true) {
    return kernelError(
      "ENODEV",
      () => `vfio_device_try_get_registration(${device}) failed: unbinding`,
    );
  }
  const vec: PhysVec[] = phys.value;
  return {
    size: size.value,
    priv: {
      vdev: device,
      bar: req.region_index,
      phys: vec,
      provider: device,
      nrRanges: req.nr_ranges,
      openFlags: req.open_flags,
      kref: "armed",
      memattr: 0,
    },
  };
}

/**
 * `VFIO_DEVICE_FEATURE` on a vfio-pci device fd, with the DMA_BUF feature
 * (`vfio_pci_core_feature_dma_buf`), from the user's bytes, in the kernel's
 * order (kernel-model §2.1–2.2, §7.6):
 *
 * 0. an unknown device or a closed fd `-EBADF`; the core's header checks
 *    (`-EFAULT`, `-EINVAL`); a feature other than DMA_BUF `-ENOTTY` (only
 *    DMA_BUF is modelled); no CONFIG_VFIO_PCI_DMABUF `-ENOTTY`; no
 *    `get_dmabuf_phys` `-EOPNOTSUPP` (PROBE too); `vfio_check_feature`:
 *    SET `-EINVAL`, PROBE returns 0 and creates nothing, payload < 16 `-EINVAL`;
 * 1. header copy `-EFAULT`; `nr_ranges == 0` or `flags != 0` `-EINVAL`;
 * 2. `region_index >= 6` `-ENODEV`;
 * 3. `memdup_array_user`: above `KMALLOC_MAX_SIZE` `-ENOMEM`, then a user
 *    buffer shorter than the ranges `-EFAULT` (the ranges are read through
 *    the user pointer, not bounded by `argsz`);
 * 4. a zero or unaligned range, a total that overflows or has bit 63 `-EINVAL`;
 * 5. no p2pdma provider for the BAR (or no such BAR) `-EINVAL`; per range,
 *    `-EOVERFLOW` or past the BAR end `-EINVAL`;
 * 6. the device is unregistering `-ENODEV`;
 * 7. `dma_buf_export()` of size = the sum of the lengths; under
 *    `memory_lock` (blocked while an operation holds it) the buffer is born
 *    revoked when memory is not enabled; `dma_buf_fd()` returns the fd,
 *    which in the model is the buffer's id.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device whose fd is used.
 * @param argp - the user buffer the ioctl argument points at.
 * @param process - the calling process.
 * @returns core's step outcome: done with the new fd (0 for PROBE) in
 *   `returned.ret`, failed with the errno and the `ioctl` event (the world
 *   unchanged), or blocked on `memory_lock` (`waitFor: "lock"`).
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_core_feature_dma_buf
 */
export function featureDmaBuf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  argp: Uint8Array,
  process: string,
): StepOutcome {
  const fail = (e: KernelError): StepOutcome => ioctlFailed(w, process, device, NAME, e);
  const state = deviceStateOf(m, w, config, device);
  if (state === undefined) return fail(kernelError("EBADF", () => `no vfio-pci device ${device}`));
  if (!state.open) return fail(kernelError("EBADF", () => `the fd of ${device} is closed`));
  const parsed = parseVfioDeviceFeature(argp);
  if (!parsed.ok) return fail(parsed.error);
  const { feature, flags, dataSize } = parsed.value;
  if (feature !== VFIO_DEVICE_FEATURE_DMA_BUF) {
    return fail(
      kernelError("ENOTTY", () => `feature ${feature} is not supported (only DMA_BUF is modelled)`),
    );
  }
  if (!config.dmabufConfigured)
    return fail(kernelError("ENOTTY", "CONFIG_VFIO_PCI_DMABUF is not set"));
  if (!deviceConfig(config, device).dmabuf) {
    return fail(kernelError("EOPNOTSUPP", () => `${device} has no pci_ops->get_dmabuf_phys`));
  }
  const check = vfioCheckFeature(
    flags,
    dataSize,
    VFIO_DEVICE_FEATURE_GET,
    vfioDeviceFeatureDmaBuf.size,
  );
  if (!check.ok) return fail(check.error);
  if (check.value === "probe") {
    return returned(
      w,
      [{ kind: "ioctl", process, target: device, name: NAME, result: { ok: true, ret: 0 } }],
      { ret: 0 },
    );
  }
  const v = validate(m, w, config, device, argp);
  if ("errno" in v) return fail(v);
  const holder = operationsOf(m, w, config).find(
    (o) => holdsMemoryLock(o.kind) && o.devices.includes(device),
  );
  if (holder !== undefined) {
    return blocked(w, "lock", () => `memory_lock of ${device} is held by ${holder.kind}`);
  }
  const created = createDmaBuf(w, {
    exporter: config.name,
    owner: device,
    size: v.size,
    revoked: !vfioMemoryEnabled(state),
    priv: vfioPriv(v.priv),
  });
  return returned(
    created.world,
    [
      ...created.events,
      {
        kind: "ioctl",
        process,
        target: device,
        name: NAME,
        result: { ok: true, ret: created.buf },
      },
    ],
    { ret: created.buf },
  );
}

function started(r: StepOutcome, what: string): Effect {
  if (r.status !== "done") {
    const why = r.status === "failed" ? `${r.error.errno} ${r.error.message}` : r.reason;
    throw new Error(`vfio-pci could not start ${what}: ${why}`);
  }
  return { world: r.world, events: r.events };
}

/**
 * `vfio_pci_dma_buf_move(vdev, true)`, or the revoke half of
 * `vfio_pci_dma_buf_cleanup()` when `permanent` (kernel-model §2.5): for each
 * live buffer of each device whose state differs, core's revoke task (lock
 * resv, revoked, invalidate, wait for fences, unlock, wait for unmaps).
 *
 * A temporarily revoked buffer at cleanup depends on the kernel:
 * - 6.19 (no wait for unmaps): its cleanup revokes it again, so importers
 *   get a second invalidate;
 * - with c64a647c84f3 (`krefRearm`): cleanup's `move(true)` skips it; the
 *   unlink stage marks it permanent under resv without a second drain
 *   (also Matt Evans' TEMP -> PERM, which does not wait again);
 * - v7.1-rc without it: cleanup drains it again. A buffer whose kref the
 *   earlier revoke left drained underflows (a `refcount_t` WARN, recorded
 *   as a contract violation) and cleanup's wait never returns; one born
 *   revoked still has its base reference and is drained normally.
 *
 * Without c64a647c84f3 a temporary revoke leaves the kref drained until an
 * un-revoke's `kref_init`.
 *
 * @param m - the machine.
 * @param w - the world; no task may be running on the buffers.
 * @param config - the driver's configuration.
 * @param devices - the devices.
 * @param permanent - close (true) or a temporary trigger.
 * @param by - the trigger, as traces name it.
 * @returns the world with the tasks started, and their events.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_move vfio_pci_dma_buf_cleanup
 */
export function revokeBuffers(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  devices: readonly string[],
  permanent: boolean,
  by: string,
): Effect {
  const o = vfioOptionsFor(m.profile, config);
  let world = w;
  const events: TraceEvent[] = [];
  const drain = (id: number, kref: VfioKrefState): void => {
    const r = started(startRevoke(world, id, permanent, by), `the revoke of buf ${id}`);
    world = r.world;
    events.push(...r.events);
    if (o.waitsForUnmap && !o.krefRearm && !permanent) {
      world = withPriv(world, id, { ...privOf(world, id), kref });
    }
  };
  for (const device of devices) {
    for (const [id, b] of buffersOf(world, config, device)) {
      if (b.revoked === "permanent") continue;
      if (b.revoked === "usable") {
        drain(id, "drained");
        continue;
      }
      if (!permanent) continue;
      if (!o.waitsForUnmap) {
        drain(id, "armed");
        continue;
      }
      if (o.krefRearm) continue;
      const priv = privOf(world, id);
      if (priv.kref === "armed") {
        drain(id, "armed");
        continue;
      }
      world = withPriv(world, id, { ...priv, kref: "underflowed" });
      const v = recordViolation(world, {
        kind: "contract",
        rule: "a dma-buf's kref is put once per get (refcount_t: underflow)",
        actor: device,
        message: `cleanup drained buf ${id} a second time: wait_for_completion() never returns`,
      });
      world = v.world;
      events.push(
        {
          kind: "note",
          actor: device,
          text: `buf ${id}: kref_put underflows, wait_for_completion() sleeps for ever`,
        },
        v.event,
      );
    }
  }
  return { world, events };
}

/**
 * Marks the temporarily revoked buffers of the devices PERM_REVOKED under
 * resv without invalidating or waiting again: cleanup's unlink under
 * c64a647c84f3 (its `move(true)` skipped them) and Matt Evans' TEMP ->
 * PERM. Every buffer's resv must be free ({@link resvFree}).
 *
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device.
 * @param by - the trigger, as traces name it.
 * @returns the world and events.
 */
export function makePermanent(w: World, config: VfioPciConfig, device: string, by: string): Effect {
  let world = w;
  const events: TraceEvent[] = [];
  for (const [id, b] of buffersOf(world, config, device)) {
    if (b.revoked !== "temporary") continue;
    const r = setStateUnderResv(world, id, `${device}#${by}`, "permanent");
    world = r.world;
    events.push(...r.events);
  }
  return { world, events };
}

/**
 * Lock resv, set the revoked state, unlock: one short critical section
 * (the resv must be free).
 *
 * @param w - the world.
 * @param id - the dma-buf id.
 * @param holder - who takes resv, as traces name it.
 * @param state - the new state.
 * @returns the world and the resv and state events.
 */
export function setStateUnderResv(
  w: World,
  id: number,
  holder: string,
  state: "permanent" | "usable",
): Effect {
  const locked = resvLock(w, id, holder);
  if (locked.status !== "done") throw new Error(`vfio-pci: resv of buf ${id} is not free`);
  const set = setRevoked(locked.world, id, state, holder);
  const unlocked = resvUnlock(set.world, id, holder);
  if (unlocked.status !== "done") throw new Error(`vfio-pci: resv of buf ${id} was lost`);
  return { world: unlocked.world, events: [...locked.events, ...set.events, ...unlocked.events] };
}

/**
 * No other holder has the resv of any live buffer of the devices, so a
 * short critical section under it can run now.
 *
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param devices - the devices.
 * @returns true when every resv is free.
 */
export function resvFree(w: World, config: VfioPciConfig, devices: readonly string[]): boolean {
  return devices.every((d) => buffersOf(w, config, d).every(([, b]) => b.resvHolder === null));
}

/**
 * `vfio_pci_dma_buf_move(vdev, false)` at the end of a reset or power path
 * (kernel-model §2.5): only for devices that are open and whose memory is
 * enabled (`__vfio_pci_memory_enabled`), every temporarily revoked buffer
 * comes back. Mainline runs core's un-revoke task (invalidate and wait for
 * fences while still revoked, then clear `revoked`); without
 * c64a647c84f3 it also re-inits the kref. Matt Evans' series from v4
 * (`unrevokeInvalidates: false`) only sets the state back to OK under resv
 * (the stage waits until every resv is free). A permanently revoked buffer
 * never comes back.
 *
 * @param m - the machine.
 * @param w - the world; no task may be running on the buffers.
 * @param config - the driver's configuration.
 * @param devices - the devices.
 * @param by - the trigger, as traces name it.
 * @returns the world with the tasks started, and their events.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_move
 */
export function restoreBuffers(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  devices: readonly string[],
  by: string,
): Effect {
  const o = vfioOptionsFor(m.profile, config);
  let world = w;
  const events: TraceEvent[] = [];
  for (const device of devices) {
    const d = deviceOf(m, world, config, device);
    if (!d.open || !vfioMemoryEnabled(d)) continue;
    for (const [id, b] of buffersOf(world, config, device)) {
      if (b.revoked !== "temporary") continue;
      if (!o.unrevokeInvalidates) {
        const r = setStateUnderResv(world, id, `${device}#${by}`, "usable");
        world = r.world;
        events.push(...r.events);
        continue;
      }
      const r = started(startUnrevoke(world, id, by), `the un-revoke of buf ${id}`);
      world = r.world;
      events.push(...r.events);
      const priv = privOf(world, id);
      if (priv.kref === "drained") world = withPriv(world, id, { ...priv, kref: "armed" });
    }
  }
  return { world, events };
}

/**
 * No core task (revoke or un-revoke) runs on any live buffer of the devices:
 * every `move()` the operation started has returned.
 *
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param devices - the devices.
 * @returns true when idle.
 */
export function buffersIdle(w: World, config: VfioPciConfig, devices: readonly string[]): boolean {
  return devices.every((d) => buffersOf(w, config, d).every(([id]) => taskOn(w, id) === undefined));
}
