/*
 * `VFIO_IOMMU_MAP_DMA` and `VFIO_IOMMU_UNMAP_DMA` of a type1 container
 * (drivers/vfio/vfio_iommu_type1.c: `vfio_iommu_type1_map_dma` ->
 * `vfio_dma_do_map` -> `vfio_pin_map_dma`, and `vfio_dma_do_unmap`), each
 * checked in the kernel's order (7.x, with the 2025 overflow checks that
 * answer EOVERFLOW). A failure changes nothing (`vfio_remove_dma` undoes a
 * partial map). The model's container is the device's: a map names the
 * device whose IOMMU domain it fills, and the domain is the device's own
 * (the one core booted it with); a device behind no IOMMU can only be in a
 * no-IOMMU container, whose ioctl answers ENOTTY.
 */
import {
  U64_MAX,
  domainOf,
  done,
  endGrants,
  err,
  failed,
  grantAccess,
  hex,
  holdPages,
  iommuMap,
  iommuUnmap,
  kernelError,
  ok,
  releasePages,
} from "@dmabuf-ref/core";
import type {
  Errno,
  LazyText,
  Machine,
  PagePiece,
  Result,
  StepOutcome,
  TraceEvent,
  World,
} from "@dmabuf-ref/core";
import { iommuAperture, iommuPgsizeBitmap, iommuReservedRegions } from "@dmabuf-ref/core";
import type { IovaInterval } from "@dmabuf-ref/core";
import { type1ConfigOf } from "./config.js";
import { VFIO_TYPE1, VFIO_TYPE1_PAGE_SIZE } from "./constants.js";
import { putDmaList, vfioDmaList } from "./state.js";
import type { VfioDma, VfioDmaChunk } from "./state.js";
import { vaddrGetPfns } from "./vaddr_get_pfns.js";

/**
 * The `VFIO_DMA_MAP_FLAG_*` the model takes (`VFIO_DMA_MAP_FLAG_VADDR`, live update, is not modelled).
 *
 * @category uAPI
 */
export type VfioDmaMapFlag = "READ" | "WRITE";

/**
 * `struct vfio_iommu_type1_dma_map` as the model takes it.
 *
 * @category uAPI
 */
export interface VfioDmaMapArgs {
  /** The task whose memory `vaddr` is in (`current`, kept as `dma->task`). */
  readonly process: string;
  /** The device whose container the ioctl is issued on. */
  readonly device: string;
  /** `vaddr`. */
  readonly vaddr: bigint;
  /** `iova`. */
  readonly iova: bigint;
  /** `size`. */
  readonly size: bigint;
  /** `flags`. */
  readonly flags: readonly VfioDmaMapFlag[];
}

/**
 * `struct vfio_iommu_type1_dma_unmap` as the model takes it (no flags: no dirty bitmap, no UNMAP_ALL).
 *
 * @category uAPI
 */
export interface VfioDmaUnmapArgs {
  /** The device whose container the ioctl is issued on. */
  readonly device: string;
  /** `iova`. */
  readonly iova: bigint;
  /** `size`. */
  readonly size: bigint;
}

function note(text: string): TraceEvent {
  return { kind: "note", actor: VFIO_TYPE1, text };
}

/** A refused call: the errno, the world unchanged. */
function refuse(w: World, errno: Errno, why: LazyText): StepOutcome {
  return failed(w, kernelError(errno, why));
}

/**
 * `iommu->pgsize_bitmap`'s smallest page for a container holding only this
 * device's domain: the domain's smallest page, raised to `PAGE_SIZE`
 * (`vfio_update_pgsize_bitmap`).
 */
function containerPgsize(m: Machine, device: string): bigint {
  const bitmap = iommuPgsizeBitmap(type1ConfigOf(m), device);
  const lowest = bitmap & -bitmap;
  return lowest < VFIO_TYPE1_PAGE_SIZE ? VFIO_TYPE1_PAGE_SIZE : lowest;
}

/**
 * `iommu->iova_list`: the domain's aperture less the device's reserved
 * regions (`vfio_iommu_aper_resize`, `vfio_iommu_resv_exclude`).
 */
function iovaList(m: Machine, device: string): readonly IovaInterval[] {
  let list: IovaInterval[] = [iommuAperture(type1ConfigOf(m), device)];
  for (const r of iommuReservedRegions(type1ConfigOf(m), device)) {
    list = list.flatMap((n) => {
      if (r.last < n.start || r.start > n.last) return [n];
      const parts: IovaInterval[] = [];
      if (r.start > n.start) parts.push({ start: n.start, last: r.start - 1n });
      if (r.last < n.last) parts.push({ start: r.last + 1n, last: n.last });
      return parts;
    });
  }
  return list;
}

/** The device's `vfio_dma` entries overlapping `[start, last]` (`vfio_find_dma`), with their slots. */
function overlapping(
  m: Machine,
  w: World,
  device: string,
  start: bigint,
  last: bigint,
): [number, VfioDma][] {
  return [...vfioDmaList(m, w).entries()].filter(
    ([, d]) => d.device === device && d.iova <= last && d.iova + d.size - 1n >= start,
  );
}

/** Contiguous physical runs at consecutive IOVAs, as `vfio_pin_map_dma` hands them to `vfio_iommu_map`. */
function chunksOf(iova: bigint, runs: readonly { phys: bigint; len: bigint }[]): VfioDmaChunk[] {
  const out: VfioDmaChunk[] = [];
  let at = iova;
  for (const r of runs) {
    const last = out[out.length - 1];
    if (last !== undefined && last.phys + last.len === r.phys) {
      out[out.length - 1] = { ...last, len: last.len + r.len };
    } else out.push({ iova: at, phys: r.phys, len: r.len });
    at += r.len;
  }
  return out;
}

/**
 * `VFIO_IOMMU_MAP_DMA`: checks in the kernel's order (the ioctl's `argsz`
 * and unknown-`flags` `EINVAL` are the schema's: it takes READ and WRITE
 * only, `VFIO_DMA_MAP_FLAG_VADDR` is not modelled; a device behind no
 * IOMMU `ENOTTY`, the no-IOMMU container's answer; size 0 `EINVAL`; `iova + size - 1` or `vaddr + size - 1` past `U64_MAX`
 * `EOVERFLOW`; neither READ nor WRITE `EINVAL`; `size`, `iova` or `vaddr`
 * not aligned to the container's smallest IOMMU page `EINVAL`; an overlap
 * with an existing `vfio_dma` `EEXIST`; outside the container's usable
 * IOVA ranges `EINVAL`), then `vfio_pin_map_dma`: the pages of
 * `[vaddr, vaddr + size)` as `vaddr_get_pfns` finds them (pinned RAM, or
 * the raw PFNs of a `VM_PFNMAP` BAR mmap; `EFAULT` for what neither
 * resolves) mapped at `iova` into the device's IOMMU domain, each run
 * granted to the device with no dma-buf attachment behind it. Nothing
 * links the mapping to the BAR's VMA, fd or device: a later munmap, close,
 * reset or unbind does not reach it.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param a - the arguments.
 * @returns done (the mapping made), or the errno with the world unchanged.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { vfioDmaDoMap, vfioType1Importer } from "@dmabuf-ref/importers";
 * import type { VfioDmaMapArgs } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [vfioType1Importer()] });
 * // 2 MiB of the VMM's anonymous memory for dev0 at IOVA 0x10_0000: pinned and mapped.
 * const args: VfioDmaMapArgs = { process: "vmm", device: "dev0", vaddr: 0x7f00_0000_0000n,
 *   iova: 0x10_0000n, size: 0x20_0000n, flags: ["READ", "WRITE"] };
 * const r = vfioDmaDoMap(m, boot(m), args);
 * assert.equal(r.status, "done");
 * const errno = (o: ReturnType<typeof vfioDmaDoMap>) =>
 *   o.status === "failed" ? o.error.errno : o.status;
 * assert.equal(errno(vfioDmaDoMap(m, r.world, { ...args, iova: 0x20_0000n })), "EEXIST");
 * assert.equal(errno(vfioDmaDoMap(m, boot(m), { ...args, iova: 0x10_0800n })), "EINVAL");
 * assert.equal(errno(vfioDmaDoMap(m, boot(m), { ...args, device: "dev2" })), "ENOTTY"); // no IOMMU
 * ```
 * @kernel drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_map_dma vfio_dma_do_map vfio_pin_map_dma
 * @category Drivers
 */
export function vfioDmaDoMap(m: Machine, w: World, a: VfioDmaMapArgs): StepOutcome {
  const domain = domainOf(m, w, a.device);
  if (domain === undefined) {
    return refuse(
      w,
      "ENOTTY",
      () => `${a.device} is behind no IOMMU: only a no-IOMMU container holds it`,
    );
  }
  if (a.size === 0n) return refuse(w, "EINVAL", "size is 0");
  if (a.iova + a.size - 1n > U64_MAX || a.vaddr + a.size - 1n > U64_MAX) {
    return refuse(
      w,
      "EOVERFLOW",
      () => `iova ${hex(a.iova)} or vaddr ${hex(a.vaddr)} + ${hex(a.size)} wraps`,
    );
  }
  const read = a.flags.includes("READ");
  const write = a.flags.includes("WRITE");
  if (!read && !write) return refuse(w, "EINVAL", "neither READ nor WRITE");
  const pgsize = containerPgsize(m, a.device);
  if (((a.size | a.iova | a.vaddr) & (pgsize - 1n)) !== 0n) {
    return refuse(
      w,
      "EINVAL",
      () =>
        `size ${hex(a.size)}, iova ${hex(a.iova)} or vaddr ${hex(a.vaddr)} is not aligned ` +
        `to the smallest IOMMU page ${hex(pgsize)}`,
    );
  }
  const last = a.iova + a.size - 1n;
  const clash = overlapping(m, w, a.device, a.iova, last)[0]?.[1];
  if (clash !== undefined) {
    return refuse(
      w,
      "EEXIST",
      () => `iova ${hex(a.iova)}+${hex(a.size)} overlaps the mapping at ${hex(clash.iova)}`,
    );
  }
  if (!iovaList(m, a.device).some((n) => a.iova >= n.start && last <= n.last)) {
    return refuse(
      w,
      "EINVAL",
      () => `iova ${hex(a.iova)}..${hex(last)} is not in the container's IOVA ranges`,
    );
  }
  const found = vaddrGetPfns(m, w, a.process, a.vaddr, a.size, write);
  if (!found.ok) return failed(w, found.error);
  const pinned: PagePiece[] = found.value.flatMap((p) => (p.kind === "pinned" ? p.pieces : []));
  const runs = found.value.flatMap((p) =>
    p.kind === "pinned" ? p.pieces.map((x) => ({ phys: x.phys, len: x.len })) : [p],
  );
  const chunks = chunksOf(a.iova, runs);
  // The pins first: a process's anonymous memory exists from its first pin on.
  const held = pinned.length === 0 ? w : holdPages(m, w, a.process, pinned);
  const mapped = mapChunks(held, domain, a.device, chunks, read, write);
  if (!mapped.ok) return failed(w, mapped.error);
  let world = mapped.value.world;
  const dma: VfioDma = {
    device: a.device,
    domain,
    iova: a.iova,
    size: a.size,
    vaddr: a.vaddr,
    read,
    write,
    chunks,
    pinned,
    grants: mapped.value.grants,
  };
  const list = vfioDmaList(m, world);
  world = putDmaList(m, world, list.set(list.lowestFreeId(), dma));
  const pfnmap = found.value.some((p) => p.kind === "pfnmap");
  return done(world, [
    note(
      `VFIO_IOMMU_MAP_DMA ${a.device} iova ${hex(a.iova)}+${hex(a.size)} <- vaddr ${hex(a.vaddr)}` +
        (pfnmap
          ? ": VM_PFNMAP, follow_fault_pfn took the raw PFNs (no reference, no lifetime link)"
          : ": pages pinned"),
    ),
  ]);
}

/**
 * `vfio_iommu_map` of each chunk into the domain, with the oracle's
 * grants. The domain already mapping an IOVA (only possible in the model,
 * where another importer may share the device's domain) is `iommu_map`'s
 * `EEXIST`; the caller then returns the untouched world.
 */
function mapChunks(
  w: World,
  domain: number,
  device: string,
  chunks: readonly VfioDmaChunk[],
  read: boolean,
  write: boolean,
): Result<{ readonly world: World; readonly grants: readonly number[] }> {
  const d = w.domains.get(domain);
  if (d === undefined) throw new Error(`vfio-type1: no domain ${domain}`);
  for (const c of chunks) {
    if (d.mappings.overlapping(c.iova, c.len) !== undefined) {
      return err("EEXIST", () => `iommu_map: domain ${domain} already maps ${hex(c.iova)}`);
    }
  }
  let world = w;
  const grants: number[] = [];
  for (const c of chunks) {
    world = iommuMap(world, domain, { iova: c.iova, len: c.len, phys: c.phys, read, write });
    const g = grantAccess(world, { device, phys: c.phys, len: c.len, write, att: null });
    if (g === undefined) throw new Error(`vfio-type1: no region holds ${hex(c.phys)}`);
    world = g.world;
    grants.push(g.id);
  }
  return ok({ world, grants });
}

/**
 * `VFIO_IOMMU_UNMAP_DMA` (v2 semantics, no flags): `iova` or `size` not
 * aligned to the smallest IOMMU page, or `size` 0, `EINVAL`; `iova +
 * size - 1` past `U64_MAX` `EOVERFLOW`; a `vfio_dma` straddling either end
 * `EINVAL` (type1v2 never splits one); then every `vfio_dma` inside the
 * range is unmapped from the domain, its pins released and its grants
 * ended (`vfio_remove_dma`). Unmapping nothing succeeds (the kernel
 * reports 0 bytes in `size`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param a - the arguments.
 * @returns done, or the errno with the world unchanged.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import {
 *   vfioDmaDoMap, vfioDmaDoUnmap, vfioDmaList, vfioType1Importer,
 * } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [vfioType1Importer()] });
 * const mapped = vfioDmaDoMap(m, boot(m), { process: "vmm", device: "dev0",
 *   vaddr: 0x7f00_0000_0000n, iova: 0x10_0000n, size: 0x4000n, flags: ["READ", "WRITE"] });
 * // type1v2 never splits a mapping: unmapping half of it is EINVAL.
 * const unmap = (size: bigint) =>
 *   vfioDmaDoUnmap(m, mapped.world, { device: "dev0", iova: 0x10_0000n, size });
 * const half = unmap(0x2000n);
 * assert.equal(half.status === "failed" ? half.error.errno : half.status, "EINVAL");
 * const all = unmap(0x4000n);
 * assert.equal(all.status, "done");
 * assert.equal(vfioDmaList(m, all.world).size, 0);
 * ```
 * @kernel drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_unmap_dma vfio_dma_do_unmap vfio_remove_dma
 * @category Drivers
 */
export function vfioDmaDoUnmap(m: Machine, w: World, a: VfioDmaUnmapArgs): StepOutcome {
  if (domainOf(m, w, a.device) === undefined) {
    return refuse(
      w,
      "ENOTTY",
      () => `${a.device} is behind no IOMMU: only a no-IOMMU container holds it`,
    );
  }
  const pgsize = containerPgsize(m, a.device);
  if ((a.iova & (pgsize - 1n)) !== 0n) {
    return refuse(w, "EINVAL", () => `iova ${hex(a.iova)} is not aligned to ${hex(pgsize)}`);
  }
  if (a.size === 0n || (a.size & (pgsize - 1n)) !== 0n) {
    return refuse(w, "EINVAL", () => `size ${hex(a.size)} is 0 or not aligned to ${hex(pgsize)}`);
  }
  const last = a.iova + a.size - 1n;
  if (last > U64_MAX) {
    return refuse(w, "EOVERFLOW", () => `iova ${hex(a.iova)} + ${hex(a.size)} wraps`);
  }
  const hit = overlapping(m, w, a.device, a.iova, last);
  const straddles = hit.find(([, d]) => d.iova < a.iova || d.iova + d.size - 1n > last)?.[1];
  if (straddles !== undefined) {
    return refuse(
      w,
      "EINVAL",
      () =>
        `the mapping ${hex(straddles.iova)}+${hex(straddles.size)} straddles ` +
        `${hex(a.iova)}+${hex(a.size)}; type1v2 does not split a mapping`,
    );
  }
  let world = w;
  let list = vfioDmaList(m, w);
  let unmapped = 0n;
  for (const [slot, d] of hit) {
    world = d.chunks.reduce((acc, c) => iommuUnmap(acc, d.domain, c.iova, c.len), world);
    world = endGrants(world, d.grants);
    world = releasePages(world, d.pinned);
    list = list.delete(slot);
    unmapped += d.size;
  }
  world = putDmaList(m, world, list);
  return done(world, [
    note(
      `VFIO_IOMMU_UNMAP_DMA ${a.device} iova ${hex(a.iova)}+${hex(a.size)}: ${hex(unmapped)} bytes unmapped`,
    ),
  ]);
}
