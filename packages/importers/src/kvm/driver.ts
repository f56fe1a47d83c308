import { accept, defineDriver, kvmPfn } from "@dmabuf-ref/core";
import type { DefinedImporter, ImporterAccept, Machine } from "@dmabuf-ref/core";
import { KVM_OP_MODELS, kvmAct, kvmActionSchema, kvmCandidates } from "./action.js";
import { KVM } from "./constants.js";
import { kvmInvalidateMappings } from "./invalidate.js";
import { kvmMemslotsSlice } from "./state.js";

/**
 * What KVM accepts (kernel-model §5.1): `[kvm-pfn {}]` when the profile has
 * the `kvm-pfn` type, otherwise nothing, so the attach fails in negotiation
 * with `EINVAL` (KVM import needs `get_pfn`; an SGT is of no use to it).
 *
 * @param m - the machine (for the profile).
 * @returns the accept list.
 */
export function kvmAccepts(m: Machine): readonly ImporterAccept[] {
  return m.profile.mappingTypes.includes(kvmPfn) ? [accept(kvmPfn, {}, KVM)] : [];
}

// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
/** The KVM importer's slices by name. */
export type KvmSlices = {
  /** The dma-buf memslots by memslot id, with their stage-2 entries. */
  readonly memslots: typeof kvmMemslotsSlice;
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
