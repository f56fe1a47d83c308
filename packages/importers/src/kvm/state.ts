import { readSlice, tableSlice, writeSlice, setCodec } from "@dmabuf-ref/core";
import { PTable, pushU64, equalWith } from "@dmabuf-ref/core/encoding";
import type { Codec, Machine, SliceDef, World, kvmCacheAttrSchema } from "@dmabuf-ref/core";
import type * as z from "zod";
import { KVM } from "./constants.js";

/**
 * The cache attribute KVM maps a PFN with (core's `kvm-pfn` payload, kernel-model §5.1).
 *
 * @category Drivers
 */
export type KvmCacheAttr = z.output<typeof kvmCacheAttrSchema>;

/**
 * One stage-2 / EPT entry KVM installed for a dma-buf memslot at a guest
 * fault (kernel-model §5.1): a naturally aligned block of `2^order` pages
 * mapping GFNs to host PFNs, with the oracle's grant for the guest's
 * accesses through it.
 *
 * @category Drivers
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

/** Each cache attribute as a small integer, for the canonical encoding. */
const CACHE_CODE: Readonly<Record<KvmCacheAttr, number>> = {
  uncached: 0,
  "write-combine": 1,
  "write-back": 2,
};

/**
 * Canonical encoding of a {@link KvmStage2Entry} (one SPTE block): GFN,
 * PFN, then order, cache attribute, MMIO bit and grant id.
 */
export const kvmStage2EntryCodec: Codec<KvmStage2Entry> = {
  seed: 0x5e2e,
  encode(e, out) {
    pushU64(out, e.gfn);
    pushU64(out, e.pfn);
    out.push(e.order, CACHE_CODE[e.cache], e.mmio ? 1 : 0, e.grant);
  },
};

/**
 * Canonical encoding of a memslot's stage-2 entries: a set. Their table ids
 * are slots of the model in fault order, which neither the guest nor the
 * kernel observes (the SPTEs are found by GFN), so two slots that faulted
 * the same blocks in another order are equal.
 */
export const kvmStage2TableCodec: Codec<PTable<KvmStage2Entry>> = setCodec(kvmStage2EntryCodec);

/** The empty stage-2 of a memslot just created or just zapped. */
export const KVM_EMPTY_STAGE2: PTable<KvmStage2Entry> = PTable.empty(kvmStage2EntryCodec);

/**
 * One `struct kvm_memory_slot` created with `KVM_MEM_VFIO_DMABUF`
 * (kernel-model §5.1), as {@link kvmStateOf} shows it: the slot's GFN
 * range, the dynamic attachment KVM holds on the dma-buf, and the stage-2
 * entries installed since the last zap.
 *
 * @category Drivers
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

/**
 * One `struct kvm_memory_slot` created with `KVM_MEM_VFIO_DMABUF`
 * (kernel-model §5.1) as the driver keeps it: a {@link KvmSlot} whose
 * stage-2 / EPT entries are a table (installing one re-encodes that entry
 * only), keyed by a slot number in fault order that nothing observes.
 *
 * @kernel include/linux/kvm_host.h kvm_memory_slot
 * @category Drivers
 */
export interface KvmMemslot extends Omit<KvmSlot, "stage2"> {
  /** The stage-2 / EPT entries installed since the last zap. */
  readonly stage2: PTable<KvmStage2Entry>;
}

/** The memslot's fields other than its stage-2, as words. */
function encodeMemslotHead(s: KvmMemslot, out: number[]): void {
  out.push(s.slot);
  pushU64(out, s.gfnBase);
  pushU64(out, s.npages);
  out.push(s.buf, s.att, (s.readonly ? 1 : 0) | (s.zapped ? 2 : 0));
}

function sameWords(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Canonical encoding of a {@link KvmMemslot}: its id, GFN range, buffer,
 * attachment, flags, then its stage-2 as a set (size and values hash; see
 * {@link kvmStage2TableCodec}), compared exactly by `equals`.
 */
export const kvmMemslotCodec: Codec<KvmMemslot> = {
  seed: 0x3e35,
  encode(s, out) {
    encodeMemslotHead(s, out);
    kvmStage2TableCodec.encode(s.stage2, out);
  },
  equals(a, b) {
    const x: number[] = [];
    const y: number[] = [];
    encodeMemslotHead(a, x);
    encodeMemslotHead(b, y);
    return sameWords(x, y) && equalWith(kvmStage2TableCodec, a.stage2, b.stage2);
  },
};

/**
 * The KVM importer's slice of the World: its `KVM_MEM_VFIO_DMABUF`
 * memslots (the VM's `kvm_memslots`, kernel-model §5.1), a table keyed by
 * memslot id (`kvm_userspace_memory_region2.slot`).
 *
 * @category Drivers
 */
export const kvmMemslotsSlice: SliceDef<PTable<KvmMemslot>> = tableSlice(
  "memslots",
  kvmMemslotCodec,
);

/**
 * The KVM importer's memslots in a world, by memslot id (empty before the first).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the table.
 */
export function kvmMemslots(m: Machine, w: World): PTable<KvmMemslot> {
  return readSlice(m, w, KVM, kvmMemslotsSlice);
}

/**
 * The memslot with an id, if KVM has one.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param slot - the memslot id.
 * @returns the memslot or undefined.
 */
export function kvmMemslot(m: Machine, w: World, slot: number): KvmMemslot | undefined {
  return kvmMemslots(m, w).get(slot);
}

/**
 * Replaces one slot (by id) or adds it.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param slot - the slot.
 * @returns the new world.
 */
export function putSlot(m: Machine, w: World, slot: KvmMemslot): World {
  return writeSlice(m, w, KVM, kvmMemslotsSlice, kvmMemslots(m, w).set(slot.slot, slot));
}

/**
 * The KVM importer's slice of the World, as lists: its `KVM_MEM_VFIO_DMABUF` memslots (kernel-model §5.1).
 *
 * @category Drivers
 */
export interface KvmState {
  /** The dma-buf backed memslots, by memslot id. */
  readonly slots: readonly KvmSlot[];
}

/**
 * The KVM importer's state in a world as lists (empty before the first
 * memslot; kernel-model §5.1), for tests and the CLI; the driver itself
 * reads its `memslots` slice, a table by memslot id.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the state.
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
 * assert.deepEqual(kvmStateOf(m, boot(m)).slots, []);
 * const { world } = runScript(m, boot(m), [exportBar, memslot]);
 * // The memslot holds a dynamic attachment; nothing is mapped until the guest faults.
 * const [slot] = kvmStateOf(m, world).slots;
 * assert.deepEqual([slot?.slot, slot?.buf, slot?.npages, slot?.stage2.length], [1, 1, 512n, 0]);
 * ```
 * @category Drivers
 */
export function kvmStateOf(m: Machine, w: World): KvmState {
  return {
    slots: [...kvmMemslots(m, w).values()].map((s) => ({ ...s, stage2: [...s.stage2.values()] })),
  };
}
