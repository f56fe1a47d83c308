import { vfioPriv } from "./priv.js";
import {
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_MINSZ,
  blocked,
  createDmaBuf,
  kernelError,
  parseVfioDeviceFeature,
  returned,
  vfioCheckFeature,
  vfioDeviceFeatureDmaBuf,
  vfioRegionDmaRange,
} from "@dmabuf-ref/core";
import type {
  KernelError,
  Machine,
  PhysVec,
  StepOutcome,
  VfioRegionDmaRange,
  World,
} from "@dmabuf-ref/core";
import { barOf, deviceConfig } from "./bars.js";
import { VFIO_PCI_ROM_REGION_INDEX } from "./config.js";
import type { VfioPciConfig } from "./config.js";
import { ioctlFailed } from "./ioctl-outcome.js";
import { holdsMemoryLock } from "./operation.js";
import type { VfioDmaBufPriv } from "./priv.js";
import { fillPhysVec, validateDmaRanges } from "./ranges.js";
import { deviceStateOf, operationsOf, vfioMemoryEnabled } from "./state.js";

/**
 * `KMALLOC_MAX_SIZE` on x86-64 (`1 << (MAX_PAGE_ORDER + PAGE_SHIFT)` = 4 MiB):
 * `memdup_array_user()` of a larger `dma_ranges[]` fails with `-ENOMEM`
 * before it copies anything (kernel-facts §2.2 step 3).
 */
export const KMALLOC_MAX_SIZE = 4 * 1024 * 1024;

/** What the export ioctl validated: the future buffer's private data and size. */
interface Validated {
  readonly priv: VfioDmaBufPriv;
  readonly size: bigint;
}

const NAME = "VFIO_DEVICE_FEATURE";

/** Steps 1–6 of kernel-facts §2.2 on the payload, after the core and feature checks. */
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
    },
  };
}

/**
 * `VFIO_DEVICE_FEATURE` on a vfio-pci device fd, with the DMA_BUF feature
 * (`vfio_pci_core_feature_dma_buf`), from the user's bytes, in the kernel's
 * order (kernel-facts §2.1–2.2, §7.6):
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
