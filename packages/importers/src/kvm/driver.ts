import { accept, defineDriver, kvmPfn } from "@dmabuf-ref/core";
import type { DefinedImporter, ImporterAccept, Machine, SliceDef } from "@dmabuf-ref/core";
import type { PTable } from "@dmabuf-ref/core/encoding";
import { KVM_OP_MODELS, kvmAct, kvmActionSchema, kvmCandidates } from "./action.js";
import { KVM } from "./constants.js";
import { kvmInvalidateMappings } from "./invalidate.js";
import { kvmMemslotsSlice } from "./state.js";
import type { KvmMemslot } from "./state.js";

/**
 * What KVM accepts (kernel-model §5.1): `[kvm-pfn {}]` when the profile has
 * the `kvm-pfn` type, otherwise nothing, so the attach fails in negotiation
 * with `EINVAL` (KVM import needs `get_pfn`; an SGT is of no use to it).
 *
 * @param m - the machine (for the profile).
 * @returns the accept list.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux71, referenceMachine, rfcMappingTypesV1 } from "@dmabuf-ref/core";
 * import type { Profile } from "@dmabuf-ref/core";
 * import { kvmAccepts, kvmImporter } from "@dmabuf-ref/importers";
 *
 * const accepted = (profile: Profile) =>
 *   kvmAccepts(referenceMachine({ profile, importers: [kvmImporter()] })).map((a) => a.type.id);
 * // KVM needs get_pfn: only where the profile has kvm-pfn; elsewhere the attach is EINVAL.
 * assert.deepEqual(accepted(rfcMappingTypesV1), ["kvm-pfn"]);
 * assert.deepEqual(accepted(linux71), []);
 * ```
 * @category Drivers
 */
export function kvmAccepts(m: Machine): readonly ImporterAccept[] {
  return m.profile.mappingTypes.includes(kvmPfn) ? [accept(kvmPfn, {}, KVM)] : [];
}

// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
/**
 * The KVM importer's slices by name.
 *
 * @category Drivers
 */
export type KvmSlices = {
  /** The dma-buf memslots by memslot id, with their stage-2 entries. */
  readonly memslots: SliceDef<PTable<KvmMemslot>>;
};

/**
 * The KVM importer of Xu Yilun's RFC (kernel-model §5.1): dma-buf backed
 * memslots (`KVM_MEM_VFIO_DMABUF`). KVM attaches dynamically with
 * `dev = NULL` and `allow_peer2peer = true`, gets PFNs through the
 * exporter's `get_pfn` at guest fault time, and its `move_notify` zaps the
 * slot's whole GFN range. Register it under the name `"kvm"`; its memslots
 * live in its driver slice `memslots` (a table by memslot id). It exists only where the profile has
 * the kvm option `dmabufImport`.
 *
 * @returns the importer driver.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot, defineMachine, rfcMappingTypesV1, runScript, topologySchema,
 * } from "@dmabuf-ref/core";
 * import { vfioPciExporter } from "@dmabuf-ref/exporters";
 * import { kvmImporter, kvmStateOf } from "@dmabuf-ref/importers";
 *
 * // vfio0's 16 MiB BAR 0 on a P2P host bridge, exported by vfio-pci to KVM (Xu Yilun's RFC).
 * const topology = topologySchema.parse({
 *   regions: [{ id: "vfio0.bar0", kind: "bar", base: 0x40_0000_0000n, size: 0x100_0000n,
 *     device: "vfio0" }],
 *   devices: [{ id: "vfio0", switch: "sw0" }],
 *   switches: [{ id: "sw0", hostBridge: "hb0" }], hostBridges: [{ id: "hb0", p2p: true }],
 * });
 * const vfio = vfioPciExporter({
 *   devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
 * });
 * const m = defineMachine({
 *   profile: rfcMappingTypesV1, topology, exporters: [vfio], importers: [kvmImporter()],
 * });
 * const kvm = (action: object) => ({ kind: "driver", driver: "kvm", action }) as const;
 * // dma-buf 1: the BAR's first 2 MiB.
 * const exportBar = { kind: "export", exporter: "vfio-pci", owner: "vfio0",
 *   args: { region_index: 0, ranges: [{ offset: 0n, length: 0x20_0000n }] } } as const;
 * const memslot = kvm({ op: "KVM_SET_USER_MEMORY_REGION2", slot: 1, gfnBase: 0x10_0000n,
 *   npages: 512n, fd: 1, offset: 0n });
 * const fault = kvm({ op: "guest-fault", slot: 1, gfn: 0x10_0000n });
 * const run = runScript(m, boot(m), [exportBar, memslot, fault]);
 * // The fault asked vfio-pci's get_pfn and installed one 2 MiB block of uncached MMIO.
 * const [e] = kvmStateOf(m, run.world).slots[0]?.stage2 ?? [];
 * assert.deepEqual([e?.gfn, e?.pfn, e?.order, e?.cache], [0x10_0000n, 0x400_0000n, 9, "uncached"]);
 * ```
 * @category Drivers
 */
export function kvmImporter(): DefinedImporter<KvmSlices, typeof kvmActionSchema> {
  return defineDriver({
    role: "importer",
    name: KVM,
    slices: { memslots: kvmMemslotsSlice },
    actions: { schema: kvmActionSchema, models: KVM_OP_MODELS, run: kvmAct },
    callbacks: {
      allowPeer2peer: true,
      accepts: kvmAccepts,
      invalidateMappings: kvmInvalidateMappings,
      candidates: kvmCandidates,
    },
  });
}
