import * as z from "zod";
import { blocked, done, failed, u64Schema } from "@dmabuf-ref/core";
import type { CallOutcome, Machine, Op, StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { kvmGuestAccess } from "./access.js";
import { KVM, KVM_MEM_VFIO_DMABUF, KVM_PAGE } from "./constants.js";
import { kvmGuestFault } from "./fault.js";
import { kvmSetMemslotDmabuf } from "./memslot.js";
import { kvmMemslots } from "./state.js";

/**
 * zod schema of the actions a core `driver` op may ask of KVM
 * (kernel-model §5.1): create a dma-buf memslot, take a guest fault, or make a guest access.
 *
 * @category uAPI
 */
export const kvmActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** `KVM_SET_USER_MEMORY_REGION2` with `KVM_MEM_VFIO_DMABUF` (the `KVM_SET_USER_MEMORY_REGION2` op). */
    op: z.literal("KVM_SET_USER_MEMORY_REGION2"),
    /** The memslot id. */
    slot: z.number().int().nonnegative(),
    /** First GFN. */
    gfnBase: u64Schema,
    /** Guest pages. */
    npages: u64Schema,
    /** The dma-buf fd. */
    fd: z.number().int(),
    /** `guest_memfd_offset`. */
    offset: u64Schema,
    /** `flags` (default `KVM_MEM_VFIO_DMABUF`). */
    flags: z.number().int().nonnegative().default(KVM_MEM_VFIO_DMABUF),
  }),
  z.strictObject({
    /** A guest load or store (the `guest-access` op), faulting the GFN in if the stage-2 misses. */
    op: z.literal("guest-access"),
    /** The memslot id. */
    slot: z.number().int().nonnegative(),
    /** The guest frame. */
    gfn: u64Schema,
    /** Byte offset in the frame. */
    offset: u64Schema,
    /** Bytes. */
    len: u64Schema,
    /** Load or store. */
    dir: z.enum(["read", "write"]),
  }),
  z.strictObject({
    /** A guest fault (the `guest-fault` op). */
    op: z.literal("guest-fault"),
    /** The memslot id. */
    slot: z.number().int().nonnegative(),
    /** The faulting GFN. */
    gfn: u64Schema,
  }),
]);

/**
 * An action for KVM's `act` (see {@link kvmActionSchema}; kernel-model §5.1).
 *
 * @category uAPI
 */
export type KvmAction = z.output<typeof kvmActionSchema>;

/**
 * KVM's `act`: runs one {@link KvmAction} as a step of the World.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param action - the action (validated by core's `step` against {@link kvmActionSchema}).
 * @returns done, the errno with the world unchanged, or blocked on resv
 *   (a fault sleeping on the dma-buf's resv).
 */
export function kvmAct(m: Machine, world: World, action: KvmAction): StepOutcome {
  return match(action)
    .returnType<StepOutcome>()
    .with({ op: "KVM_SET_USER_MEMORY_REGION2" }, (a) => kvmSetMemslotDmabuf(m, world, a))
    .with({ op: "guest-fault" }, (a) => asStep(world, kvmGuestFault(m, world, a)))
    .with({ op: "guest-access" }, (a) => asStep(world, kvmGuestAccess(m, world, a)))
    .exhaustive();
}

/** A typed KVM outcome as a step: what it returned is in the world (the stage-2 entry) and the trace. */
function asStep(world: World, r: CallOutcome<object>): StepOutcome {
  return match(r)
    .returnType<StepOutcome>()
    .with({ status: "done" }, (d) => done(d.world, d.events))
    .with({ status: "failed" }, (f) => failed(world, f.error))
    .with({ status: "blocked" }, (b) => blocked(world, "resv", b.reason))
    .exhaustive();
}

/** What each KVM op models in the kernel. */
export const KVM_OP_MODELS = {
  KVM_SET_USER_MEMORY_REGION2: "KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_VFIO_DMABUF",
  "guest-access": "a guest load or store, faulting the frame in on a stage-2 miss",
  "guest-fault": "a stage-2 fault: kvm_gmem_get_pfn() through the exporter's get_pfn",
} as const;

/** The first guest frame a candidate memslot starts at (4 GiB, above a small guest's RAM). */
const CANDIDATE_GFN_BASE = 0x10_0000n;

/**
 * KVM's entry points that could run now, for core's `candidateOps`: a
 * dma-buf memslot over every live dma-buf (whole, at the lowest free slot
 * id), and a guest load, store and fault at the first frame of every
 * memslot.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the ops, as `driver` ops of KVM.
 */
export function kvmCandidates(m: Machine, w: World): readonly Op[] {
  const ops: Op[] = [];
  const act = (action: z.input<typeof kvmActionSchema>): void => {
    ops.push({ kind: "driver", driver: KVM, action });
  };
  const slots = kvmMemslots(m, w);
  // Memslot ids start at 0; the table's own lowest free id counts from 1.
  const slot = slots.has(0) ? slots.lowestFreeId() : 0;
  for (const [fd, b] of w.bufs.entries()) {
    const npages = b.size / KVM_PAGE;
    act({
      op: "KVM_SET_USER_MEMORY_REGION2",
      slot,
      gfnBase: CANDIDATE_GFN_BASE,
      npages,
      fd,
      offset: 0n,
    });
  }
  for (const s of slots.values()) {
    for (const dir of ["read", "write"] as const) {
      act({ op: "guest-access", slot: s.slot, gfn: s.gfnBase, offset: 0n, len: 8n, dir });
    }
    act({ op: "guest-fault", slot: s.slot, gfn: s.gfnBase });
  }
  return ops;
}
