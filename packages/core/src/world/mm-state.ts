import type { Codec } from "../encoding/codec.js";
import { pushString, pushU64 } from "../encoding/hash.js";

/**
 * What a VMA maps (`vma->vm_file` and `vm_flags` as the model needs them).
 * Anonymous memory has no variant: every page of a process that no VMA
 * covers is anonymous memory (kernel-model §8.2, the replaying process owns
 * anonymous memory at any page-aligned user VA), so only what a mapping call
 * put somewhere is stored, and the state stays O(mappings).
 *
 * @category Drivers
 */
export type VmaBacking =
  /** A shared mapping of a memfd (shmem file); `offset` is the file offset of the VMA's first byte. */
  | {
      /** Discriminant. */
      readonly kind: "memfd";
      /** The memfd's id in `World.memfds`. */
      readonly memfd: number;
      /** File offset of the VMA's first byte (`vm_pgoff << PAGE_SHIFT`). */
      readonly offset: bigint;
    }
  /**
   * A VFIO device's BAR mmap (`vfio_pci_core_mmap`): `VM_IO | VM_PFNMAP`,
   * so `pin_user_pages()` refuses it (`check_vma_flags()`: `EFAULT`).
   */
  | {
      /** Discriminant. */
      readonly kind: "device";
      /** The device whose fd was mapped. */
      readonly device: string;
      /** The BAR's region name. */
      readonly region: string;
      /** Offset into the BAR of the VMA's first byte. */
      readonly offset: bigint;
    }
  /** A dma-buf's mmap (`dma_buf_mmap_internal()`): `VM_PFNMAP`, never pinnable. */
  | {
      /** Discriminant. */
      readonly kind: "dmabuf";
      /** The dma-buf id. */
      readonly buf: number;
      /** Offset into the buffer of the VMA's first byte. */
      readonly offset: bigint;
    }
  /** Nothing: the range was `munmap()`ed, so no page is there (a pin gets `EFAULT`). */
  | {
      /** Discriminant. */
      readonly kind: "none";
    };

/**
 * One `struct vm_area_struct` of a process, as far as the model needs:
 * `[start, end)` (page aligned), its protection and what it maps.
 *
 * @kernel include/linux/mm_types.h vm_area_struct
 *
 * @category Drivers
 */
export interface Vma {
  /** First user VA (`vm_start`). */
  readonly start: bigint;
  /** One past the last user VA (`vm_end`). */
  readonly end: bigint;
  /** `PROT_READ` (`VM_READ`). */
  readonly read: boolean;
  /** `PROT_WRITE` (`VM_WRITE`). */
  readonly write: boolean;
  /** What it maps. */
  readonly backing: VmaBacking;
}

/**
 * A process's address space (`struct mm_struct`): its name and its explicit
 * VMAs, sorted by address, never overlapping, with adjacent compatible VMAs
 * merged (as `vma_merge()` does), so two address spaces no access can tell
 * apart are equal values.
 *
 * @kernel include/linux/mm_types.h mm_struct
 *
 * @category Drivers
 */
export interface ProcessMm {
  /** The process's name, e.g. "vmm" (the replaying process). */
  readonly name: string;
  /** Its explicit VMAs, ascending. */
  readonly vmas: readonly Vma[];
}

/**
 * A memfd (`memfd_create()` + `ftruncate()`): a shmem file of `size` bytes
 * whose pages are its own RAM region. Its pages live while the fd is open,
 * while a VMA maps it, or while something pins them.
 *
 * @category Drivers
 */
export interface Memfd {
  /** The process that created it (names its region). */
  readonly process: string;
  /** File size in bytes (`i_size`). */
  readonly size: bigint;
  /** Whether its fd is still open. */
  readonly open: boolean;
  /** Outstanding pins of its pages (each `holdPages` of pieces in it counts once). */
  readonly pins: number;
}

const KIND_CODE: Readonly<Record<VmaBacking["kind"], number>> = {
  memfd: 1,
  device: 2,
  dmabuf: 3,
  none: 4,
};

function encodeBacking(b: VmaBacking, out: number[]): void {
  out.push(KIND_CODE[b.kind]);
  switch (b.kind) {
    case "memfd":
      out.push(b.memfd);
      pushU64(out, b.offset);
      return;
    case "device":
      pushString(out, b.device);
      pushString(out, b.region);
      pushU64(out, b.offset);
      return;
    case "dmabuf":
      out.push(b.buf);
      pushU64(out, b.offset);
      return;
    case "none":
      return;
    default: {
      const never: never = b;
      throw new Error(`mm: unknown VMA backing ${JSON.stringify(never)}`);
    }
  }
}

/** Canonical encoding of a {@link Vma}. */
export const vmaCodec: Codec<Vma> = {
  seed: 0x7a3a,
  encode(v, out) {
    pushU64(out, v.start);
    pushU64(out, v.end);
    out.push((v.read ? 1 : 0) | (v.write ? 2 : 0));
    encodeBacking(v.backing, out);
  },
};

/** Canonical encoding of a {@link ProcessMm}: its name, then every VMA in order. */
export const processMmCodec: Codec<ProcessMm> = {
  seed: 0x3a77,
  encode(p, out) {
    pushString(out, p.name);
    out.push(p.vmas.length);
    for (const v of p.vmas) vmaCodec.encode(v, out);
  },
};

/** Canonical encoding of a {@link Memfd}. */
export const memfdCodec: Codec<Memfd> = {
  seed: 0x3efd,
  encode(f, out) {
    pushString(out, f.process);
    pushU64(out, f.size);
    out.push(f.open ? 1 : 0, f.pins);
  },
};
