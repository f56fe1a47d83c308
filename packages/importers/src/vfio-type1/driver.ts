import * as z from "zod";
import { DEFAULT_PROCESS, defineDriver, u64Schema } from "@dmabuf-ref/core";
import type { DefinedImporter, Machine, SliceDef, StepOutcome, World } from "@dmabuf-ref/core";
import type { PTable } from "@dmabuf-ref/core/encoding";
import { match } from "ts-pattern";
import { setType1Config } from "./config.js";
import type { VfioType1Config } from "./config.js";
import { VFIO_TYPE1 } from "./constants.js";
import { vfioDmaListSlice } from "./state.js";
import type { VfioDma } from "./state.js";
import { vfioDmaDoMap, vfioDmaDoUnmap } from "./vfio_dma.js";

/**
 * zod schema of the type1 container ioctls a scenario issues:
 * `VFIO_IOMMU_MAP_DMA` and `VFIO_IOMMU_UNMAP_DMA`
 * (drivers/vfio/vfio_iommu_type1.c). `device` names the device whose
 * container (and IOMMU domain) the ioctl acts on.
 *
 * @category uAPI
 */
export const vfioType1ActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** `VFIO_IOMMU_MAP_DMA` (`struct vfio_iommu_type1_dma_map`). */
    op: z.literal("VFIO_IOMMU_MAP_DMA"),
    /** The calling task (its mm holds `vaddr`); default the VMM. */
    process: z.string().min(1).default(DEFAULT_PROCESS),
    /** The device whose container it is. */
    device: z.string().min(1),
    /** User address of the first byte. */
    vaddr: u64Schema,
    /** IOVA of the first byte. */
    iova: u64Schema,
    /** Bytes. */
    size: u64Schema,
    /** `VFIO_DMA_MAP_FLAG_READ` / `_WRITE` (device's view); default both. */
    flags: z.array(z.enum(["READ", "WRITE"])).default(["READ", "WRITE"]),
  }),
  z.strictObject({
    /** `VFIO_IOMMU_UNMAP_DMA` (`struct vfio_iommu_type1_dma_unmap`, flags 0). */
    op: z.literal("VFIO_IOMMU_UNMAP_DMA"),
    /** The device whose container it is. */
    device: z.string().min(1),
    /** IOVA of the first byte. */
    iova: u64Schema,
    /** Bytes. */
    size: u64Schema,
  }),
]);

/**
 * One type1 ioctl (see {@link vfioType1ActionSchema}).
 *
 * @category uAPI
 */
export type VfioType1Action = z.output<typeof vfioType1ActionSchema>;

/** What each type1 op models in the kernel. */
const VFIO_TYPE1_OP_MODELS = {
  VFIO_IOMMU_MAP_DMA: "VFIO_IOMMU_MAP_DMA: vfio_dma_do_map -> vfio_pin_map_dma (vaddr_get_pfns)",
  VFIO_IOMMU_UNMAP_DMA: "VFIO_IOMMU_UNMAP_DMA: vfio_dma_do_unmap -> vfio_remove_dma",
} as const;

function act(m: Machine, w: World, a: VfioType1Action): StepOutcome {
  return match(a)
    .returnType<StepOutcome>()
    .with({ op: "VFIO_IOMMU_MAP_DMA" }, (x) => vfioDmaDoMap(m, w, x))
    .with({ op: "VFIO_IOMMU_UNMAP_DMA" }, (x) => vfioDmaDoUnmap(m, w, x))
    .exhaustive();
}

// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
/**
 * The type1 driver's slices by name.
 *
 * @category Drivers
 */
export type VfioType1Slices = {
  /** `iommu->dma_list`: every `vfio_dma`. */
  readonly dma_list: SliceDef<PTable<VfioDma>>;
};

/**
 * VFIO's type1 IOMMU backend (drivers/vfio/vfio_iommu_type1.c) as a
 * driver of the machine: the legacy container path that maps a process's
 * memory for a device by user address. It is not a dma-buf importer (it
 * accepts no mapping type, so an attach to it fails in negotiation), and
 * it has no `invalidate_mappings`: for a `VM_PFNMAP` VMA (a VFIO BAR mmap)
 * it keeps the raw PFNs with no reference to the VMA, the file or the
 * device, so nothing tells it when they go away (seeds 000, 001; the
 * use-after-free the dma-buf path exists to prevent). Register it under
 * the name `"vfio-type1"`; its ops are `VFIO_IOMMU_MAP_DMA` and
 * `VFIO_IOMMU_UNMAP_DMA`. Page sizes, aperture and reserved regions of a
 * device's domain come from `config` (a machine gives iommufd the same).
 *
 * @param config - each device's IOMMU geometry (absent: the defaults).
 * @returns the driver.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot, defineMachine, linux71, mmOp, runScript, step, topologySchema,
 * } from "@dmabuf-ref/core";
 * import { vfioType1Importer, vfioType1StateOf } from "@dmabuf-ref/importers";
 *
 * // vfio0's 2 MiB BAR 0; dev1 behind the IOMMU, P2P to it through hb0 (seeds 000, 001).
 * const topology = topologySchema.parse({
 *   regions: [{ id: "vfio0.bar0", kind: "bar", base: 0x40_0000_0000n, size: 0x20_0000n,
 *     device: "vfio0" }],
 *   devices: [{ id: "vfio0", switch: "sw0" }, { id: "dev1", switch: "sw1" }],
 *   switches: [{ id: "sw0", hostBridge: "hb0" }, { id: "sw1", hostBridge: "hb0" }],
 *   hostBridges: [{ id: "hb0", p2p: true }],
 * });
 * const importers = [vfioType1Importer()];
 * const m = defineMachine({ profile: linux71, topology, exporters: [], importers });
 * const bar = step(m, boot(m), mmOp({ op: "mmap", fd: "vfio0", offset: 0n, length: 0x20_0000n }));
 * assert.ok(bar.status === "done" && bar.returned !== undefined);
 * const vaddr = BigInt(bar.returned.ret); // the VM_PFNMAP mmap of the BAR
 * const size = 0x20_0000n;
 * const map = { op: "VFIO_IOMMU_MAP_DMA", device: "dev1", vaddr, iova: 0x10_0000n, size };
 * const run = runScript(m, bar.world, [
 *   { kind: "driver", driver: "vfio-type1", action: map },
 *   mmOp({ op: "munmap", addr: vaddr, length: size }),
 *   { kind: "dma", device: "dev1", addr: 0x10_0000n, len: 0x1000n, dir: "write" },
 * ]);
 * // type1 took the BAR's raw PFNs; the munmap did not reach it, so dev1's DMA still lands there.
 * const [dma] = vfioType1StateOf(m, run.world).dmas;
 * assert.deepEqual(dma?.chunks, [{ iova: 0x10_0000n, phys: 0x40_0000_0000n, len: 0x20_0000n }]);
 * assert.deepEqual(run.events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : [])), ["ok"]);
 * ```
 * @category Drivers
 */
export function vfioType1Importer(
  config: VfioType1Config = {},
): DefinedImporter<VfioType1Slices, typeof vfioType1ActionSchema> {
  const driver = defineDriver({
    role: "importer",
    name: VFIO_TYPE1,
    slices: { dma_list: vfioDmaListSlice },
    actions: { schema: vfioType1ActionSchema, models: VFIO_TYPE1_OP_MODELS, run: act },
    callbacks: {
      allowPeer2peer: false,
      accepts: () => [],
    },
  });
  setType1Config(driver, config);
  return driver;
}
