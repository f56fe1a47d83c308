/*
 * mm/mmap.c and mm/vma.c as a VMM's calls reach them: `mmap()` of a VFIO
 * device fd (a BAR), of a memfd or of a dma-buf fd, always `MAP_SHARED`,
 * `MAP_FIXED` when the caller names the address; and `munmap()`. Each
 * checks in the kernel's order (x86-64 `sys_mmap` -> `ksys_mmap_pgoff` ->
 * `do_mmap` -> `__get_unmapped_area` -> the file's `mmap`), and a failure
 * changes nothing (since 6.12 a failed `MAP_FIXED` leaves the old mapping
 * in place too).
 */
import { kernelError } from "../errors/kernel-error.js";
import type { KernelError } from "../errors/kernel-error.js";
import { err, ok } from "../errors/result.js";
import type { Result } from "../errors/result.js";
import { regionNamed } from "../fabric/regions.js";
import { dmaBufGet, dropFileRef } from "../lifetime/release.js";
import type { Machine } from "../machine/machine.js";
import type { TraceEvent } from "../trace/event.js";
import { hex } from "../trace/hex.js";
import type { Vma, VmaBacking } from "../world/mm-state.js";
import type { World } from "../world/world.js";
import {
  MM_PAGE_SIZE,
  TASK_SIZE,
  VFIO_PCI_OFFSET_SHIFT,
  VFIO_PCI_ROM_REGION_INDEX,
  pageAlign,
} from "./layout.js";
import { ensureProcess, openMemfd, putVmas, reapMemfd } from "./state.js";
import { highestFreeRange, replaceRange } from "./vma-set.js";
import { worldWith } from "../world/world.js";
import { bufWith } from "../world/dmabuf-state.js";

/**
 * What `mmap()` is asked (the model's `MAP_SHARED` mapping of an fd).
 *
 * @category Drivers
 */
export interface MmapRequest {
  /** The calling process. */
  readonly process: string;
  /** A device's name (its VFIO device fd), or an fd number (memfd or dma-buf). */
  readonly fd: number | string;
  /** File offset (for a VFIO device: `VFIO_PCI_INDEX_TO_OFFSET(index)` + offset in the BAR). */
  readonly offset: bigint;
  /** Bytes (rounded up to pages). */
  readonly length: bigint;
  /** `MAP_FIXED` at this address, replacing what was there; absent: the model picks. */
  readonly addr?: bigint | undefined;
  /** `PROT_READ`. */
  readonly read: boolean;
  /** `PROT_WRITE`. */
  readonly write: boolean;
}

/**
 * What an mm call did: the world, its events, and the syscall's return value.
 *
 * @category Drivers
 */
export interface MmDone {
  /** The new world. */
  readonly world: World;
  /** What happened. */
  readonly events: readonly TraceEvent[];
  /** The syscall's return value (an address, an fd, 0). */
  readonly ret: bigint;
}

/** The file an fd names, once `fget()` found it. */
type MmapFile =
  | {
      /** A VFIO device fd. */
      readonly kind: "device";
      /** The device. */
      readonly device: string;
    }
  | {
      /** A memfd. */
      readonly kind: "memfd";
      /** Its id. */
      readonly id: number;
    }
  | {
      /** A dma-buf fd. */
      readonly kind: "dmabuf";
      /** The buffer id. */
      readonly buf: number;
    };

function fget(m: Machine, w: World, fd: number | string): Result<MmapFile> {
  if (typeof fd === "string") {
    return m.topology.devices.some((d) => d.id === fd)
      ? ok({ kind: "device", device: fd })
      : err("EBADF", () => `no device fd ${fd}`);
  }
  const memfd = openMemfd(w, fd);
  if (memfd !== undefined) return ok({ kind: "memfd", id: memfd.id });
  const b = dmaBufGet(w, fd);
  if ("errno" in b) return err("EBADF", () => `fd ${fd} is not an open memfd or dma-buf`);
  return ok({ kind: "dmabuf", buf: fd });
}

/** `vfio_pci_core_mmap`'s checks: the VMA's backing, or `EINVAL`. */
function deviceBacking(
  m: Machine,
  w: World,
  device: string,
  offset: bigint,
  len: bigint,
): Result<VmaBacking> {
  const index = Number(offset >> VFIO_PCI_OFFSET_SHIFT);
  const inBar = offset & ((1n << VFIO_PCI_OFFSET_SHIFT) - 1n);
  if (index >= VFIO_PCI_ROM_REGION_INDEX) {
    return err("EINVAL", () => `${device}: region ${index} is not a BAR; only BARs can be mmapped`);
  }
  let region: string | undefined;
  for (const d of m.exporters.values()) {
    const r = d.mmapRegion?.(m, w, device, index);
    if (r === undefined) continue;
    if (!r.ok) return r;
    region = r.value;
    break;
  }
  region ??= `${device}.bar${index}`;
  const found = regionNamed(w, region);
  if (found === undefined || found[1].kind !== "bar" || found[1].device !== device) {
    return err("EINVAL", () => `${device} has no mmappable BAR ${index}`);
  }
  const barLen = pageAlign(found[1].size);
  if (inBar + len > barLen) {
    return err(
      "EINVAL",
      () => `${device} BAR ${index}: ${hex(inBar)}+${hex(len)} runs past its ${hex(barLen)} bytes`,
    );
  }
  return ok({ kind: "device", device, region, offset: inBar });
}

/** `dma_buf_mmap_internal()`'s checks, then the exporter's: the backing, or `EINVAL`. */
function dmabufBacking(
  m: Machine,
  w: World,
  process: string,
  buf: number,
  offset: bigint,
  len: bigint,
): Result<VmaBacking> {
  const b = w.bufs.get(buf);
  if (b === undefined) throw new Error(`mm: fd ${buf} names no buffer`);
  const exporter = m.exporters.get(b.exporter);
  if (exporter?.mmap === undefined) {
    return err("EINVAL", () => `dma-buf ${buf} (${b.exporter}) has no mmap op`);
  }
  if (offset + len > (b.size / MM_PAGE_SIZE) * MM_PAGE_SIZE) {
    return err(
      "EINVAL",
      () => `dma-buf ${buf}: ${hex(offset)}+${hex(len)} runs past its ${hex(b.size)} bytes`,
    );
  }
  const r = exporter.mmap(m, w, buf, { process, offset, length: len });
  return r.ok ? ok({ kind: "dmabuf", buf, offset }) : r;
}

function bufsOf(vmas: readonly Vma[]): Set<number> {
  return new Set(vmas.flatMap((v) => (v.backing.kind === "dmabuf" ? [v.backing.buf] : [])));
}

function memfdsOf(vmas: readonly Vma[]): Set<number> {
  return new Set(vmas.flatMap((v) => (v.backing.kind === "memfd" ? [v.backing.memfd] : [])));
}

/**
 * A process's VMAs replaced, with the file references they hold settled:
 * a process that maps a dma-buf holds one reference to its file while any
 * of its VMAs maps it (the kernel holds one per VMA; only the last one's
 * going is observable: the buffer's release), and a memfd no VMA maps any
 * more may be freed.
 */
function replaceVmas(
  m: Machine,
  w: World,
  slot: number,
  before: readonly Vma[],
  after: readonly Vma[],
): { readonly world: World; readonly events: readonly TraceEvent[] } {
  let world = putVmas(w, slot, after);
  const events: TraceEvent[] = [];
  const was = bufsOf(before);
  const now = bufsOf(after);
  for (const buf of now) {
    if (was.has(buf)) continue;
    const b = world.bufs.get(buf);
    if (b === undefined) throw new Error(`mm: a VMA maps buffer ${buf}, which is gone`);
    world = worldWith(world, {
      bufs: world.bufs.set(buf, bufWith(b, { fileRefs: b.fileRefs + 1 })),
    });
  }
  for (const buf of was) {
    if (now.has(buf)) continue;
    const put = dropFileRef(m, world, buf);
    world = put.world;
    events.push(...put.events);
  }
  const mapped = memfdsOf(after);
  for (const id of memfdsOf(before)) if (!mapped.has(id)) world = reapMemfd(world, id);
  return { world, events };
}

/** The address and length of a request, checked as `do_mmap` and `__get_unmapped_area` do. */
function placement(
  req: MmapRequest,
  vmas: readonly Vma[],
): Result<{ readonly addr: bigint; readonly len: bigint }> {
  if (req.length === 0n) return err("EINVAL", "mmap of length 0");
  const len = pageAlign(req.length);
  if (len > TASK_SIZE) return err("ENOMEM", () => `mmap of ${hex(len)} bytes: more than TASK_SIZE`);
  if (req.addr === undefined) {
    const addr = highestFreeRange(vmas, len, TASK_SIZE);
    return addr === undefined
      ? err("ENOMEM", () => `no free range of ${hex(len)} bytes below TASK_SIZE`)
      : ok({ addr, len });
  }
  const addr = req.addr;
  if (addr > TASK_SIZE - len) {
    return err("ENOMEM", () => `MAP_FIXED ${hex(addr)}+${hex(len)} runs past TASK_SIZE`);
  }
  if (addr % MM_PAGE_SIZE !== 0n) {
    return err("EINVAL", () => `MAP_FIXED address ${hex(addr)} is not page aligned`);
  }
  // security_mmap_addr(): nothing maps below mmap_min_addr (the model's is one page).
  if (addr < MM_PAGE_SIZE) return err("EPERM", () => `MAP_FIXED at ${hex(addr)}, page 0`);
  return ok({ addr, len });
}

function describe(file: MmapFile): string {
  switch (file.kind) {
    case "device":
      return file.device;
    case "memfd":
      return `memfd ${file.id}`;
    case "dmabuf":
      return `dma-buf ${file.buf}`;
    default: {
      const never: never = file;
      throw new Error(`mm: unknown file ${JSON.stringify(never)}`);
    }
  }
}

/**
 * `mmap(addr, length, prot, MAP_SHARED [| MAP_FIXED], fd, offset)`. In
 * the kernel's order: an unaligned offset `EINVAL`; an fd that is no
 * device, open memfd or open dma-buf `EBADF`; length 0 `EINVAL`; more
 * than `TASK_SIZE` (or, `MAP_FIXED`, past it) `ENOMEM`; an unaligned
 * `MAP_FIXED` address `EINVAL`, page 0 `EPERM`; no free range `ENOMEM`;
 * then the file's mmap: a VFIO device's (`vfio_pci_core_mmap`: not a BAR
 * index, no mmappable BAR, or past the page-aligned BAR `EINVAL`), a
 * memfd's (always; pages past the end of the file are there but unbacked),
 * a dma-buf's (`dma_buf_mmap_internal()`: no mmap op or past
 * `dmabuf->size` `EINVAL`, then the exporter's own checks). The new VMA
 * replaces whatever the range held; a dma-buf VMA holds its file.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param req - the request.
 * @returns the world and the address, or the errno with nothing changed.
 * @kernel mm/mmap.c do_mmap
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TASK_SIZE, boot, memfdCreate, mmap, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const mfd = memfdCreate(m, boot(m), "vmm", 0x20_0000n);
 * assert.ok(mfd.ok);
 * const fd = Number(mfd.value.ret);
 * const req = { process: "vmm", fd, offset: 0n, length: 0x20_0000n, read: true, write: true };
 * // No address given: the highest free range below TASK_SIZE.
 * const r = mmap(m, mfd.value.world, req);
 * assert.ok(r.ok);
 * assert.equal(r.value.ret, TASK_SIZE - 0x20_0000n);
 * // MAP_FIXED at page 0: EPERM (mmap_min_addr).
 * const low = mmap(m, mfd.value.world, { ...req, addr: 0n });
 * assert.equal(low.ok ? "ok" : low.error.errno, "EPERM");
 * ```
 * @category Drivers
 */
export function mmap(m: Machine, w: World, req: MmapRequest): Result<MmDone> {
  if (req.offset % MM_PAGE_SIZE !== 0n) {
    return err("EINVAL", () => `mmap offset ${hex(req.offset)} is not page aligned`);
  }
  const file = fget(m, w, req.fd);
  if (!file.ok) return file;
  const { world: withProcess, slot } = ensureProcess(m.topology, w, req.process);
  const before = withProcess.processes.get(slot)?.vmas ?? [];
  const placed = placement(req, before);
  if (!placed.ok) return placed;
  const { addr, len } = placed.value;
  const backing = ((): Result<VmaBacking> => {
    switch (file.value.kind) {
      case "device":
        return deviceBacking(m, withProcess, file.value.device, req.offset, len);
      case "memfd":
        return ok({ kind: "memfd", memfd: file.value.id, offset: req.offset });
      case "dmabuf":
        return dmabufBacking(m, withProcess, req.process, file.value.buf, req.offset, len);
      default: {
        const never: never = file.value;
        throw new Error(`mm: unknown file ${JSON.stringify(never)}`);
      }
    }
  })();
  if (!backing.ok) return backing;
  const vma: Vma = {
    start: addr,
    end: addr + len,
    read: req.read,
    write: req.write,
    backing: backing.value,
  };
  const after = replaceRange(before, addr, addr + len, vma);
  const replaced = replaceVmas(m, withProcess, slot, before, after);
  const text = `mmap ${describe(file.value)} +${hex(req.offset)} len ${hex(len)} at ${hex(addr)}`;
  return ok({
    world: replaced.world,
    events: [{ kind: "note", actor: req.process, text }, ...replaced.events],
    ret: addr,
  });
}

/**
 * `munmap(addr, length)` (`do_vmi_munmap`): an unaligned address, an
 * address above `TASK_SIZE`, a length running past it, or length 0
 * `EINVAL`. The range is unbacked afterwards (a pin of it gets `EFAULT`);
 * a dma-buf whose last VMA goes drops the file reference, and a closed
 * memfd whose last VMA goes is freed unless pinned.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param process - the calling process.
 * @param addr - first address.
 * @param length - bytes (rounded up to pages).
 * @returns the world, or the errno with nothing changed.
 * @kernel mm/mmap.c munmap
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, memfdCreate, mmap, munmap, referenceMachine, vmasOf } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const mfd = memfdCreate(m, boot(m), "vmm", 0x2000n);
 * assert.ok(mfd.ok);
 * const fd = Number(mfd.value.ret);
 * const req = { process: "vmm", fd, offset: 0n, length: 0x2000n, read: true, write: true };
 * const mapped = mmap(m, mfd.value.world, req);
 * assert.ok(mapped.ok);
 * const r = munmap(m, mapped.value.world, "vmm", mapped.value.ret, 0x2000n);
 * assert.ok(r.ok);
 * assert.deepEqual(vmasOf(r.value.world, "vmm")[0]?.backing, { kind: "none" });
 * // An address that is not page aligned: EINVAL.
 * const bad = munmap(m, mapped.value.world, "vmm", mapped.value.ret + 1n, 0x1000n);
 * assert.equal(bad.ok ? "ok" : bad.error.errno, "EINVAL");
 * ```
 * @category Drivers
 */
export function munmap(
  m: Machine,
  w: World,
  process: string,
  addr: bigint,
  length: bigint,
): Result<MmDone> {
  const bad = ((): KernelError | undefined => {
    if (addr % MM_PAGE_SIZE !== 0n) return kernelError("EINVAL", "munmap address not page aligned");
    if (addr > TASK_SIZE || length > TASK_SIZE - addr)
      return kernelError("EINVAL", "munmap range runs past TASK_SIZE");
    if (length === 0n) return kernelError("EINVAL", "munmap of length 0");
    return undefined;
  })();
  if (bad !== undefined) return { ok: false, error: bad };
  const len = pageAlign(length);
  const { world: withProcess, slot } = ensureProcess(m.topology, w, process);
  const before = withProcess.processes.get(slot)?.vmas ?? [];
  const none: Vma = {
    start: addr,
    end: addr + len,
    read: false,
    write: false,
    backing: { kind: "none" },
  };
  const after = replaceRange(before, addr, addr + len, none);
  const replaced = replaceVmas(m, withProcess, slot, before, after);
  return ok({
    world: replaced.world,
    events: [
      { kind: "note", actor: process, text: `munmap ${hex(addr)} len ${hex(len)}` },
      ...replaced.events,
    ],
    ret: 0n,
  });
}
