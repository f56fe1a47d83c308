import { access, hex, kernelError } from "@dmabuf-ref/core";
import type {
  AccessOutcome,
  CallOutcome,
  DmaDirection,
  Machine,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { KVM, KVM_PAGE } from "./constants.js";
import { kvmGuestFault, stage2At } from "./fault.js";
import { kvmMemslot } from "./state.js";

/**
 * The arguments of the `guest-access` op: one guest load or store to a dma-buf memslot.
 *
 * @category Drivers
 */
export interface KvmGuestAccessArgs {
  /** The memslot id. */
  readonly slot: number;
  /** The guest frame. */
  readonly gfn: bigint;
  /** Byte offset in the frame. */
  readonly offset: bigint;
  /** Bytes; the access stays inside the frame. */
  readonly len: bigint;
  /** Load or store. */
  readonly dir: DmaDirection;
}

/**
 * What a guest access did: the oracle's verdict; or `-EFAULT` (no memslot
 * covers the GFN), `-EINVAL` (a bad access), `-EIO` (the fault failed); or
 * blocked while the fault would sleep on the dma-buf's resv.
 *
 * @category Drivers
 */
export type KvmGuestAccessOutcome = CallOutcome<{
  /**
   * The oracle's verdict on the access (DESIGN §3.5), or `"mmio-exit"`: a
   * store to a `KVM_MEM_READONLY` slot never reaches memory, `KVM_RUN`
   * returns to the VMM with `KVM_EXIT_MMIO`.
   */
  readonly outcome: AccessOutcome | "mmio-exit";
}>;

/**
 * A guest load or store to a `KVM_MEM_VFIO_DMABUF` memslot (kernel-model
 * §5.1). If a stage-2 / EPT entry maps the GFN the access goes straight to
 * the host frame, with no help from KVM, as on hardware; otherwise it is an
 * EPT violation, KVM faults the GFN in through `get_pfn`
 * (the `guest-fault` op) and the access retries (a failed fault is `EIO`,
 * which `KVM_RUN` returns to the VMM: the guest never reaches the memory).
 * The access itself is judged by the oracle like any DMA (DESIGN §3.5): the
 * guest is the agent `"kvm"`, issuing host physical addresses through its
 * stage-2, and the grants are the installed entries. So a guest that
 * reaches the BAR after its reset or disable through an entry nobody
 * zapped is a violation, which is what a missing or late zap would cause.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param args - the slot, GFN, offset, length and direction.
 * @returns the verdict, or why KVM could not run the access.
 */
export function kvmGuestAccess(
  m: Machine,
  w: World,
  args: KvmGuestAccessArgs,
): KvmGuestAccessOutcome {
  const slot = kvmMemslot(m, w, args.slot);
  if (slot === undefined || args.gfn < slot.gfnBase || args.gfn >= slot.gfnBase + slot.npages) {
    return failed(w, "EFAULT", `no dma-buf memslot ${args.slot} covers gfn ${hex(args.gfn)}`);
  }
  if (args.len <= 0n || args.offset < 0n || args.offset + args.len > KVM_PAGE) {
    return failed(w, "EINVAL", "a guest access stays inside one 4 KiB frame");
  }
  if (slot.readonly && args.dir === "write") {
    const text = `store to read-only memslot ${args.slot} at gfn ${hex(args.gfn)}: KVM_EXIT_MMIO`;
    return {
      status: "done",
      world: w,
      events: [{ kind: "note", actor: KVM, text }],
      outcome: "mmio-exit",
    };
  }
  let world = w;
  const events: TraceEvent[] = [];
  if (stage2At(slot, args.gfn) === undefined) {
    events.push({
      kind: "note",
      actor: KVM,
      text: `EPT violation at gfn ${hex(args.gfn)}: fault it in`,
    });
    const fault = kvmGuestFault(m, w, { slot: args.slot, gfn: args.gfn });
    if (fault.status !== "done") return { ...fault, world: w };
    world = fault.world;
    events.push(...fault.events);
  }
  const faulted = kvmMemslot(m, world, args.slot);
  const entry = faulted === undefined ? undefined : stage2At(faulted, args.gfn);
  if (entry === undefined) throw new Error("kvm: the fault installed no stage-2 entry");
  const phys = (entry.pfn + (args.gfn - entry.gfn)) * KVM_PAGE + args.offset;
  const r = access(m, world, KVM, phys, args.len, args.dir);
  return { status: "done", world: r.world, events: [...events, ...r.events], outcome: r.outcome };
}

function failed(w: World, errno: "EFAULT" | "EINVAL", message: string): KvmGuestAccessOutcome {
  return { status: "failed", error: kernelError(errno, message), world: w };
}
