/*
 * The constants of a process's address space (x86-64) and where the model
 * puts process memory physically. The physical addresses are synthetic:
 * above every region of the topology, so they never meet real RAM, a BAR or
 * VRAM, and a DMA that lands there names the process's memory
 * (`vmm.anon` + user VA, `vmm.memfd1` + file offset).
 */
import type { Topology } from "../fabric/topology.js";

/**
 * `PAGE_SIZE` of the modelled host (x86-64, 4 KiB).
 *
 * @category Drivers
 */
export const MM_PAGE_SIZE = 0x1000n;

/**
 * `TASK_SIZE` of a 4-level x86-64 process (`TASK_SIZE_MAX`, 2^47 minus one
 * page: the top page is a guard the kernel never maps). User addresses lie
 * below it.
 *
 * @category Drivers
 */
export const TASK_SIZE = (1n << 47n) - MM_PAGE_SIZE;

/**
 * `VFIO_PCI_OFFSET_SHIFT` (include/linux/vfio_pci_core.h): a region's index sits above bit 40 of the file offset.
 *
 * @category Drivers
 */
export const VFIO_PCI_OFFSET_SHIFT = 40n;

/**
 * `VFIO_PCI_ROM_REGION_INDEX`: indexes 0..5 are BARs, the only regions `vfio_pci_core_mmap` maps.
 *
 * @category Drivers
 */
export const VFIO_PCI_ROM_REGION_INDEX = 6;

/**
 * `VFIO_PCI_INDEX_TO_OFFSET(index)`: the file offset of a VFIO device
 * region, as `VFIO_DEVICE_GET_REGION_INFO` reports it and `mmap()` takes it.
 *
 * @param index - the region index (`VFIO_PCI_BAR0_REGION_INDEX` = 0, ...).
 * @returns `index << 40`.
 * @kernel include/linux/vfio_pci_core.h VFIO_PCI_INDEX_TO_OFFSET
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vfioPciIndexToOffset } from "@dmabuf-ref/core";
 *
 * // The mmap() offset of BAR 2 of a vfio-pci device, as REGION_INFO reports it.
 * assert.equal(vfioPciIndexToOffset(2), 0x200_0000_0000n);
 * assert.equal(vfioPciIndexToOffset(0), 0n);
 * ```
 * @category Drivers
 */
export function vfioPciIndexToOffset(index: number): bigint {
  return BigInt(index) << VFIO_PCI_OFFSET_SHIFT;
}

/**
 * The fd of the memfd with id 1 minus one: a memfd's fd is this plus its
 * id. The model keeps no fd table, and a dma-buf's fd is its buffer id
 * (lowest free from 1, as `alloc_fd` hands fds out); memfd fds start at
 * 2^20, a number no dma-buf id of a model run reaches, so the two never
 * collide (a real process would interleave them in one table).
 *
 * @category Drivers
 */
export const MEMFD_FD_BASE = 0x100000;

/**
 * The most memfds the model holds at once (ids 1..4095; `EMFILE` beyond).
 *
 * @category Drivers
 */
export const MAX_MEMFDS = 4095;

/**
 * The largest memfd the model holds (`ftruncate()` beyond it: `EFBIG`). 16 TiB.
 *
 * @category Drivers
 */
export const MAX_MEMFD_SIZE = 1n << 44n;

/**
 * The most processes with an address space (slots 1..512).
 *
 * @category Drivers
 */
export const MAX_PROCESSES = 512;

/**
 * The name of the built-in mm driver in `driver` ops: every machine has it,
 * and no exporter or importer may take the name.
 *
 * @category Drivers
 */
export const MM_DRIVER = "mm";

/**
 * The process a replay runs as, and the default of every mm call's `process`.
 *
 * @category Drivers
 */
export const DEFAULT_PROCESS = "vmm";

/** Span of one process's anonymous memory region (all of its user VAs). */
const ANON_SPAN = 1n << 47n;
/** Where the memfd regions start, above every process's anonymous region. */
const MEMFD_AREA = 1n << 56n;
/** Alignment of the synthetic area's base above the topology. */
const BASE_ALIGN = 1n << 48n;

const bases = new WeakMap<Topology, bigint>();

/**
 * The first synthetic physical address: the lowest multiple of 2^48 above
 * every region of the topology.
 *
 * @param topology - the machine's hardware.
 * @returns the base.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mmPhysBase, referenceTopology } from "@dmabuf-ref/core";
 *
 * // The reference machine's RAM ends at 0x1_4000_0000: process memory starts at 2^48.
 * assert.equal(mmPhysBase(referenceTopology), 1n << 48n);
 * ```
 * @category Drivers
 */
export function mmPhysBase(topology: Topology): bigint {
  const cached = bases.get(topology);
  if (cached !== undefined) return cached;
  let top = 0n;
  for (const r of topology.regions) {
    const end = r.base + r.size;
    if (end > top) top = end;
  }
  const base = (top / BASE_ALIGN + 1n) * BASE_ALIGN;
  bases.set(topology, base);
  return base;
}

/**
 * The name of a process's anonymous memory region (where a DMA into its
 * anonymous pages lands, at offset = user VA).
 *
 * @param process - the process.
 * @returns `<process>.anon`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_PROCESS, anonRegionName } from "@dmabuf-ref/core";
 *
 * assert.equal(anonRegionName(DEFAULT_PROCESS), "vmm.anon");
 * ```
 * @category Drivers
 */
export function anonRegionName(process: string): string {
  return `${process}.anon`;
}

/**
 * The physical base of a process's anonymous memory region: physical
 * address = base + user VA.
 *
 * @param topology - the machine's hardware.
 * @param slot - the process's slot in `World.processes` (from 1).
 * @returns the base.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { anonBase, mmPhysBase, referenceTopology } from "@dmabuf-ref/core";
 *
 * // The first process's anonymous memory starts at the synthetic base (2^48 here),
 * // the second's 2^47 higher: its user VA 0x7f00_0000_0000 is physical base + VA.
 * const base = mmPhysBase(referenceTopology);
 * assert.equal(anonBase(referenceTopology, 1), 0x1_0000_0000_0000n);
 * assert.equal(anonBase(referenceTopology, 2), base + (1n << 47n));
 * assert.equal(anonBase(referenceTopology, 2) + 0x7f00_0000_0000n, 0x1_ff00_0000_0000n);
 * ```
 * @category Drivers
 */
export function anonBase(topology: Topology, slot: number): bigint {
  return mmPhysBase(topology) + BigInt(slot - 1) * ANON_SPAN;
}

/**
 * The size of every anonymous memory region: a whole address space.
 *
 * @category Drivers
 */
export const ANON_REGION_SIZE = ANON_SPAN;

/**
 * The name of a memfd's region.
 *
 * @param process - the process that created it.
 * @param id - the memfd's id.
 * @returns `<process>.memfd<id>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memfdRegionName } from "@dmabuf-ref/core";
 *
 * assert.equal(memfdRegionName("vmm", 1), "vmm.memfd1");
 * ```
 * @category Drivers
 */
export function memfdRegionName(process: string, id: number): string {
  return `${process}.memfd${id}`;
}

/**
 * The physical base of a memfd's region: physical address = base + file
 * offset.
 *
 * @param topology - the machine's hardware.
 * @param id - the memfd's id.
 * @returns the base.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_MEMFD_SIZE, memfdBase, referenceTopology } from "@dmabuf-ref/core";
 *
 * // Each memfd gets a 16 TiB window of synthetic physical addresses.
 * const one = memfdBase(referenceTopology, 1);
 * assert.equal(memfdBase(referenceTopology, 2) - one, MAX_MEMFD_SIZE);
 * assert.equal(one > 1n << 56n, true);
 * ```
 * @category Drivers
 */
export function memfdBase(topology: Topology, id: number): bigint {
  return mmPhysBase(topology) + MEMFD_AREA + BigInt(id) * MAX_MEMFD_SIZE;
}

/**
 * The fd of a memfd.
 *
 * @param id - the memfd's id.
 * @returns its fd number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memfdFd } from "@dmabuf-ref/core";
 *
 * // memfd fds start at 2^20, clear of every dma-buf fd of a model run.
 * assert.equal(memfdFd(1), 0x100001);
 * ```
 * @category Drivers
 */
export function memfdFd(id: number): number {
  return MEMFD_FD_BASE + id;
}

/**
 * The memfd id an fd number would name, if it is in the memfd range.
 *
 * @param fd - an fd number.
 * @returns the id, or undefined for a number outside the range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memfdIdOfFd } from "@dmabuf-ref/core";
 *
 * assert.equal(memfdIdOfFd(0x100001), 1);
 * // fd 3 is a dma-buf fd, not a memfd.
 * assert.equal(memfdIdOfFd(3), undefined);
 * ```
 * @category Drivers
 */
export function memfdIdOfFd(fd: number): number | undefined {
  const id = fd - MEMFD_FD_BASE;
  return Number.isInteger(id) && id >= 1 && id <= MAX_MEMFDS ? id : undefined;
}

/**
 * `PAGE_ALIGN(x)`: rounded up to a whole page.
 *
 * @param x - bytes.
 * @returns the rounded value.
 */
export function pageAlign(x: bigint): bigint {
  return ((x + MM_PAGE_SIZE - 1n) / MM_PAGE_SIZE) * MM_PAGE_SIZE;
}

/**
 * `x & PAGE_MASK`: rounded down to a page.
 *
 * @param x - an address.
 * @returns the page's first address.
 */
export function pageDown(x: bigint): bigint {
  return x - (x % MM_PAGE_SIZE);
}
