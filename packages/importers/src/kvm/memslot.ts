import {
  attachBuf,
  blocked,
  done,
  failedAt,
  isKernelError,
  kernelError,
  mustBuf,
} from "@dmabuf-ref/core";
import type { KernelError, Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { dmaBufGet } from "@dmabuf-ref/core";
import {
  KVM,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MEM_VFIO_DMABUF,
  KVM_PAGE,
} from "./constants.js";
import { KVM_EMPTY_STAGE2, kvmMemslots, putSlot } from "./state.js";
import { kvmProfileOptions } from "./profile-options.js";

/**
 * The arguments of the `KVM_SET_USER_MEMORY_REGION2` op: the fields of
 * `kvm_userspace_memory_region2` it uses (kernel-model §5.1).
 *
 * @kernel include/uapi/linux/kvm.h kvm_userspace_memory_region2
 * @category uAPI
 */
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
  /**
   * `flags`: `KVM_MEM_VFIO_DMABUF`, optionally with `KVM_MEM_READONLY`
   * (default `KVM_MEM_VFIO_DMABUF`).
   */
  readonly flags?: number;
}

/**
 * The highest memslot id the model keeps (its tables' ids are below 2^30).
 * The kernel refuses every id above it anyway: `slot >> 16` would name an
 * address space far past `kvm_arch_nr_memslot_as_ids()` (`EINVAL`).
 */
const MAX_SLOT_ID = 2 ** 30 - 1;

const KNOWN_FLAGS =
  KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY | KVM_MEM_GUEST_MEMFD | KVM_MEM_VFIO_DMABUF;

/**
 * Which part of `KVM_SET_USER_MEMORY_REGION2` refused a dma-buf memslot
 * (DESIGN §3.2's stages, for KVM's path of kernel-model §5.1):
 * - `args`: the flag, `guest_memfd_offset`, the GFN range, the slot id, the size;
 * - `fd`: the fd is no dma-buf (`EBADF`);
 * - `attach`: `dma_buf_dynamic_attach(dmabuf, NULL, ...)`: negotiation
 *   (no `kvm-pfn`) or the exporter's `attach`.
 *
 * @category Drivers
 */
export type KvmMemslotStage = "args" | "fd" | "attach";

function refuse(w: World, stage: KvmMemslotStage, error: KernelError): StepOutcome {
  return failedAt(w, stage, error);
}

/**
 * `KVM_SET_USER_MEMORY_REGION2` with `KVM_MEM_VFIO_DMABUF` (Xu Yilun's RFC,
 * kernel-model §5.1), saying which part refused: creates a memslot backed
 * by a dma-buf. Checks, in order: the flag exists in the profile
 * (the kvm option `dmabufImport`; otherwise the kernel rejects the unknown flag
 * with `EINVAL`); the flags are known and include `KVM_MEM_VFIO_DMABUF`
 * (`EINVAL`); they do not add `KVM_MEM_GUEST_MEMFD` or dirty logging
 * (`EINVAL`); `guest_memfd_offset` is 0 (`EINVAL`); the slot has pages
 * (`EINVAL`); its id is below 2^30 (`EINVAL`: the kernel refuses such ids,
 * and the model's tables hold no larger) and free (`EEXIST`); the fd is a
 * dma-buf (`EBADF`);
 * the dma-buf's size equals the slot's size (`EINVAL`). Then KVM attaches
 * dynamically with `dev = NULL` and `allow_peer2peer = true`; the attach
 * can fail from negotiation (a profile without `kvm-pfn`, `EINVAL`) or from
 * the exporter's `attach`. Nothing is mapped until the guest faults
 * (the `guest-fault` op). A failure leaves the world unchanged.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param args - slot, GFN range, fd and offset.
 * @returns the slot's attachment, the refusing part and its errno, or blocked on resv.
 * @kernel virt/kvm/kvm_main.c __kvm_set_memory_region check_memory_region_flags
 *   virt/kvm/vfio_dmabuf.c kvm_vfio_dmabuf_bind
 */
export function kvmSetMemslotDmabuf(m: Machine, w: World, args: KvmMemslotArgs): StepOutcome {
  if (!kvmProfileOptions(m.profile).dmabufImport) {
    return refuse(
      w,
      "args",
      kernelError(
        "EINVAL",
        () => `KVM_MEM_VFIO_DMABUF is an unknown memslot flag under ${m.profile.id}`,
      ),
    );
  }
  const flags = args.flags ?? KVM_MEM_VFIO_DMABUF;
  if ((flags & ~KNOWN_FLAGS) !== 0 || (flags & KVM_MEM_VFIO_DMABUF) === 0) {
    return refuse(
      w,
      "args",
      kernelError(
        "EINVAL",
        () => `memslot flags 0x${flags.toString(16)}: not a KVM_MEM_VFIO_DMABUF slot`,
      ),
    );
  }
  if ((flags & (KVM_MEM_GUEST_MEMFD | KVM_MEM_LOG_DIRTY_PAGES)) !== 0) {
    return refuse(
      w,
      "args",
      kernelError(
        "EINVAL",
        "KVM_MEM_VFIO_DMABUF cannot be combined with KVM_MEM_GUEST_MEMFD or dirty logging",
      ),
    );
  }
  if (args.offset !== 0n) {
    return refuse(
      w,
      "args",
      kernelError("EINVAL", "guest_memfd_offset must be 0 for a dma-buf memslot"),
    );
  }
  if (args.npages <= 0n || args.gfnBase < 0n) {
    return refuse(
      w,
      "args",
      kernelError("EINVAL", "a dma-buf memslot needs a non-empty GFN range"),
    );
  }
  if (args.slot > MAX_SLOT_ID) {
    return refuse(
      w,
      "args",
      kernelError("EINVAL", () => `memslot id ${args.slot} names no address space of the VM`),
    );
  }
  if (kvmMemslots(m, w).has(args.slot)) {
    return refuse(
      w,
      "args",
      kernelError("EEXIST", () => `memslot ${args.slot} already exists`),
    );
  }
  const b = dmaBufGet(w, args.fd);
  if (isKernelError(b)) return refuse(w, "fd", b);
  const slotSize = args.npages * KVM_PAGE;
  if (b.size !== slotSize) {
    return refuse(
      w,
      "args",
      kernelError(
        "EINVAL",
        () =>
          `dma-buf size 0x${b.size.toString(16)} differs from the slot size 0x${slotSize.toString(16)}`,
      ),
    );
  }
  const attached = attachBuf(m, w, args.fd, KVM, null, true);
  if (attached.status === "blocked") return blocked(w, "resv", attached.reason);
  if (attached.status === "failed") return refuse(w, "attach", attached.error);
  const att = attached.created;
  if (att === undefined) throw new Error("kvm: attach created no attachment");
  const world = putSlot(m, attached.world, {
    slot: args.slot,
    gfnBase: args.gfnBase,
    npages: args.npages,
    buf: args.fd,
    att,
    readonly: (flags & KVM_MEM_READONLY) !== 0,
    zapped: false,
    stage2: KVM_EMPTY_STAGE2,
  });
  const events = [
    ...attached.events,
    {
      kind: "note" as const,
      actor: KVM,
      text: `memslot ${args.slot}: gfn 0x${args.gfnBase.toString(16)}+0x${args.npages.toString(16)} backed by buf ${args.fd} (${mustBuf(world, args.fd).owner})`,
    },
  ];
  return done(world, events, att);
}
