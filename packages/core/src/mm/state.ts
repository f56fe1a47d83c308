/*
 * Reading and writing the mm state of a World (`World.processes`,
 * `World.memfds`) and the regions that stand for process memory: a
 * process's anonymous region (made at its first mm call, kept for ever: its
 * pages may be pinned by physical address) and a memfd's region (freed when
 * nothing keeps the file's pages any more).
 */
import { idsInGroup } from "../encoding/group-index.js";
import type { Topology } from "../fabric/topology.js";
import { regionNamed, setRegionStatus } from "../fabric/regions.js";
import { grantsOfRegion } from "../world/grant-index.js";
import type { Memfd, ProcessMm, Vma } from "../world/mm-state.js";
import type { World } from "../world/world.js";
import {
  ANON_REGION_SIZE,
  MAX_PROCESSES,
  anonBase,
  anonRegionName,
  memfdBase,
  memfdIdOfFd,
  memfdRegionName,
  pageAlign,
} from "./layout.js";
import { worldWith } from "../world/world.js";

/**
 * A process's address space and its slot.
 *
 * @param w - the world.
 * @param process - the process's name.
 * @returns the slot and the state, or undefined before its first mm call.
 */
export function processEntry(
  w: World,
  process: string,
): { readonly slot: number; readonly mm: ProcessMm } | undefined {
  for (const slot of idsInGroup(w.processes.index, process)) {
    const mm = w.processes.get(slot);
    if (mm !== undefined) return { slot, mm };
  }
  return undefined;
}

/**
 * A process's address space (`current->mm`).
 *
 * @param w - the world.
 * @param process - the process's name.
 * @returns its state, or undefined before its first mm call (all anonymous memory).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, memfdCreate, processMm, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const w = boot(m);
 * // Before its first mm call a process is all anonymous memory: no mm_struct yet.
 * assert.equal(processMm(w, "vmm"), undefined);
 * const r = memfdCreate(m, w, "vmm", 0x20_0000n);
 * assert.ok(r.ok);
 * assert.deepEqual(processMm(r.value.world, "vmm"), { name: "vmm", vmas: [] });
 * ```
 * @category Drivers
 */
export function processMm(w: World, process: string): ProcessMm | undefined {
  return processEntry(w, process)?.mm;
}

/**
 * The explicit VMAs of a process (empty before its first mm call).
 *
 * @param w - the world.
 * @param process - the process's name.
 * @returns the VMAs, ascending.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TASK_SIZE, boot, memfdCreate, mmap, referenceMachine, vmasOf } from "@dmabuf-ref/core";
 *
 * // A VMM backs 2 MiB of guest RAM with a memfd and maps it shared.
 * const m = referenceMachine();
 * const mfd = memfdCreate(m, boot(m), "vmm", 0x20_0000n);
 * assert.ok(mfd.ok);
 * const fd = Number(mfd.value.ret);
 * const req = { process: "vmm", fd, offset: 0n, length: 0x20_0000n, read: true, write: true };
 * const r = mmap(m, mfd.value.world, req);
 * assert.ok(r.ok);
 * const [vma] = vmasOf(r.value.world, "vmm");
 * assert.equal(vma?.start, TASK_SIZE - 0x20_0000n);
 * assert.deepEqual(vma?.backing, { kind: "memfd", memfd: 1, offset: 0n });
 * ```
 * @category Drivers
 */
export function vmasOf(w: World, process: string): readonly Vma[] {
  return processMm(w, process)?.vmas ?? [];
}

/**
 * The slot a process has, or the one its first mm call will give it (the
 * lowest free): what its anonymous memory's physical base follows from.
 *
 * @param w - the world.
 * @param process - the process's name.
 * @returns the slot.
 */
export function slotOf(w: World, process: string): number {
  return processEntry(w, process)?.slot ?? w.processes.lowestFreeId();
}

/**
 * The world with a process's address space in place and its anonymous
 * region live: the first mm call of a process creates both.
 *
 * @param topology - the machine's hardware.
 * @param w - the world.
 * @param process - the process's name.
 * @returns the world and the process's slot.
 */
export function ensureProcess(
  topology: Topology,
  w: World,
  process: string,
): { readonly world: World; readonly slot: number } {
  const found = processEntry(w, process);
  if (found !== undefined) return { world: w, slot: found.slot };
  const slot = w.processes.lowestFreeId();
  // Past the last slot a process's anonymous region would overlap the memfd area.
  if (slot > MAX_PROCESSES) throw new Error(`mm: more than ${MAX_PROCESSES} processes`);
  const regions = w.regions.set(w.regions.lowestFreeId(), {
    id: anonRegionName(process),
    kind: "ram",
    base: anonBase(topology, slot),
    size: ANON_REGION_SIZE,
    busOffset: 0n,
    status: "live",
  });
  return {
    world: worldWith(w, { regions, processes: w.processes.set(slot, { name: process, vmas: [] }) }),
    slot,
  };
}

/**
 * The world with a process's VMAs replaced (the process must exist).
 *
 * @param w - the world.
 * @param slot - the process's slot.
 * @param vmas - the new canonical list.
 * @returns the new world.
 */
export function putVmas(w: World, slot: number, vmas: readonly Vma[]): World {
  const mm = w.processes.get(slot);
  if (mm === undefined) throw new Error(`mm: no process in slot ${slot}`);
  return worldWith(w, { processes: w.processes.set(slot, { ...mm, vmas }) });
}

/**
 * The memfd an fd names, if it is an open memfd's fd.
 *
 * @param w - the world.
 * @param fd - an fd number.
 * @returns the memfd's id and state, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, memfdCreate, openMemfd, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const r = memfdCreate(m, boot(m), "vmm", 0x1000n);
 * assert.ok(r.ok);
 * const found = openMemfd(r.value.world, Number(r.value.ret));
 * assert.equal(found?.id, 1);
 * assert.equal(found?.memfd.size, 0x1000n);
 * // fd 3 is no memfd.
 * assert.equal(openMemfd(r.value.world, 3), undefined);
 * ```
 * @category Drivers
 */
export function openMemfd(
  w: World,
  fd: number,
):
  | {
      /** The memfd's id (its fd minus `MEMFD_FD_BASE`). */
      readonly id: number;
      /** Its state. */
      readonly memfd: Memfd;
    }
  | undefined {
  const id = memfdIdOfFd(fd);
  const memfd = id === undefined ? undefined : w.memfds.get(id);
  return id === undefined || memfd === undefined || !memfd.open ? undefined : { id, memfd };
}

/**
 * A new memfd of `size` bytes and its region.
 *
 * @param topology - the machine's hardware.
 * @param w - the world.
 * @param id - its id (free).
 * @param memfd - its state.
 * @returns the new world.
 */
export function addMemfd(topology: Topology, w: World, id: number, memfd: Memfd): World {
  const size = pageAlign(memfd.size);
  const memfds = w.memfds.set(id, memfd);
  if (size === 0n) return worldWith(w, { memfds });
  const regions = w.regions.set(w.regions.lowestFreeId(), {
    id: memfdRegionName(memfd.process, id),
    kind: "ram",
    base: memfdBase(topology, id),
    size,
    busOffset: 0n,
    status: "live",
  });
  return worldWith(w, { memfds, regions });
}

function mapsMemfd(w: World, id: number): boolean {
  for (const p of w.processes.values()) {
    if (p.vmas.some((v) => v.backing.kind === "memfd" && v.backing.memfd === id)) return true;
  }
  return false;
}

/**
 * Frees a memfd whose pages nothing keeps any more (fd closed, no VMA, no
 * pin): its id is free again, and its region is freed (every grant into it
 * goes stale) or, when no grant names it, dropped, so a world that creates
 * and frees a memfd returns to where it was.
 *
 * @param w - the world.
 * @param id - the memfd's id.
 * @returns the new world (the same world when something still keeps it).
 */
export function reapMemfd(w: World, id: number): World {
  const memfd = w.memfds.get(id);
  if (memfd === undefined || memfd.open || memfd.pins > 0 || mapsMemfd(w, id)) return w;
  const gone: World = worldWith(w, { memfds: w.memfds.delete(id) });
  const found = regionNamed(gone, memfdRegionName(memfd.process, id));
  if (found === undefined) return gone;
  const [rid] = found;
  const freed = setRegionStatus(gone, rid, "freed");
  return grantsOfRegion(freed.grants.index, rid).length === 0
    ? worldWith(freed, { regions: freed.regions.delete(rid) })
    : freed;
}

/**
 * Whether any process still maps a VFIO device's BAR: each such VMA holds
 * the device file (`vma->vm_file`), so closing the device fd does not
 * release the device while one exists.
 *
 * @param w - the world.
 * @param device - the device.
 * @returns true when a VMA of some process maps one of its BARs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, deviceMapped, referenceMachine } from "@dmabuf-ref/core";
 *
 * // No process has mmapped a BAR of dev0, so closing its fd releases the device.
 * const w = boot(referenceMachine());
 * assert.equal(deviceMapped(w, "dev0"), false);
 * ```
 * @category Drivers
 */
export function deviceMapped(w: World, device: string): boolean {
  for (const p of w.processes.values()) {
    if (p.vmas.some((v) => v.backing.kind === "device" && v.backing.device === device)) return true;
  }
  return false;
}
