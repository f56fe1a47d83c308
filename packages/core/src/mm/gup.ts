/*
 * mm/gup.c as an importer meets it: `pin_user_pages(FOLL_LONGTERM)` of a
 * range of a process's memory (iommufd's `IOMMU_IOAS_MAP`), and the pin of
 * a memfd's pages by file offset (`memfd_pin_folios()`, iommufd's
 * `IOMMU_IOAS_MAP_FILE` of a memfd).
 *
 * Pins are modelled by physical address: a pinned piece names the region
 * and address its pages have. Anonymous pages keep their address after a
 * munmap (the region of a process's anonymous memory is never freed), so a
 * later mapping of the same user VA resolves to the same physical pages
 * again where the kernel would hand out fresh ones: a simplification that
 * only shows if a test compares the two. A memfd counts its pins, so its
 * pages outlive the fd and every VMA while something pins them.
 */
import { kernelError } from "../errors/kernel-error.js";
import type { KernelError } from "../errors/kernel-error.js";
import { err, ok } from "../errors/result.js";
import type { Result } from "../errors/result.js";
import type { Hardware } from "../fabric/topology.js";
import { hex } from "../trace/hex.js";
import type { Vma } from "../world/mm-state.js";
import type { World } from "../world/world.js";
import {
  MM_PAGE_SIZE,
  TASK_SIZE,
  anonBase,
  anonRegionName,
  memfdBase,
  memfdRegionName,
  pageAlign,
  pageDown,
} from "./layout.js";
import { ensureProcess, openMemfd, reapMemfd, slotOf, vmasOf } from "./state.js";
import { piecesOf } from "./vma-set.js";
import { worldWith } from "../world/world.js";

/**
 * One physically contiguous piece of pinned memory.
 *
 * @category Drivers
 */
export interface PagePiece {
  /** The user VA (a user pin) or the file offset (a memfd pin) of its first byte. */
  readonly start: bigint;
  /** Bytes. */
  readonly len: bigint;
  /** CPU physical address of its first byte. */
  readonly phys: bigint;
  /** The region it lies in (`<process>.anon` or `<process>.memfd<id>`). */
  readonly region: string;
  /** The memfd whose pages these are, or null for anonymous memory. */
  readonly memfd: number | null;
}

/**
 * How a pin asks for the pages (`gup_flags`).
 *
 * @category Drivers
 */
export interface PinOptions {
  /** `FOLL_WRITE`: the pages must be writable (iommufd: the area is `IOMMU_IOAS_MAP_WRITEABLE`). */
  readonly write?: boolean;
}

function efault(va: bigint, why: string): KernelError {
  return kernelError("EFAULT", () => `cannot pin user address ${hex(va)}: ${why}`);
}

/** Why a VMA refuses `FOLL_LONGTERM` pins (`check_vma_flags()`), or undefined when it allows them. */
function refusal(v: Vma, write: boolean): string | undefined {
  switch (v.backing.kind) {
    case "none":
      return "nothing is mapped there (munmapped)";
    case "device":
      return `it is ${v.backing.device}'s BAR mmap (VM_IO | VM_PFNMAP)`;
    case "dmabuf":
      return `it is an mmap of dma-buf ${v.backing.buf} (VM_PFNMAP)`;
    case "memfd":
      if (!v.read) return "the mapping is PROT_NONE";
      if (write && !v.write) return "the mapping is not writable and the pin asks FOLL_WRITE";
      return undefined;
    default: {
      const never: never = v.backing;
      throw new Error(`mm: unknown VMA backing ${JSON.stringify(never)}`);
    }
  }
}

/**
 * What `pin_user_pages(FOLL_LONGTERM)` would pin for `[userVa, userVa +
 * length)` of a process, without pinning (no state changes): the physical
 * pieces covering exactly those bytes. It fails with `EFAULT`, naming the
 * first address that cannot be pinned, when any page of the range is page
 * 0 or at or above `TASK_SIZE`, was munmapped, is a VFIO BAR or dma-buf
 * mmap (`VM_IO` / `VM_PFNMAP`: GUP refuses them; kernel-model §8.2, Cloud
 * Hypervisor's BAR map by VA), lies past the end of a mapped memfd, or is
 * not writable when `write` asks for it. Every other page is anonymous
 * memory of the process (`<process>.anon` at offset = user VA) or a
 * mapped memfd's page.
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param process - the process whose memory it is.
 * @param userVa - first byte (any alignment).
 * @param length - bytes.
 * @param opts - `write`: `FOLL_WRITE` (default false).
 * @returns the pieces in address order, or `EFAULT`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { anonBase, boot, referenceMachine, userPages } from "@dmabuf-ref/core";
 *
 * // IOMMU_IOAS_MAP of 64 KiB of a VMM's anonymous memory at 0x7f00_0000_0000.
 * const m = referenceMachine();
 * const w = boot(m);
 * const r = userPages(m, w, "vmm", 0x7f00_0000_0000n, 0x1_0000n);
 * assert.ok(r.ok);
 * assert.equal(r.value[0]?.region, "vmm.anon");
 * assert.equal(r.value[0]?.phys, anonBase(m.topology, 1) + 0x7f00_0000_0000n);
 * // Page 0 is never mapped: EFAULT.
 * const zero = userPages(m, w, "vmm", 0n, 0x1000n);
 * assert.equal(zero.ok ? "ok" : zero.error.errno, "EFAULT");
 * ```
 * @category Drivers
 */
export function userPages(
  m: Hardware,
  w: World,
  process: string,
  userVa: bigint,
  length: bigint,
  opts: PinOptions = {},
): Result<readonly PagePiece[]> {
  if (length === 0n) return ok([]);
  const end = userVa + length;
  const first = pageDown(userVa);
  const last = pageAlign(end);
  if (first < MM_PAGE_SIZE) return { ok: false, error: efault(first, "page 0 is never mapped") };
  if (last > TASK_SIZE) {
    const at = userVa > TASK_SIZE ? userVa : TASK_SIZE;
    return { ok: false, error: efault(at, "it lies at or above TASK_SIZE") };
  }
  const write = opts.write === true;
  const anon = anonBase(m.topology, slotOf(w, process));
  const out: PagePiece[] = [];
  for (const p of piecesOf(vmasOf(w, process), first, last)) {
    // The bytes asked for within this piece (the first and last pages may be partial).
    const from = p.start > userVa ? p.start : userVa;
    const to = p.end < end ? p.end : end;
    if (p.vma === undefined) {
      out.push({
        start: from,
        len: to - from,
        phys: anon + from,
        region: anonRegionName(process),
        memfd: null,
      });
      continue;
    }
    const why = refusal(p.vma, write);
    if (why !== undefined) return { ok: false, error: efault(p.start, why) };
    const backing = p.vma.backing;
    if (backing.kind !== "memfd") throw new Error("mm: a pinnable VMA is a memfd's");
    const id = backing.memfd;
    const memfd = w.memfds.get(id);
    if (memfd === undefined) throw new Error(`mm: a VMA maps memfd ${id}, which is gone`);
    const vmaStart = p.vma.start;
    const fileAt = (va: bigint): bigint => backing.offset + (va - vmaStart);
    // Pages past i_size have no folio: the fault is SIGBUS, which GUP reports as EFAULT.
    const size = pageAlign(memfd.size);
    if (fileAt(p.end) > size) {
      const at = fileAt(p.start) >= size ? p.start : p.start + (size - fileAt(p.start));
      return { ok: false, error: efault(at, `it lies past the end of memfd ${id}`) };
    }
    out.push({
      start: from,
      len: to - from,
      phys: memfdBase(m.topology, id) + fileAt(from),
      region: memfdRegionName(memfd.process, id),
      memfd: id,
    });
  }
  return ok(out);
}

/**
 * The pages of `[start, start + length)` of a memfd by file offset
 * (`memfd_pin_folios()`, iommufd's `IOMMU_IOAS_MAP_FILE` of a memfd),
 * without pinning them.
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param fd - an fd number.
 * @param start - file offset of the first byte.
 * @param length - bytes.
 * @returns undefined when `fd` is not an open memfd (the caller tries its
 *   other kinds of file); `EINVAL` when the range reaches a page past the end
 *   of the file (`shmem_get_folio()` refuses an index at or past `i_size`);
 *   else the one piece (a memfd's pages are one region).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, memfdBase, memfdCreate, memfdPages, referenceMachine } from "@dmabuf-ref/core";
 *
 * // IOMMU_IOAS_MAP_FILE of a 2 MiB memfd, from file offset 0x1000.
 * const m = referenceMachine();
 * const mfd = memfdCreate(m, boot(m), "vmm", 0x20_0000n);
 * assert.ok(mfd.ok);
 * const fd = Number(mfd.value.ret);
 * const r = memfdPages(m, mfd.value.world, fd, 0x1000n, 0x1000n);
 * assert.deepEqual(r?.ok && r.value[0]?.phys, memfdBase(m.topology, 1) + 0x1000n);
 * // Past the end of the file: EINVAL; not a memfd at all: undefined.
 * const past = memfdPages(m, mfd.value.world, fd, 0x20_0000n, 0x1000n);
 * assert.equal(past?.ok, false);
 * assert.equal(memfdPages(m, mfd.value.world, 3, 0n, 0x1000n), undefined);
 * ```
 * @category Drivers
 */
export function memfdPages(
  m: Hardware,
  w: World,
  fd: number,
  start: bigint,
  length: bigint,
): Result<readonly PagePiece[]> | undefined {
  const found = openMemfd(w, fd);
  if (found === undefined) return undefined;
  const { id, memfd } = found;
  // shmem has a folio for every page that starts below i_size (the last one partly past it).
  if (start + length > pageAlign(memfd.size)) {
    return err(
      "EINVAL",
      () => `memfd fd ${fd}: ${hex(start)}+${hex(length)} runs past its size ${hex(memfd.size)}`,
    );
  }
  if (length === 0n) return ok([]);
  return ok([
    {
      start,
      len: length,
      phys: memfdBase(m.topology, id) + start,
      region: memfdRegionName(memfd.process, id),
      memfd: id,
    },
  ]);
}

function memfdsIn(pieces: readonly PagePiece[]): readonly number[] {
  return [...new Set(pieces.flatMap((p) => (p.memfd === null ? [] : [p.memfd])))];
}

/**
 * Takes the pins of pieces found by {@link userPages} or
 * {@link memfdPages} on the same world: the process's anonymous region is
 * made live if it was not yet, and each memfd touched counts one more pin,
 * so its pages outlive its fd and its VMAs.
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param process - the process the pieces belong to.
 * @param pieces - the pieces.
 * @returns the new world.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, holdPages, memfdCreate, memfdPages, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const mfd = memfdCreate(m, boot(m), "vmm", 0x20_0000n);
 * assert.ok(mfd.ok);
 * const pieces = memfdPages(m, mfd.value.world, Number(mfd.value.ret), 0n, 0x1000n);
 * assert.ok(pieces?.ok);
 * const w = holdPages(m, mfd.value.world, "vmm", pieces.value);
 * assert.equal(w.memfds.get(1)?.pins, 1);
 * ```
 * @category Drivers
 */
export function holdPages(
  m: Hardware,
  w: World,
  process: string,
  pieces: readonly PagePiece[],
): World {
  let world = pieces.some((p) => p.memfd === null)
    ? ensureProcess(m.topology, w, process).world
    : w;
  for (const id of memfdsIn(pieces)) {
    const memfd = world.memfds.get(id);
    if (memfd === undefined) throw new Error(`mm: pin of memfd ${id}, which is gone`);
    world = worldWith(world, { memfds: world.memfds.set(id, { ...memfd, pins: memfd.pins + 1 }) });
  }
  return world;
}

/**
 * Drops the pins {@link holdPages} took for the same pieces
 * (`unpin_user_pages()`): a memfd whose fd is closed, that no VMA maps and
 * that nothing else pins is freed.
 *
 * @param w - the world.
 * @param pieces - the pieces held.
 * @returns the new world.
 * @kernel mm/gup.c unpin_user_pages
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   closeFd,
 *   memfdCreate,
 *   pinMemfdPages,
 *   referenceMachine,
 *   releasePages,
 * } from "@dmabuf-ref/core";
 *
 * // A pinned memfd outlives its fd; the last unpin frees it.
 * const m = referenceMachine();
 * const mfd = memfdCreate(m, boot(m), "vmm", 0x1000n);
 * assert.ok(mfd.ok);
 * const fd = Number(mfd.value.ret);
 * const pin = pinMemfdPages(m, mfd.value.world, fd, 0n, 0x1000n);
 * assert.ok(pin?.ok);
 * const closed = closeFd(m, pin.value.world, "vmm", fd);
 * assert.ok(closed.ok);
 * assert.equal(closed.value.world.memfds.get(1)?.pins, 1);
 * assert.equal(releasePages(closed.value.world, pin.value.pieces).memfds.get(1), undefined);
 * ```
 * @category Drivers
 */
export function releasePages(w: World, pieces: readonly PagePiece[]): World {
  let world = w;
  for (const id of memfdsIn(pieces)) {
    const memfd = world.memfds.get(id);
    if (memfd === undefined || memfd.pins === 0) throw new Error(`mm: memfd ${id} is not pinned`);
    world = worldWith(world, { memfds: world.memfds.set(id, { ...memfd, pins: memfd.pins - 1 }) });
    world = reapMemfd(world, id);
  }
  return world;
}

/**
 * A pin that succeeded: the world holding it and the pieces.
 *
 * @category Drivers
 */
export interface Pinned {
  /** The world with the pin taken. */
  readonly world: World;
  /** The pinned pieces, in order. */
  readonly pieces: readonly PagePiece[];
}

/**
 * `pin_user_pages(FOLL_LONGTERM)`: {@link userPages}, then
 * {@link holdPages}. Release with {@link releasePages}.
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param process - the process whose memory it is.
 * @param userVa - first byte.
 * @param length - bytes.
 * @param opts - `write`: `FOLL_WRITE`.
 * @returns the world and pieces, or `EFAULT` with nothing changed.
 * @kernel mm/gup.c pin_user_pages
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, pinUserPages, referenceMachine } from "@dmabuf-ref/core";
 *
 * // pin_user_pages(FOLL_LONGTERM | FOLL_WRITE) of 2 MiB of anonymous memory.
 * const m = referenceMachine();
 * const r = pinUserPages(m, boot(m), "vmm", 0x7f00_0000_0000n, 0x20_0000n, { write: true });
 * assert.ok(r.ok);
 * assert.equal(r.value.pieces.length, 1);
 * assert.equal(r.value.pieces[0]?.len, 0x20_0000n);
 * // The pin made the process's anonymous region live.
 * assert.equal(r.value.world.processes.size, 1);
 * ```
 * @category Drivers
 */
export function pinUserPages(
  m: Hardware,
  w: World,
  process: string,
  userVa: bigint,
  length: bigint,
  opts: PinOptions = {},
): Result<Pinned> {
  const pieces = userPages(m, w, process, userVa, length, opts);
  if (!pieces.ok) return pieces;
  return ok({ world: holdPages(m, w, process, pieces.value), pieces: pieces.value });
}

/**
 * `memfd_pin_folios()`: {@link memfdPages}, then {@link holdPages}.
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param fd - an fd number.
 * @param start - file offset.
 * @param length - bytes.
 * @returns undefined when `fd` is not an open memfd; `EINVAL` past the end; else the pin.
 * @kernel mm/gup.c memfd_pin_folios
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, memfdCreate, pinMemfdPages, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const mfd = memfdCreate(m, boot(m), "vmm", 0x20_0000n);
 * assert.ok(mfd.ok);
 * const r = pinMemfdPages(m, mfd.value.world, Number(mfd.value.ret), 0n, 0x20_0000n);
 * assert.ok(r?.ok);
 * assert.equal(r.value.pieces[0]?.region, "vmm.memfd1");
 * assert.equal(r.value.world.memfds.get(1)?.pins, 1);
 * ```
 * @category Drivers
 */
export function pinMemfdPages(
  m: Hardware,
  w: World,
  fd: number,
  start: bigint,
  length: bigint,
): Result<Pinned> | undefined {
  const pieces = memfdPages(m, w, fd, start, length);
  if (pieces === undefined || !pieces.ok) return pieces;
  const owner = openMemfd(w, fd)?.memfd.process;
  if (owner === undefined) return undefined;
  return ok({ world: holdPages(m, w, owner, pieces.value), pieces: pieces.value });
}
