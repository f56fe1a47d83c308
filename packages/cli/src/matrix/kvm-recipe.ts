import { kvmPfn, mustBuf, offersOf, step } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { KVM, KVM_PAGE, kvmProfileOptions } from "@dmabuf-ref/importers";
import type { KvmMemslotStage } from "@dmabuf-ref/importers";
import type { MatrixStage } from "./cell.js";
import { negotiationRefusal } from "./negotiate-first.js";
import { fromFirstFault, fromStaged } from "./staged-import.js";
import type { Imported, ImporterRecipe, Refused } from "./recipes.js";

/** The memslot id the matrix creates. */
const SLOT = 0;
/** Its first GFN: guest physical 4 GiB, 1 GiB aligned so `max_order` is the buffer's, not the slot's. */
const GFN_BASE = 0x10_0000n;

/**
 * Adds to negotiation's bare "no acceptable pair" why KVM found nothing:
 * it accepts only `kvm-pfn`, i.e. the exporter must implement Xu Yilun's
 * `get_pfn` op, and in his RFC only VFIO does (kernel-model §5.1).
 */
function explainNegotiation(m: Machine, w: World, buf: number, refusal: Refused): Refused {
  if (offersOf(m, w, buf).some((o) => o.type === kvmPfn)) return refusal;
  return {
    ...refusal,
    reason: `${refusal.reason}: ${mustBuf(w, buf).exporter} has no get_pfn (in Xu Yilun's RFC only VFIO does)`,
  };
}

const STAGE: Readonly<Record<KvmMemslotStage, MatrixStage>> = {
  args: "import",
  fd: "import",
  attach: "exporter attach",
};

/**
 * kvm: what a VMM does to give a guest a dma-buf through Xu Yilun's RFC
 * (kernel-model §5.1), driven through KVM's own entry points: a
 * `KVM_MEM_VFIO_DMABUF` memslot sized to the buffer
 * (the `KVM_SET_USER_MEMORY_REGION2` op), then the guest's first stage-2 /
 * EPT fault (the `guest-fault` op), both through `step`, which calls the exporter's `get_pfn` and is the
 * cell's first map.
 *
 * @remarks
 * Absent where the profile lacks the kvm option `dmabufImport` (the memslot flag
 * does not exist). Negotiation is checked first only to name the stage
 * (the ioctl reports it as a failed attach, `-EINVAL`); then the memslot's
 * refusals are "exporter attach" when the exporter's `attach` refused and
 * "import" for KVM's own checks (the failed step's `stage` says which); a failed fault is "first map" (`-EIO`, with
 * `get_pfn`'s reason). KVM's attachment is dynamic with an invalidate
 * callback and no pin, so the cell is revocable, and movable when the
 * exporter moves memory.
 */
export const kvmRecipe: ImporterRecipe = {
  name: KVM,
  absentReason: (p) => (kvmProfileOptions(p).dmabufImport ? undefined : `not in ${p.id}`),
  import(m, w, buf): Imported {
    const neg = negotiationRefusal(m, w, buf, KVM, null);
    if (neg !== undefined) return explainNegotiation(m, w, buf, neg);
    const size = mustBuf(w, buf).size;
    const npages = (size + KVM_PAGE - 1n) / KVM_PAGE;
    const args = { slot: SLOT, gfnBase: GFN_BASE, npages, fd: buf, offset: 0n };
    const memslot = { op: "KVM_SET_USER_MEMORY_REGION2", ...args };
    return fromStaged(
      step(m, w, { kind: "driver", driver: KVM, action: memslot }),
      STAGE,
      "KVM_SET_USER_MEMORY_REGION2",
      (world, att) =>
        fromFirstFault(
          step(m, world, {
            kind: "driver",
            driver: KVM,
            action: { op: "guest-fault", slot: SLOT, gfn: GFN_BASE },
          }),
          att,
          "the first guest fault",
        ),
    );
  },
};
