import { driverState, setDriverState } from "@dmabuf-ref/core";
import type { Machine, World, kvmCacheAttrSchema } from "@dmabuf-ref/core";
import type * as z from "zod";
import { KVM } from "./constants.js";

/** The cache attribute KVM maps a PFN with (core's `kvm-pfn` payload, kernel-facts §5.1). */
export type KvmCacheAttr = z.output<typeof kvmCacheAttrSchema>;

/**
 * One stage-2 / EPT entry KVM installed for a dma-buf memslot at a guest
 * fault (kernel-facts §5.1): a naturally aligned block of `2^order` pages
 * mapping GFNs to host PFNs, with the oracle's grant for the guest's
 * accesses through it.
 */
export interface KvmStage2Entry {
  /** First GFN of the block. */
  readonly gfn: bigint;
  /** First host PFN of the block. */
  readonly pfn: bigint;
  /** The block's order (0 = 4 KiB, 9 = 2 MiB). */
  readonly order: number;
  /** The memory type the SPTE maps it with (never write-back for MMIO). */
  readonly cache: KvmCacheAttr;
  /** True when the block is device MMIO. */
  readonly mmio: boolean;
  /** The oracle's grant that lets the guest reach the block (DESIGN §3.5). */
  readonly grant: number;
}

/**
 * One `struct kvm_memory_slot` created with `KVM_MEM_VFIO_DMABUF`
 * (kernel-facts §5.1): the slot's GFN range and the dynamic attachment
 * KVM holds on the dma-buf.
 */
export interface KvmSlot {
  /** The memslot id (`kvm_userspace_memory_region2.slot`). */
  readonly slot: number;
  /** First guest frame number (`guest_phys_addr >> PAGE_SHIFT`). */
  readonly gfnBase: bigint;
  /** Number of guest pages (`memory_size >> PAGE_SHIFT`). */
  readonly npages: bigint;
  /** The dma-buf id (the fd in the `guest_memfd` field). */
  readonly buf: number;
  /** KVM's dynamic attachment (`dev = NULL`). */
  readonly att: number;
  /** `KVM_MEM_READONLY`: the stage-2 maps the memory read-only; guest stores exit to userspace. */
  readonly readonly: boolean;
  /**
   * True after `move_notify` zapped the slot's whole GFN range from the
   * stage-2 / EPT tables and no fault has re-populated it since.
   */
  readonly zapped: boolean;
  /** The stage-2 / EPT entries installed since the last zap, in fault order. */
  readonly stage2: readonly KvmStage2Entry[];
}

/** The KVM importer's slice of the World: its `KVM_MEM_VFIO_DMABUF` memslots (kernel-facts §5.1). */
export interface KvmState {
  /** The dma-buf backed memslots, by creation order. */
  readonly slots: readonly KvmSlot[];
}

const EMPTY: KvmState = { slots: [] };

/**
 * The KVM importer's state in a world (empty before the first memslot; kernel-facts §5.1).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the state.
 */
export function kvmStateOf(m: Machine, w: World): KvmState {
  return driverState<KvmState>(m, w, KVM, EMPTY);
}

/**
 * Replaces one slot (by id) or adds it.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param slot - the slot.
 * @returns the new world.
 */
export function putSlot(m: Machine, w: World, slot: KvmSlot): World {
  const slots = kvmStateOf(m, w).slots;
  const next = slots.some((s) => s.slot === slot.slot)
    ? slots.map((s) => (s.slot === slot.slot ? slot : s))
    : [...slots, slot];
  return setDriverState(m, w, KVM, { slots: next });
}
