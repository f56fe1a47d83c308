/*
 * vfio_iommu_type1.c's walk from a user address to what it maps
 * (`vfio_pin_pages_remote` -> `vaddr_get_pfns`): first
 * `pin_user_pages_remote(FOLL_LONGTERM)`; where GUP refuses with EFAULT
 * and the VMA is `VM_PFNMAP`, `follow_fault_pfn` reads the PFN out of the
 * page table (faulting it in through the VMA's fault handler first), and
 * a PFN without a struct page (`is_invalid_reserved_pfn`: MMIO) is used
 * as is, with no reference taken on anything.
 */
import { err, hex, ok, regionNamed, userPages, vmasOf } from "@dmabuf-ref/core";
import type { Machine, PagePiece, Result, Vma, World } from "@dmabuf-ref/core";

/**
 * What the walk found for one stretch of user addresses.
 *
 * @category Drivers
 */
export type UserPfns =
  /** Pages GUP pinned (anonymous memory or a memfd's): released at unmap. */
  | {
      /** Discriminant. */
      readonly kind: "pinned";
      /** The pieces, as core's mm pins them. */
      readonly pieces: readonly PagePiece[];
    }
  /** PFNs read out of a `VM_PFNMAP` VMA: no reference, no pin. */
  | {
      /** Discriminant. */
      readonly kind: "pfnmap";
      /** First user address. */
      readonly start: bigint;
      /** Bytes. */
      readonly len: bigint;
      /** CPU physical address of the first byte. */
      readonly phys: bigint;
    };

/** One stretch of `[start, end)` that one VMA (or none: anonymous memory) covers. */
interface Stretch {
  readonly start: bigint;
  readonly end: bigint;
  readonly vma: Vma | undefined;
}

function stretches(vmas: readonly Vma[], start: bigint, end: bigint): readonly Stretch[] {
  const out: Stretch[] = [];
  let at = start;
  for (const v of vmas) {
    if (v.end <= at || v.start >= end) continue;
    if (v.start > at) out.push({ start: at, end: v.start, vma: undefined });
    const to = v.end < end ? v.end : end;
    out.push({ start: at > v.start ? at : v.start, end: to, vma: v });
    at = to;
  }
  if (at < end) out.push({ start: at, end, vma: undefined });
  return out;
}

/**
 * `follow_fault_pfn` on a VFIO BAR mmap (`VM_IO | VM_PFNMAP`): the PFN of
 * each page, faulted in by `vfio_pci_mmap_huge_fault` if not present. The
 * fault handler refuses (`VM_FAULT_SIGBUS`, so `fixup_user_fault` gives
 * `EFAULT`) while the BAR does not answer (memory decode off, mid-reset,
 * released); a write mapping of a read-only VMA is `EFAULT` too.
 */
function followFaultPfn(
  w: World,
  s: Stretch,
  v: Vma & { readonly backing: { readonly kind: "device" } },
  write: boolean,
): Result<UserPfns> {
  const b = v.backing;
  if (write && !v.write) {
    return err("EFAULT", () => `${hex(s.start)}: ${b.device}'s BAR mmap is not writable`);
  }
  const found = regionNamed(w, b.region);
  if (found === undefined || found[1].status !== "live") {
    return err(
      "EFAULT",
      () =>
        `${hex(s.start)}: ${b.device}'s BAR does not answer; its mmap fault handler ` +
        `refuses (VM_FAULT_SIGBUS), follow_fault_pfn fails`,
    );
  }
  const phys = found[1].base + b.offset + (s.start - v.start);
  return ok({ kind: "pfnmap", start: s.start, len: s.end - s.start, phys });
}

/**
 * `vaddr_get_pfns` over `[vaddr, vaddr + size)` of a process, without
 * taking anything (the caller takes the pins with core's `holdPages` once
 * the whole map succeeded, so a failure changes nothing).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param process - the task that called `VFIO_IOMMU_MAP_DMA` (`dma->task`).
 * @param vaddr - first byte (page aligned by the caller's checks).
 * @param size - bytes.
 * @param write - `IOMMU_WRITE` (`FOLL_WRITE`, `FAULT_FLAG_WRITE`).
 * @returns the stretches in address order, or `EFAULT` for the first page
 *   neither GUP nor `follow_fault_pfn` can resolve.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { vaddrGetPfns, vfioType1Importer } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [vfioType1Importer()] });
 * // Anonymous memory of the VMM: GUP would pin it (nothing is taken yet).
 * const r = vaddrGetPfns(m, boot(m), "vmm", 0x7f00_0000_0000n, 0x2000n, true);
 * assert.ok(r.ok);
 * assert.deepEqual(r.value.map((p) => p.kind), ["pinned"]);
 * // Page 0 is never a user page: EFAULT.
 * const zero = vaddrGetPfns(m, boot(m), "vmm", 0n, 0x1000n, false);
 * assert.equal(zero.ok ? "ok" : zero.error.errno, "EFAULT");
 * ```
 * @kernel drivers/vfio/vfio_iommu_type1.c vaddr_get_pfns follow_fault_pfn
 * @category Drivers
 */
export function vaddrGetPfns(
  m: Machine,
  w: World,
  process: string,
  vaddr: bigint,
  size: bigint,
  write: boolean,
): Result<readonly UserPfns[]> {
  const out: UserPfns[] = [];
  for (const s of stretches(vmasOf(w, process), vaddr, vaddr + size)) {
    const v = s.vma;
    if (v !== undefined && v.backing.kind === "device") {
      const r = followFaultPfn(w, s, { ...v, backing: v.backing }, write);
      if (!r.ok) return r;
      out.push(r.value);
      continue;
    }
    if (v !== undefined && v.backing.kind === "dmabuf") {
      // A dma-buf mmap is VM_PFNMAP too, so the kernel would follow it; the
      // model does not resolve a dma-buf VMA's PFNs here (not modelled).
      const buf = v.backing.buf;
      return err(
        "EFAULT",
        () => `${hex(s.start)}: following dma-buf ${buf}'s mmap to its PFNs is not modelled`,
      );
    }
    // Anonymous memory, a memfd or a hole: pin_user_pages_remote decides (EFAULT for a hole).
    const pinned = userPages(m, w, process, s.start, s.end - s.start, { write });
    if (!pinned.ok) return pinned;
    out.push({ kind: "pinned", pieces: pinned.value });
  }
  return ok(out);
}
