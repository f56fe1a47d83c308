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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot, defineMachine, rfcMappingTypesV1, runScript, topologySchema,
 * } from "@dmabuf-ref/core";
 * import { vfioPciExporter } from "@dmabuf-ref/exporters";
 * import { kvmImporter, kvmInvalidateMappings, kvmStateOf } from "@dmabuf-ref/importers";
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
 * const { world } = runScript(m, boot(m), [
 *   exportBar, memslot, kvm({ op: "guest-fault", slot: 1, gfn: 0x10_0000n }),
 *   { kind: "lock", buf: 1, holder: "vfio-pci" }, // the exporter revokes under resv
 * ]);
 * const zapped = kvmInvalidateMappings(m, world, 1); // attachment 1: the memslot's
 * const [slot] = kvmStateOf(m, zapped.world).slots;
 * assert.deepEqual([slot?.zapped, slot?.stage2.length], [true, 0]);
 * assert.equal(zapped.world.atts.get(1)?.mapping, null);
 * ```
 * @kernel virt/kvm/vfio_dmabuf.c kv_dmabuf_move_notify
 * @category Drivers
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
