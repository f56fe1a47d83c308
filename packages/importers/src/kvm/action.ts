import * as z from "zod";
import { blocked, done, failed, kernelError, u64Schema } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { kvmGuestAccess } from "./access.js";
import { KVM_MEM_VFIO_DMABUF } from "./constants.js";
import { kvmGuestFault } from "./fault.js";
import { kvmSetMemslotDmabuf } from "./memslot.js";

/**
 * zod schema of the actions a core `driver` op may ask of KVM
 * (kernel-facts §5.1): create a dma-buf memslot, take a guest fault, or make a guest access.
 */
export const kvmActionSchema = z.discriminatedUnion("kind", [
  z.object({
    /** `KVM_SET_USER_MEMORY_REGION2` with `KVM_MEM_VFIO_DMABUF` ({@link kvmSetMemslotDmabuf}). */
    kind: z.literal("set-memslot"),
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
  z.object({
    /** A guest load or store ({@link kvmGuestAccess}), faulting the GFN in if the stage-2 misses. */
    kind: z.literal("access"),
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
  z.object({
    /** A guest fault ({@link kvmGuestFault}). */
    kind: z.literal("fault"),
    /** The memslot id. */
    slot: z.number().int().nonnegative(),
    /** The faulting GFN. */
    gfn: u64Schema,
  }),
]);

/** An action for KVM's `act` (see {@link kvmActionSchema}; kernel-facts §5.1). */
export type KvmAction = z.output<typeof kvmActionSchema>;

/**
 * KVM's `act`: runs one {@link KvmAction} as a step of the World.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param action - the action, validated here (`EINVAL` when malformed).
 * @returns done, the errno with the world unchanged, or blocked on resv
 *   (a fault sleeping on the dma-buf's resv).
 */
export function kvmAct(m: Machine, world: World, action: unknown): StepOutcome {
  const parsed = kvmActionSchema.safeParse(action);
  if (!parsed.success) {
    return failed(
      world,
      kernelError("EINVAL", `bad kvm action: ${parsed.error.issues[0]?.message ?? ""}`),
    );
  }
  const r = match(parsed.data)
    .with({ kind: "set-memslot" }, (a) => kvmSetMemslotDmabuf(m, world, a))
    .with({ kind: "fault" }, (a) => kvmGuestFault(m, world, a))
    .with({ kind: "access" }, (a) => kvmGuestAccess(m, world, a))
    .exhaustive();
  return match<typeof r, StepOutcome>(r)
    .with({ status: "done" }, (d) => done(d.world, d.events))
    .with({ status: "failed" }, (f) => failed(world, f.error))
    .with({ status: "blocked" }, (b) => blocked(world, "resv", b.reason))
    .exhaustive();
}
