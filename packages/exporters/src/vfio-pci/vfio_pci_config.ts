// drivers/vfio/pci/vfio_pci_config.c: a write to the device's PCI config
// space through the VFIO config region (`vfio_pci_config_rw()`), for the
// registers whose writes revoke or restore dma-bufs. Models:
// - the access checks and chunking of `vfio_config_do_rw()` (configChunks);
// - `vfio_basic_config_write()` on PCI_COMMAND (MEMORY bit), the PM
//   capability's PMCSR write (`vfio_pm_config_write()` ->
//   `vfio_lock_and_set_power_state()`), and the PCIe capability's Device
//   Control write with "initiate FLR" (`vfio_exp_config_write()` ->
//   `vfio_pci_try_reset_function()`) (vfioConfigWrite).
// Every effect runs the operation of vfio_pci_core.ts to its end before
// the write returns, as the kernel's does.
import { kernelError, returned, blocked } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import { ioctlFailed } from "./ioctl-outcome.js";
import type { VfioOpKind } from "./operation.js";
import { deviceStateOf } from "./state.js";
import { runOperationNow } from "./vfio_pci_core.js";

/**
 * `PCI_CFG_SPACE_EXP_SIZE`: a PCIe function's config space is 4 KiB (`pdev->cfg_size`).
 *
 * @category Drivers
 */
export const VFIO_CONFIG_SPACE_SIZE = 0x1000;
/**
 * `PCI_COMMAND`: the command register, 16 bits at 0x04.
 *
 * @category Drivers
 */
export const PCI_COMMAND = 0x04;
/**
 * `PCI_COMMAND_MEMORY`: bit 1, memory space decode.
 *
 * @category Drivers
 */
export const PCI_COMMAND_MEMORY = 0x2;
/**
 * Where the model's devices place the PCI power-management capability
 * (`PCI_CAP_ID_PM`): at 0x40, so PMCSR (`PCI_PM_CTRL`, cap + 4) is 0x44.
 *
 * @category Drivers
 */
export const VFIO_PM_CAP = 0x40;
/**
 * PMCSR at {@link VFIO_PM_CAP} + 4; bits 1:0 are the power state (0 = D0, 3 = D3hot).
 *
 * @category Drivers
 */
export const VFIO_PMCSR = VFIO_PM_CAP + 4;
/**
 * `PCI_PM_CTRL_STATE_MASK`.
 *
 * @category Drivers
 */
export const PCI_PM_CTRL_STATE_MASK = 0x3;
/**
 * Where the model's devices place the PCI Express capability
 * (`PCI_CAP_ID_EXP`): at 0x70, so Device Control (`PCI_EXP_DEVCTL`, cap + 8) is 0x78.
 *
 * @category Drivers
 */
export const VFIO_PCIE_CAP = 0x70;
/**
 * Device Control at {@link VFIO_PCIE_CAP} + 8 (16 bits).
 *
 * @category Drivers
 */
export const VFIO_PCIE_DEVCTL = VFIO_PCIE_CAP + 8;
/**
 * `PCI_EXP_DEVCTL_BCR_FLR`: bit 15 of Device Control, "initiate function level reset".
 *
 * @category Drivers
 */
export const PCI_EXP_DEVCTL_BCR_FLR = 0x8000;

/**
 * One naturally aligned piece of a config access, as `vfio_config_do_rw()` cuts it.
 *
 * @category Drivers
 */
export interface ConfigChunk {
  /** The chunk's offset in config space. */
  readonly offset: number;
  /** 1, 2 or 4 bytes. */
  readonly size: number;
  /** The chunk's bytes of the written value, little-endian. */
  readonly value: number;
}

/**
 * The checks and chunking of `vfio_pci_config_rw()`: an access that starts
 * or ends outside `cfg_size` is `-EFAULT`; otherwise it is cut into
 * naturally aligned 4-, 2- or 1-byte chunks (an unaligned write is split,
 * not refused).
 *
 * @param offset - the file offset within the config region.
 * @param size - the bytes written.
 * @param value - the value, little-endian.
 * @returns the chunks, or `-EFAULT`.
 * @kernel drivers/vfio/pci/vfio_pci_config.c vfio_pci_config_rw vfio_config_do_rw
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCI_COMMAND, configChunks } from "@dmabuf-ref/exporters";
 *
 * // A 4-byte write at PCI_COMMAND (0x04) is one dword; at 0x03 it is split.
 * assert.deepEqual(configChunks(PCI_COMMAND, 4, 0x00100006), [
 *   { offset: 4, size: 4, value: 0x00100006 },
 * ]);
 * assert.deepEqual(configChunks(0x03, 2, 0x0600), [
 *   { offset: 3, size: 1, value: 0x00 },
 *   { offset: 4, size: 1, value: 0x06 },
 * ]);
 * const outside = configChunks(0x1000, 4, 0);
 * assert.equal("errno" in outside ? outside.errno : undefined, "EFAULT");
 * ```
 * @category Drivers
 */
export function configChunks(
  offset: number,
  size: number,
  value: number,
): readonly ConfigChunk[] | ReturnType<typeof kernelError> {
  if (offset < 0 || offset >= VFIO_CONFIG_SPACE_SIZE || offset + size > VFIO_CONFIG_SPACE_SIZE) {
    return kernelError(
      "EFAULT",
      () => `config access at 0x${offset.toString(16)}+${size} is outside cfg_size`,
    );
  }
  const out: ConfigChunk[] = [];
  let pos = offset;
  let left = size;
  while (left > 0) {
    const n = left >= 4 && pos % 4 === 0 ? 4 : left >= 2 && pos % 2 === 0 ? 2 : 1;
    const shift = (pos - offset) * 8;
    const bits = Math.floor(value / 2 ** shift) % 2 ** (n * 8);
    out.push({ offset: pos, size: n, value: bits });
    pos += n;
    left -= n;
  }
  return out;
}

/** The byte at `at` of a chunk, or undefined when the chunk does not cover it. */
function byteAt(c: ConfigChunk, at: number): number | undefined {
  if (at < c.offset || at >= c.offset + c.size) return undefined;
  return Math.floor(c.value / 2 ** ((at - c.offset) * 8)) % 256;
}

/** What one chunk makes the device do, if anything. */
function effectOf(
  c: ConfigChunk,
  memoryEnabled: boolean,
  d3hot: boolean,
): VfioOpKind | "flr-request" | null {
  const cmd = byteAt(c, PCI_COMMAND);
  if (cmd !== undefined) {
    const mem = (cmd & PCI_COMMAND_MEMORY) !== 0;
    if (mem !== memoryEnabled) return mem ? "memory-on" : "memory-off";
    return null;
  }
  const pm = byteAt(c, VFIO_PMCSR);
  if (pm !== undefined) {
    // D1 and D2 count as below D3hot (`__vfio_pci_memory_enabled`): like D0 here.
    const toD3 = (pm & PCI_PM_CTRL_STATE_MASK) === 3;
    if (toD3 !== d3hot) return toD3 ? "d3hot" : "d0";
    return null;
  }
  const ctlHigh = byteAt(c, VFIO_PCIE_DEVCTL + 1);
  if (ctlHigh !== undefined && (ctlHigh & (PCI_EXP_DEVCTL_BCR_FLR >> 8)) !== 0) {
    return "flr-request";
  }
  return null;
}

const NAME = "pwrite(config)";

/**
 * A `pwrite()` of `size` bytes at `offset` of a device's VFIO config region
 * (kernel-model §2.5): `-EBADF` without an open device fd; `-EFAULT`
 * outside the 4 KiB config space; then chunk by chunk, each effect run to
 * its end before the next:
 * - `PCI_COMMAND` (0x04) changing MEMORY: clear revokes the dma-bufs (then
 *   the BARs stop decoding); set makes the BARs decode, then un-revokes;
 * - PMCSR ({@link VFIO_PMCSR}) changing to or from D3hot: revoke, or
 *   un-revoke if memory is enabled;
 * - Device Control ({@link VFIO_PCIE_DEVCTL}) with "initiate FLR": the
 *   guest FLR (`vfio_pci_try_reset_function`): revoke, reset, un-revoke if
 *   memory is enabled. `vfio_exp_config_write()` ignores what the reset
 *   returns: when its device trylock fails (an unbind holds the lock) the
 *   function is not reset, but the dma-bufs were revoked and are restored
 *   all the same, and the write still returns `size`.
 * Anything else is accepted and has no effect in the model. The write
 * returns `size`. It sleeps (`blocked`, world kept) on `memory_lock` or on
 * importers that have yet to unmap.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param a - the device, offset, size, value and caller.
 * @returns done with `returned.ret = size`, the errno, or blocked.
 * @kernel drivers/vfio/pci/vfio_pci_config.c vfio_basic_config_write vfio_pm_config_write
 *   vfio_exp_config_write
 *   vfio_lock_and_set_power_state
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineMachine,
 *   linux71,
 *   referenceTopology,
 *   topologySchema,
 * } from "@dmabuf-ref/core";
 * import {
 *   PCI_COMMAND,
 *   vfioConfigWrite,
 *   vfioDeviceState,
 *   vfioPciConfigOf,
 *   vfioPciExporter,
 * } from "@dmabuf-ref/exporters";
 *
 * // vfio0 and its BAR 0 (16 MiB of MMIO at 256 GiB), added to the reference machine.
 * const topology = topologySchema.parse({
 *   ...referenceTopology,
 *   regions: [
 *     ...referenceTopology.regions,
 *     { id: "vfio0.bar0", kind: "bar", base: 0x4000000000n, size: 0x1000000n, device: "vfio0" },
 *   ],
 *   devices: [...referenceTopology.devices, { id: "vfio0", switch: "sw0" }],
 * });
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({ profile: linux71, topology, exporters: [vfio], importers: [] });
 * const config = vfioPciConfigOf(m, "vfio0");
 * assert.ok(config !== undefined);
 * // The guest clears PCI_COMMAND.MEMORY: the BAR stops decoding.
 * const a = { device: "vfio0", offset: PCI_COMMAND, size: 2, value: 0, process: "qemu" };
 * const r = vfioConfigWrite(m, boot(m), config, a);
 * assert.ok(r.status === "done");
 * assert.equal(r.returned?.ret, 2);
 * assert.equal(vfioDeviceState(m, r.world, "vfio0").memoryEnabled, false);
 * ```
 * @category Drivers
 */
export function vfioConfigWrite(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  a: {
    readonly device: string;
    readonly offset: number;
    readonly size: number;
    readonly value: number;
    readonly process: string;
  },
): StepOutcome {
  const fail = (e: ReturnType<typeof kernelError>): StepOutcome =>
    ioctlFailed(w, a.process, a.device, NAME, e);
  if (deviceStateOf(m, w, config, a.device)?.open !== true) {
    return fail(kernelError("EBADF", () => `no open fd of ${a.device}`));
  }
  const chunks = configChunks(a.offset, a.size, a.value);
  if ("errno" in chunks) return fail(chunks);
  let world = w;
  const events: TraceEvent[] = [];
  for (const c of chunks) {
    const d = deviceStateOf(m, world, config, a.device);
    if (d === undefined) throw new Error(`vfio-pci: no device ${a.device}`);
    const effect = effectOf(c, d.memoryEnabled, d.power === "D3hot");
    if (effect === null) continue;
    const kind: VfioOpKind = effect === "flr-request" ? "flr" : effect;
    const r = runOperationNow(m, world, config, kind, [a.device], a.device, null);
    if (r.status === "failed") return fail(r.error);
    if (r.status === "blocked") return blocked(w, "lock", r.reason);
    world = r.world;
    events.push(...r.events);
  }
  return returned(
    world,
    [
      ...events,
      {
        kind: "ioctl",
        process: a.process,
        target: a.device,
        name: `${NAME} 0x${a.offset.toString(16)}`,
        result: { ok: true, ret: a.size },
      },
    ],
    { ret: a.size },
  );
}
