import {
  grantAccess,
  importerHolder,
  isPayloadOf,
  kernelError,
  kvmPfn,
  mapAtt,
  mustAtt,
  mustRun,
  resvLock,
  resvUnlock,
  unmapAtt,
} from "@dmabuf-ref/core";
import type { CallOutcome, Machine, PhysVec, TraceEvent, World } from "@dmabuf-ref/core";
import { KVM, KVM_MAX_ORDER, KVM_PAGE } from "./constants.js";
import { kvmMemslot, putSlot } from "./state.js";
import type { KvmCacheAttr, KvmMemslot, KvmStage2Entry } from "./state.js";

/**
 * The arguments of the `guest-fault` op: a guest stage-2 / EPT fault (kernel-model §5.1).
 *
 * @category Drivers
 */
export interface KvmFaultArgs {
  /** The memslot id. */
  readonly slot: number;
  /** The faulting guest frame number. */
  readonly gfn: bigint;
}

/**
 * What a guest stage-2 / EPT fault on a dma-buf memslot produced
 * (`kvm_faultin_pfn` via `get_pfn`, kernel-model §5.1): the PFN and how to
 * map it; or `-EIO` when `get_pfn` failed, `-EFAULT` when no memslot
 * covers the GFN; or blocked on the dma-buf's resv.
 *
 * @category Drivers
 */
export type KvmFaultOutcome = CallOutcome<{
  /** The host frame number `dma_buf_get_pfn_unlocked()` answered. */
  readonly pfn: bigint;
  /** The largest mapping order KVM may use for this fault (0 = 4 KiB). */
  readonly maxOrder: number;
  /** The cache attribute (never write-back for MMIO). */
  readonly cache: KvmCacheAttr;
  /** True when the frame is device MMIO. */
  readonly mmio: boolean;
}>;

function fail(w: World, errno: "EIO" | "EFAULT" | "EDEADLOCK", message: string): KvmFaultOutcome {
  return { status: "failed", error: kernelError(errno, message), world: w };
}

/**
 * The PFN of byte `offset` of the buffer, and the largest order whose
 * naturally aligned block holds it in one physical range, lines up with the
 * GFN, and stays inside the slot.
 */
function lookupPfn(
  ranges: readonly PhysVec[],
  offset: bigint,
  gfn: bigint,
  slot: KvmMemslot,
): { pfn: bigint; maxOrder: number } | undefined {
  let start = 0n;
  for (const r of ranges) {
    if (offset < start + r.len) {
      const paddr = r.paddr + (offset - start);
      const pfn = paddr / KVM_PAGE;
      for (let k = KVM_MAX_ORDER; k > 0; k--) {
        const n = 1n << BigInt(k);
        const pBlock = (pfn / n) * n;
        const gBlock = (gfn / n) * n;
        if (pfn - pBlock !== gfn - gBlock) continue;
        if (pBlock * KVM_PAGE < r.paddr || (pBlock + n) * KVM_PAGE > r.paddr + r.len) continue;
        if (gBlock < slot.gfnBase || gBlock + n > slot.gfnBase + slot.npages) continue;
        return { pfn, maxOrder: k };
      }
      return { pfn, maxOrder: 0 };
    }
    start += r.len;
  }
  return undefined;
}

function mustSlot(m: Machine, w: World, slot: number): KvmMemslot {
  const s = kvmMemslot(m, w, slot);
  if (s === undefined) throw new Error(`kvm: memslot ${slot} vanished`);
  return s;
}

/**
 * Installs the stage-2 / EPT block that maps `gfn` (the largest order the
 * fault allows) unless one already does, and grants the guest access to
 * it: the guest's loads and stores through it are judged by the oracle
 * like any DMA (the `guest-access` op).
 */
function install(
  m: Machine,
  w: World,
  slot: KvmMemslot,
  gfn: bigint,
  found: { pfn: bigint; maxOrder: number; cache: KvmCacheAttr; mmio: boolean },
): World {
  const settled = { ...slot, zapped: false };
  if (stage2At(slot, gfn) !== undefined) return putSlot(m, w, settled);
  const n = 1n << BigInt(found.maxOrder);
  const gBlock = (gfn / n) * n;
  const pBlock = found.pfn - (gfn - gBlock);
  const granted = grantAccess(w, {
    device: KVM,
    phys: pBlock * KVM_PAGE,
    len: n * KVM_PAGE,
    write: !slot.readonly,
    att: slot.att,
  });
  if (granted === undefined) throw new Error(`kvm: no memory at pfn 0x${pBlock.toString(16)}`);
  const entry: KvmStage2Entry = {
    gfn: gBlock,
    pfn: pBlock,
    order: found.maxOrder,
    cache: found.cache,
    mmio: found.mmio,
    grant: granted.id,
  };
  const stage2 = slot.stage2.set(slot.stage2.lowestFreeId(), entry);
  return putSlot(m, granted.world, { ...settled, stage2 });
}

/**
 * Whether a stage-2 entry maps a GFN.
 *
 * @param e - the entry.
 * @param gfn - the guest frame.
 * @returns true when `gfn` lies in the entry's block.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stage2Covers } from "@dmabuf-ref/importers";
 * import type { KvmStage2Entry } from "@dmabuf-ref/importers";
 *
 * // A 2 MiB block (order 9: 512 pages) at GFN 0x10_0000 mapping a BAR's PFNs.
 * const e: KvmStage2Entry = {
 *   gfn: 0x10_0000n, pfn: 0x400_0000n, order: 9, cache: "uncached", mmio: true, grant: 1,
 * };
 * assert.equal(stage2Covers(e, 0x10_01ffn), true);
 * assert.equal(stage2Covers(e, 0x10_0200n), false);
 * assert.equal(stage2Covers(e, 0x0f_ffffn), false);
 * ```
 * @category Drivers
 */
export function stage2Covers(e: KvmStage2Entry, gfn: bigint): boolean {
  return gfn >= e.gfn && gfn < e.gfn + (1n << BigInt(e.order));
}

/**
 * The stage-2 entry of a memslot that maps a GFN, if one does (the SPTE a
 * guest access walks to).
 *
 * @param slot - the memslot.
 * @param gfn - the guest frame.
 * @returns the entry or undefined.
 */
export function stage2At(slot: KvmMemslot, gfn: bigint): KvmStage2Entry | undefined {
  for (const e of slot.stage2.values()) if (stage2Covers(e, gfn)) return e;
  return undefined;
}

/**
 * A guest fault on a `KVM_MEM_VFIO_DMABUF` memslot (kernel-model §5.1):
 * KVM asks the exporter for the PFN through
 * `dma_buf_get_pfn_unlocked(attach, pgoff, &pfn, &max_order)`. The model of
 * `get_pfn` is core's map of the `kvm-pfn` type: when the attachment holds
 * no mapping (first fault, or after a zap) KVM takes the buffer's resv,
 * maps, and drops resv; otherwise it reads the mapping's payload. The
 * answer is the PFN, the largest mapping order and the cache attribute.
 *
 * On success KVM installs the stage-2 block that maps the GFN and the guest
 * may reach it (the `guest-access` op) until the next zap.
 *
 * Any failure of `get_pfn` (a revoked buffer's `ENODEV`) becomes `-EIO`,
 * and a payload that would map MMIO cacheable is refused with `-EIO` too:
 * KVM never maps MMIO write-back. A GFN outside the slot is `-EFAULT`.
 * Failures leave the world unchanged. After an un-revoke the next fault
 * maps again: KVM re-faults, nothing re-maps on its own.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param args - the slot and the faulting GFN.
 * @returns the PFN, order and cache attribute; or the errno; or blocked on resv.
 * @kernel arch/x86/kvm/mmu/mmu.c kvm_faultin_pfn virt/kvm/vfio_dmabuf.c kvm_vfio_dmabuf_get_pfn
 */
export function kvmGuestFault(m: Machine, w: World, args: KvmFaultArgs): KvmFaultOutcome {
  const slot = kvmMemslot(m, w, args.slot);
  if (slot === undefined) return fail(w, "EFAULT", `no dma-buf memslot ${args.slot}`);
  if (args.gfn < slot.gfnBase || args.gfn >= slot.gfnBase + slot.npages) {
    return fail(w, "EFAULT", `gfn 0x${args.gfn.toString(16)} is outside memslot ${args.slot}`);
  }
  const att = slot.att;
  let world = w;
  const events: TraceEvent[] = [];
  // The memslot holds the attachment until it is deleted; a user's own
  // dma_buf_detach of it (misuse the model allows) leaves nothing to fault
  // through: KVM's -EFAULT for a gfn with no usable PFN.
  const a = w.atts.get(att);
  if (a === undefined)
    return fail(w, "EFAULT", `memslot ${args.slot}'s dma-buf attachment ${att} is gone`);
  if (a.mapping === null || a.invalidated) {
    const holder = importerHolder(KVM, att);
    const locked = resvLock(world, slot.buf, holder);
    if (locked.status === "blocked") return { status: "blocked", reason: locked.reason, world: w };
    if (locked.status === "failed") return fail(w, "EDEADLOCK", locked.error.message);
    world = locked.world;
    events.push(...locked.events);
    if (a.mapping !== null) {
      world = mustRun(unmapAtt(m, world, att, holder), "kvm: the stale unmap", events).world;
    }
    const mapped = mapAtt(m, world, att, holder);
    if (mapped.status !== "done") {
      const why =
        mapped.status === "failed" ? mapped.error : { errno: "EBUSY", message: mapped.reason };
      return fail(w, "EIO", `get_pfn failed (${why.errno}: ${why.message}), so the fault is -EIO`);
    }
    world = mapped.world;
    events.push(...mapped.events);
    world = mustRun(resvUnlock(world, slot.buf, holder), "kvm: dma_resv_unlock", events).world;
  }
  const answer = mustAtt(world, att).mapping?.payload;
  if (!isPayloadOf(kvmPfn, answer))
    return fail(w, "EIO", "get_pfn answer refused: not a kvm-pfn payload");
  // KVM checks what the exporter claims (a wrong exporter may claim write-back MMIO).
  const parsed = kvmPfn.payload.safeParse(answer.value);
  if (!parsed.success) {
    return fail(w, "EIO", `get_pfn answer refused: ${parsed.error.issues[0]?.message ?? ""}`);
  }
  const p = parsed.data;
  const offset = (args.gfn - slot.gfnBase) * KVM_PAGE;
  const found = lookupPfn(p.ranges, offset, args.gfn, slot);
  if (found === undefined) {
    return fail(
      w,
      "EIO",
      `get_pfn: pgoff 0x${(offset / KVM_PAGE).toString(16)} is past the ranges`,
    );
  }
  world = install(m, world, mustSlot(m, world, args.slot), args.gfn, {
    pfn: found.pfn,
    maxOrder: found.maxOrder,
    cache: p.cache,
    mmio: p.mmio,
  });
  events.push({
    kind: "note",
    actor: KVM,
    text: `fault gfn 0x${args.gfn.toString(16)}: get_pfn -> pfn 0x${found.pfn.toString(16)}, order ${found.maxOrder}, ${p.cache}${p.mmio ? " MMIO" : ""}`,
  });
  return {
    status: "done",
    world,
    events,
    pfn: found.pfn,
    maxOrder: found.maxOrder,
    cache: p.cache,
    mmio: p.mmio,
  };
}
