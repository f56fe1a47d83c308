import {
  attachBuf,
  blocked,
  done,
  failed,
  isKernelError,
  kernelError,
  mustBuf,
} from "@dmabuf-ref/core";
import type { StepOutcome, World } from "@dmabuf-ref/core";
import { dmaBufGet } from "../iommufd/dmabuf-fd.js";
import { KVM, KVM_PAGE } from "./constants.js";
import { kvmStateOf, putSlot } from "./state.js";

/** The arguments of {@link kvmSetMemslotDmabuf}: the fields of `kvm_userspace_memory_region2` it uses (kernel-facts §5.1). */
export interface KvmMemslotArgs {
  /** `slot`: the memslot id. */
  readonly slot: number;
  /** First guest frame number (`guest_phys_addr >> PAGE_SHIFT`). */
  readonly gfnBase: bigint;
  /** Guest pages (`memory_size >> PAGE_SHIFT`). */
  readonly npages: bigint;
  /** The dma-buf fd, passed in the `guest_memfd` field (a dma-buf id in the model). */
  readonly fd: number;
  /** `guest_memfd_offset`: must be 0 for a dma-buf slot. */
  readonly offset: bigint;
}

/**
 * `KVM_SET_USER_MEMORY_REGION2` with `KVM_MEM_VFIO_DMABUF` (Xu Yilun's RFC,
 * kernel-facts §5.1): creates a memslot backed by a dma-buf. Checks, in
 * order: the flag exists in the profile (`rules.kvmDmabufImport`; otherwise
 * the kernel rejects the unknown flag with `EINVAL`); `guest_memfd_offset`
 * is 0 (`EINVAL`); the slot has pages and its id is free (`EINVAL`,
 * `EEXIST`); the fd is a dma-buf (`EBADF`); the dma-buf's size equals the
 * slot's size (`EINVAL`). Then KVM attaches dynamically with `dev = NULL`
 * and `allow_peer2peer = true`; the attach can fail from negotiation (a
 * profile without `kvm-pfn`, `EINVAL`) or from the exporter's `attach`.
 * Nothing is mapped until the guest faults ({@link kvmGuestFault}).
 *
 * @param w - the world.
 * @param args - slot, GFN range, fd and offset.
 * @returns done (created = the attachment id), failed with the world unchanged, or blocked on resv.
 */
export function kvmSetMemslotDmabuf(w: World, args: KvmMemslotArgs): StepOutcome {
  if (!w.config.profile.rules.kvmDmabufImport) {
    return failed(
      w,
      kernelError(
        "EINVAL",
        `KVM_MEM_VFIO_DMABUF is an unknown memslot flag under ${w.config.profile.id}`,
      ),
    );
  }
  if (args.offset !== 0n) {
    return failed(w, kernelError("EINVAL", "guest_memfd_offset must be 0 for a dma-buf memslot"));
  }
  if (args.npages <= 0n || args.gfnBase < 0n) {
    return failed(w, kernelError("EINVAL", "a dma-buf memslot needs a non-empty GFN range"));
  }
  if (kvmStateOf(w).slots.some((s) => s.slot === args.slot)) {
    return failed(w, kernelError("EEXIST", `memslot ${args.slot} already exists`));
  }
  const b = dmaBufGet(w, args.fd);
  if (isKernelError(b)) return failed(w, b);
  const slotSize = args.npages * KVM_PAGE;
  if (b.size !== slotSize) {
    return failed(
      w,
      kernelError(
        "EINVAL",
        `dma-buf size 0x${b.size.toString(16)} differs from the slot size 0x${slotSize.toString(16)}`,
      ),
    );
  }
  const attached = attachBuf(w, args.fd, KVM, null, true);
  if (attached.status === "blocked") return blocked(w, "resv", attached.reason);
  if (attached.status === "failed") return failed(w, attached.error);
  const att = attached.created;
  if (att === undefined) throw new Error("kvm: attach created no attachment");
  const world = putSlot(attached.world, {
    slot: args.slot,
    gfnBase: args.gfnBase,
    npages: args.npages,
    buf: args.fd,
    att,
    zapped: false,
    zaps: 0,
  });
  return done(
    world,
    [
      ...attached.events,
      {
        kind: "note",
        actor: KVM,
        text: `memslot ${args.slot}: gfn 0x${args.gfnBase.toString(16)}+0x${args.npages.toString(16)} backed by buf ${args.fd} (${mustBuf(world, args.fd).owner})`,
      },
    ],
    att,
  );
}
