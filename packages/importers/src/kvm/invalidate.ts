import { endGrants, mustBuf, mustRun, unmapAtt } from "@dmabuf-ref/core";
import type { DriverStep, Machine, TraceEvent, World } from "@dmabuf-ref/core";
import { KVM } from "./constants.js";
import { KVM_EMPTY_STAGE2, kvmMemslots, putSlot } from "./state.js";
import type { KvmMemslot } from "./state.js";

/**
 * KVM's `move_notify` / `invalidate_mappings` for a dma-buf memslot
 * (kernel-model §5.1), called with the buffer's resv held: zaps the slot's
 * whole GFN range, shared and private (`kvm_mmu_unmap_gfn_range` plus a
 * TLB flush inside an invalidate begin/end), so the guest reaches the
 * memory no more once it returns: every installed stage-2 entry goes, and
 * with it the oracle's grant for the guest's accesses. In the model the zap also drops KVM's
 * `kvm-pfn` mapping (under the exporter's resv holder), so the exporter's
 * wait for unmaps completes; the next guest fault asks `get_pfn` again.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the invalidated attachment.
 * @returns the world and events.
 * @kernel virt/kvm/vfio_dmabuf.c kv_dmabuf_move_notify
 */
export function kvmInvalidateMappings(m: Machine, w: World, att: number): DriverStep {
  const slot = slotOfAtt(m, w, att);
  if (slot === undefined) return { world: w, events: [] };
  // The zap removes the guest's translations first: from here on the guest
  // reaches the memory no more, before the exporter hears KVM unmapped.
  let world = endGrants(
    w,
    [...slot.stage2.values()].map((e) => e.grant),
  );
  const events: TraceEvent[] = [];
  if (world.atts.get(att)?.mapping != null) {
    world = mustRun(
      unmapAtt(m, world, att, mustBuf(world, slot.buf).resvHolder),
      "kvm: the zap's unmap",
      events,
    ).world;
  }
  const last = slot.gfnBase + slot.npages - 1n;
  events.push({
    kind: "note",
    actor: KVM,
    text: `zap memslot ${slot.slot}: gfn 0x${slot.gfnBase.toString(16)}-0x${last.toString(16)} (kvm_mmu_unmap_gfn_range + TLB flush)`,
  });
  world = putSlot(m, world, { ...slot, zapped: true, stage2: KVM_EMPTY_STAGE2 });
  return { world, events };
}

/** The memslot whose attachment is `att`, if any (one attachment per memslot). */
function slotOfAtt(m: Machine, w: World, att: number): KvmMemslot | undefined {
  for (const s of kvmMemslots(m, w).values()) if (s.att === att) return s;
  return undefined;
}
