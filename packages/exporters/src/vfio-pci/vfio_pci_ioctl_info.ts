// drivers/vfio/pci/vfio_pci_core.c: the device-info ioctls a VMM issues on
// a VFIO device fd before it maps anything, and the argument checks of the
// bus reset. Models:
// - `VFIO_DEVICE_GET_INFO` (`vfio_pci_ioctl_get_info`): vfioGetInfo;
// - `VFIO_DEVICE_GET_REGION_INFO` (vfio_main.c `vfio_get_region_info`, then
//   vfio-pci's `vfio_pci_ioctl_get_region_info` /
//   `vfio_pci_core_ioctl_get_region_info`): vfioGetRegionInfo, where BAR n's
//   `offset` is the mmap offset `VFIO_PCI_INDEX_TO_OFFSET(n)` = n << 40;
// - `VFIO_DEVICE_GET_IRQ_INFO` (`vfio_pci_ioctl_get_irq_info`,
//   `vfio_pci_get_irq_count`): vfioGetIrqInfo;
// - the header checks of `VFIO_DEVICE_PCI_HOT_RESET`
//   (`vfio_pci_ioctl_pci_hot_reset`): hotResetArgCheck (the reset itself is
//   vfioHotResetIoctl in vfio_main.ts).
// None of them changes the World: each returns 0 with the struct copied back,
// or an errno.
import {
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_INFO_MINSZ,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_MINSZ,
  VFIO_IRQ_INFO_NORESIZE,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_HOT_RESET_MINSZ,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VFIO_PCI_OFFSET_SHIFT,
  VFIO_PCI_REQ_IRQ_INDEX,
  VFIO_PCI_VGA_REGION_INDEX,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  VFIO_REGION_INFO_MINSZ,
  kernelError,
  returned,
  vfioDeviceInfo,
  vfioIrqInfo,
  vfioPciHotReset,
  vfioRegionInfo,
} from "@dmabuf-ref/core";
import type { KernelError, Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";
import { barOf } from "./bars.js";
import type { VfioPciConfig } from "./config.js";
import { VFIO_PCI_ROM_REGION_INDEX } from "./config.js";
import { ioctlFailed } from "./ioctl-outcome.js";
import { PAGE_SIZE } from "./page.js";
import { VFIO_CONFIG_SPACE_SIZE } from "./vfio_pci_config.js";

/**
 * `vdev->vconfig[PCI_INTERRUPT_PIN]` of the model's devices: 1 (INTA#).
 * The model's config space has no register for it; every modelled
 * function is a physical function wired to INTA#, so INTx has one vector.
 */
export const VFIO_MODEL_INTERRUPT_PIN: number = 1;

/** The device fd an info ioctl runs on: its driver configuration, device, caller and argument. */
export interface VfioInfoCall {
  /** The driver's configuration (the fd is open: vfio_main.ts checked). */
  readonly config: VfioPciConfig;
  /** The device. */
  readonly device: string;
  /** The bytes the argument pointer points at (empty for NULL). */
  readonly argp: Uint8Array;
  /** The calling process, as traces name it. */
  readonly process: string;
}

/** `copy_from_user(&info, arg, minsz)`: fails when the user memory is shorter. */
function copyIn(argp: Uint8Array, minsz: number, name: string): KernelError | undefined {
  return argp.length < minsz
    ? kernelError("EFAULT", () => `${name}: copy_from_user of ${minsz} bytes faulted`)
    : undefined;
}

/** The argument's `argsz`, the first u32 of every VFIO info struct. */
function argszOf(argp: Uint8Array): number {
  return new DataView(argp.buffer, argp.byteOffset, argp.byteLength).getUint32(0, true);
}

/**
 * Returns 0 after `copy_to_user(arg, &info, n)`: the outcome carries the
 * `n` bytes copied back (`returned.out`), or `-EFAULT` when the user
 * memory ends before them.
 */
function copyOut(
  world: World,
  call: VfioInfoCall,
  name: string,
  struct: Uint8Array,
  n: number,
): StepOutcome {
  if (call.argp.length < n) {
    return ioctlFailed(
      world,
      call.process,
      call.device,
      name,
      kernelError("EFAULT", () => `${name}: copy_to_user of ${n} bytes faulted`),
    );
  }
  const ret = 0;
  return returned(
    world,
    [
      {
        kind: "ioctl",
        process: call.process,
        target: call.device,
        name,
        result: { ok: true, ret },
      },
    ],
    { ret, out: struct.slice(0, n) },
  );
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_GET_INFO, &info)` (`vfio_pci_ioctl_get_info`):
 * copy `minsz` = 16 bytes (`-EFAULT`), `argsz < 16` -> `-EINVAL`; then
 * `flags` = `VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET` (every
 * modelled function can reset: `vdev->reset_works`), `num_regions` =
 * `VFIO_PCI_NUM_REGIONS` (9: no device-specific regions), `num_irqs` =
 * `VFIO_PCI_NUM_IRQS` (5), `cap_offset` and `pad` 0, and
 * `min(argsz, sizeof)` bytes copied back.
 *
 * @remarks
 * No capability chain is returned, so `VFIO_DEVICE_FLAGS_CAPS` stays
 * clear: the zPCI capabilities exist only on s390, and the model's
 * functions report no PCIe AtomicOp completer support (the AtomicOps
 * capability is added only when one is enabled).
 *
 * @param world - the world (unchanged).
 * @param call - the device fd and argument.
 * @returns done with `returned.out` the bytes copied back, or the errno.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_ioctl_get_info
 */
export function vfioGetInfo(world: World, call: VfioInfoCall): StepOutcome {
  const name = "VFIO_DEVICE_GET_INFO";
  const fail = (e: KernelError) => ioctlFailed(world, call.process, call.device, name, e);
  const fault = copyIn(call.argp, VFIO_DEVICE_INFO_MINSZ, name);
  if (fault !== undefined) return fail(fault);
  const argsz = argszOf(call.argp);
  if (argsz < VFIO_DEVICE_INFO_MINSZ) {
    return fail(kernelError("EINVAL", () => `argsz ${argsz} is below minsz 16`));
  }
  const info = vfioDeviceInfo.encode({
    argsz,
    flags: VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
    num_regions: VFIO_PCI_NUM_REGIONS,
    num_irqs: VFIO_PCI_NUM_IRQS,
    cap_offset: 0,
    pad: 0,
  });
  return copyOut(world, call, name, info, Math.min(argsz, vfioDeviceInfo.size));
}

/** One region's `flags`, `size` and `offset`, or the errno for an index the device lacks. */
type RegionAnswer =
  { readonly flags: number; readonly size: bigint; readonly offset: bigint } | KernelError;

/**
 * What `vfio_pci_ioctl_get_region_info` reports for `index`:
 * - BARs 0-5: `offset` = `index << 40`; `size` = `pci_resource_len` (0 for
 *   a BAR the device does not implement, absent from its configuration or
 *   kept as ENODEV by `vfio_pci_core_enable`, then `flags` 0); else READ|WRITE,
 *   plus MMAP when `vfio_pci_probe_mmaps` found the BAR mmappable: a
 *   memory BAR of at least a page, or a smaller one that starts on a page
 *   boundary (the rest of its page is reserved). The model's BARs are all
 *   memory BARs.
 * - ROM (6): `offset` = 6 << 40, `flags` 0, `size` 0: no modelled function
 *   has an option ROM.
 * - config (7): `size` = `pdev->cfg_size`, 4096 for the model's PCIe
 *   functions, READ|WRITE.
 * - VGA (8): `-EINVAL`, since no modelled function is VGA-class (`has_vga`
 *   false).
 * - 9 and above: `-EINVAL` (`VFIO_PCI_NUM_REGIONS` + no device-specific regions).
 */
function regionAnswer(
  m: Machine,
  world: World,
  config: VfioPciConfig,
  device: string,
  index: number,
): RegionAnswer {
  const offset = BigInt(index) << VFIO_PCI_OFFSET_SHIFT;
  if (index < VFIO_PCI_ROM_REGION_INDEX) {
    const bar = barOf(m, world, config, device, index);
    // An empty BAR (vfio_pci_core_enable kept ENODEV for it) decodes nothing,
    // whatever placeholder region stands for it.
    if (bar === undefined || bar.config.claimed === "ENODEV" || bar.region.size === 0n) {
      return { flags: 0, size: 0n, offset };
    }
    const size = bar.region.size;
    const mmappable = size >= PAGE_SIZE || bar.region.base % PAGE_SIZE === 0n;
    const rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    return { flags: mmappable ? rw | VFIO_REGION_INFO_FLAG_MMAP : rw, size, offset };
  }
  if (index === VFIO_PCI_ROM_REGION_INDEX) return { flags: 0, size: 0n, offset };
  if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
    return {
      flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
      size: BigInt(VFIO_CONFIG_SPACE_SIZE),
      offset,
    };
  }
  if (index === VFIO_PCI_VGA_REGION_INDEX) {
    return kernelError("EINVAL", () => `${device} is not a VGA device: it has no VGA region`);
  }
  return kernelError(
    "EINVAL",
    () =>
      `region index ${index} is past VFIO_PCI_NUM_REGIONS (9) and ${device} has no device-specific regions`,
  );
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, &info)`: vfio_main.c's
 * `vfio_get_region_info` copies `minsz` = 32 bytes (the whole struct,
 * `-EFAULT`) and refuses `argsz < 32` (`-EINVAL`); vfio-pci then answers
 * for `index` (an index the device lacks: `-EINVAL`), and the 32 bytes
 * are copied back with `cap_offset` as the caller wrote it. The BARs'
 * `offset` is where a VMM mmaps them on the device fd.
 *
 * @remarks
 * No capability chain is modelled (`VFIO_REGION_INFO_FLAG_CAPS` is never
 * set): not the sparse-mmap capability (vfio-pci core reports none; its
 * variant drivers may), and not `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`, which
 * the kernel adds for the BAR holding the MSI-X table: the model's
 * functions have no MSI-X capability.
 *
 * @param m - the machine.
 * @param world - the world (unchanged).
 * @param call - the device fd and argument.
 * @returns done with `returned.out` the 32 bytes copied back, or the errno.
 * @kernel drivers/vfio/vfio_main.c vfio_get_region_info drivers/vfio/pci/vfio_pci_core.c
 *   vfio_pci_ioctl_get_region_info
 */
export function vfioGetRegionInfo(m: Machine, world: World, call: VfioInfoCall): StepOutcome {
  const name = "VFIO_DEVICE_GET_REGION_INFO";
  const fail = (e: KernelError) => ioctlFailed(world, call.process, call.device, name, e);
  const fault = copyIn(call.argp, VFIO_REGION_INFO_MINSZ, name);
  if (fault !== undefined) return fail(fault);
  const info = vfioRegionInfo.decode(call.argp);
  if (info.argsz < VFIO_REGION_INFO_MINSZ) {
    return fail(kernelError("EINVAL", () => `argsz ${info.argsz} is below minsz 32`));
  }
  const answer = regionAnswer(m, world, call.config, call.device, info.index);
  if ("errno" in answer) return fail(answer);
  const out = vfioRegionInfo.encode(withFields(info, answer));
  return copyOut(world, call, name, out, VFIO_REGION_INFO_MINSZ);
}

/**
 * `vfio_pci_get_irq_count` for the model's functions: INTx 1 (pin INTA#,
 * {@link VFIO_MODEL_INTERRUPT_PIN}); MSI 0 and MSI-X 0 (their config space
 * has no MSI or MSI-X capability, only PM and PCIe); ERR 1 (a PCIe
 * function); REQ 1.
 *
 * @param index - the IRQ index, below `VFIO_PCI_NUM_IRQS`.
 * @returns the vector count.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_get_irq_count
 */
export function vfioIrqCount(index: number): number {
  switch (index) {
    case VFIO_PCI_INTX_IRQ_INDEX:
      return VFIO_MODEL_INTERRUPT_PIN === 0 ? 0 : 1;
    case VFIO_PCI_MSI_IRQ_INDEX:
    case VFIO_PCI_MSIX_IRQ_INDEX:
      return 0;
    case VFIO_PCI_ERR_IRQ_INDEX:
    case VFIO_PCI_REQ_IRQ_INDEX:
      return 1;
    default:
      return 0;
  }
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_GET_IRQ_INFO, &info)`
 * (`vfio_pci_ioctl_get_irq_info`): copy `minsz` = 16 bytes (`-EFAULT`);
 * `argsz < 16` or `index >= VFIO_PCI_NUM_IRQS` -> `-EINVAL` (ERR is
 * valid: the model's functions are PCIe); `flags` = EVENTFD, plus
 * MASKABLE|AUTOMASKED for INTx, NORESIZE for every other index (MSI-X is
 * resizable only with dynamic MSI-X allocation, which a function without
 * MSI-X lacks); `count` from {@link vfioIrqCount}; 16 bytes copied back.
 *
 * @param world - the world (unchanged).
 * @param call - the device fd and argument.
 * @returns done with `returned.out`, or the errno.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_ioctl_get_irq_info
 */
export function vfioGetIrqInfo(world: World, call: VfioInfoCall): StepOutcome {
  const name = "VFIO_DEVICE_GET_IRQ_INFO";
  const fail = (e: KernelError) => ioctlFailed(world, call.process, call.device, name, e);
  const fault = copyIn(call.argp, VFIO_IRQ_INFO_MINSZ, name);
  if (fault !== undefined) return fail(fault);
  const info = vfioIrqInfo.decode(call.argp);
  if (info.argsz < VFIO_IRQ_INFO_MINSZ || info.index >= VFIO_PCI_NUM_IRQS) {
    return fail(
      kernelError("EINVAL", () =>
        info.argsz < VFIO_IRQ_INFO_MINSZ
          ? `argsz ${info.argsz} is below minsz 16`
          : `IRQ index ${info.index} is past VFIO_PCI_NUM_IRQS (5)`,
      ),
    );
  }
  const flags =
    info.index === VFIO_PCI_INTX_IRQ_INDEX
      ? VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED
      : VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
  const out = vfioIrqInfo.encode({ ...info, flags, count: vfioIrqCount(info.index) });
  return copyOut(world, call, name, out, VFIO_IRQ_INFO_MINSZ);
}

/**
 * The header checks `vfio_pci_ioctl_pci_hot_reset` makes before it resets
 * anything, in the kernel's order: copy `minsz` = 12 bytes (`-EFAULT`);
 * `argsz < 12` or `flags != 0` -> `-EINVAL`; a non-zero `count` on a
 * device opened through its cdev -> `-EINVAL` (the zero-length array form
 * belongs to cdev devices, group fds to the legacy group path, and every
 * modelled device fd is a cdev bound to iommufd).
 *
 * @remarks
 * The next check, `pci_probe_reset_slot`/`pci_probe_reset_bus` (`-ENODEV`
 * when neither reset exists), always passes: every modelled function sits
 * on a bus that can be reset. The cdev path's ownership check (every open
 * device of the dev_set bound to the caller's iommufd, else `-EPERM`)
 * always passes too: a replay has one process and one iommufd.
 *
 * @param argp - the bytes the argument pointer points at (empty for NULL).
 * @returns the errno, or undefined when the reset may go ahead.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_ioctl_pci_hot_reset
 */
export function hotResetArgCheck(argp: Uint8Array): KernelError | undefined {
  const fault = copyIn(argp, VFIO_PCI_HOT_RESET_MINSZ, "VFIO_DEVICE_PCI_HOT_RESET");
  if (fault !== undefined) return fault;
  const hdr = vfioPciHotReset.decode(argp);
  if (hdr.argsz < VFIO_PCI_HOT_RESET_MINSZ) {
    return kernelError("EINVAL", () => `argsz ${hdr.argsz} is below minsz 12`);
  }
  if (hdr.flags !== 0) {
    return kernelError("EINVAL", () => `flags 0x${hdr.flags.toString(16)} must be 0`);
  }
  if (hdr.count !== 0) {
    return kernelError(
      "EINVAL",
      () =>
        `count ${hdr.count}: a device opened through its cdev takes no group fds (the zero-length array form)`,
    );
  }
  return undefined;
}
