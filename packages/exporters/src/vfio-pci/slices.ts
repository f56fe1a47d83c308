import { arrivalQueueSlice, defineSlice, tableSlice, setCodec } from "@dmabuf-ref/core";
import { PTable, pushString, pushU64, equalWith } from "@dmabuf-ref/core/encoding";
import type { ArrivalQueue, Codec, SliceDef } from "@dmabuf-ref/core";
import type { VfioOpKind, VfioOperation } from "./operation.js";
import type { VfioVma } from "./vma.js";

/**
 * PCI power state as PMCSR sets it; the model needs only D0 and D3hot (kernel-model §2.5).
 *
 * @category Drivers
 */
export type VfioPowerState = "D0" | "D3hot";

/**
 * The run-time state of one `struct vfio_pci_core_device` that the dma-buf
 * exporter depends on (kernel-model §2.2, §2.5). A plain immutable value.
 *
 * @kernel include/linux/vfio_pci_core.h vfio_pci_core_device
 * @category Drivers
 */
export interface VfioDeviceState {
  /** The virtual `PCI_COMMAND.MEMORY` bit (the guest's view; the physical bit follows it). */
  readonly memoryEnabled: boolean;
  /** The PMCSR power state. */
  readonly power: VfioPowerState;
  /** Runtime-PM low-power entry is engaged (`pm_runtime_engaged`). */
  readonly lowPower: boolean;
  /** The device fd is open (`open_count > 0`); ioctls need it. */
  readonly open: boolean;
  /** `vfio_device_try_get_registration()` succeeds: no unbind has started. */
  readonly registered: boolean;
  /** vfio-pci is still bound (unbind has not completed). */
  readonly bound: boolean;
}

/** The power states as small integers (the codec's enum words). */
const POWER_CODE: Readonly<Record<VfioPowerState, number>> = { D0: 0, D3hot: 1 };

/** The operation kinds as small integers (the codec's enum words). */
const OP_KIND_CODE: Readonly<Record<VfioOpKind, number>> = {
  flr: 0,
  reset: 1,
  "memory-off": 2,
  "memory-on": 3,
  d3hot: 4,
  d0: 5,
  "low-power-entry": 6,
  "low-power-exit": 7,
  "hot-reset": 8,
  close: 9,
  unbind: 10,
  "hot-reset-unwind": 11,
};

const bit = (b: boolean): number => (b ? 1 : 0);

/**
 * Canonical encoding of a {@link VfioDeviceState} (one `struct
 * vfio_pci_core_device`'s run-time state): every field, booleans as 0/1 and
 * the power state as a small integer.
 */
export const vfioDeviceStateCodec: Codec<VfioDeviceState> = {
  seed: 0xf10d,
  encode(d, out) {
    out.push(
      bit(d.memoryEnabled),
      POWER_CODE[d.power],
      bit(d.lowPower),
      bit(d.open),
      bit(d.registered),
      bit(d.bound),
    );
  },
};

/**
 * Canonical encoding of a {@link VfioOperation} (one multi-stage trigger,
 * close or unbind in flight): id, kind, stage, devices, actor and the
 * waiting process (a presence word, then the name).
 */
export const vfioOperationCodec: Codec<VfioOperation> = {
  seed: 0xf10e,
  encode(op, out) {
    out.push(op.id, OP_KIND_CODE[op.kind], op.pc, op.devices.length);
    for (const d of op.devices) pushString(out, d);
    pushString(out, op.actor);
    if (op.process === null) {
      out.push(0);
    } else {
      out.push(1);
      pushString(out, op.process);
    }
  },
};

/** Canonical encoding of a {@link VfioVma} (one `mmap()` of a VFIO dma-buf): every field. */
export const vfioVmaCodec: Codec<VfioVma> = {
  seed: 0xf10f,
  encode(v, out) {
    pushString(out, v.process);
    out.push(v.buf);
    pushU64(out, v.addr);
    pushU64(out, v.len);
    pushU64(out, v.offset);
    out.push(v.memattr);
  },
};

/**
 * The vfio-pci operations in flight (each device's `memory_lock` queue):
 * the operations by id, ids handed out lowest free (the `continue` action
 * names them), and their arrival order, which decides who holds
 * `memory_lock` and who waits behind whom (the kernel's `down_write`
 * queue).
 *
 * @category Drivers
 */
export type VfioOpQueue = ArrivalQueue<VfioOperation>;

/**
 * The CPU mappings of the driver's dma-bufs (Matt Evans' mmap series,
 * kernel-model §2.6). The VMAs are keyed by slots nothing observes (a VMA
 * is named by its process and address), so they compare as a set; where
 * the next `mmap()` lands follows from them (the first hole, as
 * `get_unmapped_area` searches), so unmapping and mapping again returns to
 * an equal world.
 *
 * @category Drivers
 */
export interface VfioVmaSpace {
  /** The VMAs, by slot (lowest free). */
  readonly vmas: PTable<VfioVma>;
}

const vmaSet = setCodec(vfioVmaCodec);

/**
 * Canonical encoding of a {@link VfioVmaSpace}: the VMAs as a set (size and
 * slot-independent hash); equality ignores slots.
 */
export const vfioVmaSpaceCodec: Codec<VfioVmaSpace> = {
  seed: 0xf111,
  encode(s, out) {
    vmaSet.encode(s.vmas, out);
  },
  equals: (a, b) => equalWith(vmaSet, a.vmas, b.vmas),
};

/** Where mmap hands out user virtual addresses (an arbitrary, page-aligned base). */
export const FIRST_VA = 0x7f00_0000_0000n;

/**
 * The per-device state (`struct vfio_pci_core_device`), keyed by the
 * device's index in the driver's `config.devices`. A device without an
 * entry is in `INITIAL_DEVICE_STATE`: the helpers delete an entry
 * that returns to it, so that state has one encoding.
 *
 * @category Drivers
 */
export const vfioDevicesSlice: SliceDef<PTable<VfioDeviceState>> = tableSlice(
  "devices",
  vfioDeviceStateCodec,
);

/**
 * The operations in flight (see {@link VfioOpQueue}).
 *
 * @category Drivers
 */
export const vfioOpsSlice: SliceDef<VfioOpQueue> = arrivalQueueSlice(
  "operations",
  vfioOperationCodec,
);

/**
 * The CPU mappings of the driver's dma-bufs (see {@link VfioVmaSpace}).
 *
 * @category Drivers
 */
export const vfioVmasSlice: SliceDef<VfioVmaSpace> = defineSlice("vmas", vfioVmaSpaceCodec, {
  vmas: PTable.empty(vfioVmaCodec),
});
