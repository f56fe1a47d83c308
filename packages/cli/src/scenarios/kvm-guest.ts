import { settle, step } from "@dmabuf-ref/core";
import type { AccessOutcome, KernelError, Machine, TraceEvent, World } from "@dmabuf-ref/core";
import { KVM, KVM_PAGE, kvmStateOf } from "@dmabuf-ref/importers";
import type { KvmCacheAttr } from "@dmabuf-ref/importers";
import type { Result } from "@dmabuf-ref/core";
import type { VmmSession } from "./session.js";

/** What a guest fault gave the guest: the PFN KVM installed and how it mapped it. */
export interface GuestMapping {
  /** The host frame number. */
  readonly pfn: bigint;
  /** The largest order KVM may map it with (9 = 2 MiB). */
  readonly maxOrder: number;
  /** The cache attribute. */
  readonly cache: KvmCacheAttr;
  /** True for device MMIO. */
  readonly mmio: boolean;
}

function refused(call: string, error: KernelError): TraceEvent {
  return { kind: "error", actor: KVM, call, error };
}

/**
 * Runs one KVM op (`KVM_SET_USER_MEMORY_REGION2`, a guest fault or access)
 * through `step` as the session's next call; an errno is recorded in the
 * trace under `call`.
 *
 * @param s - the session.
 * @param call - the call's name in the trace.
 * @param action - the KVM op.
 * @returns the world and events after it, or the errno.
 */
function kvmCall(
  s: VmmSession,
  call: string,
  action: Readonly<Record<string, unknown>>,
): Result<{ readonly world: World; readonly events: readonly TraceEvent[]; created?: number }> {
  let result:
    | Result<{ readonly world: World; readonly events: readonly TraceEvent[]; created?: number }>
    | undefined;
  s.apply((w) => {
    const r = step(s.machine, w, { kind: "driver", driver: KVM, action });
    if (r.status === "blocked") throw new Error(`${call} blocked: ${r.reason}`);
    if (r.status === "failed") {
      result = { ok: false, error: r.error };
      return { world: w, events: [refused(call, r.error)] };
    }
    result = { ok: true, value: r };
    return { world: r.world, events: r.events };
  });
  if (result === undefined) throw new Error(`${call} did not run`);
  return result;
}

/**
 * `KVM_SET_USER_MEMORY_REGION2` with `KVM_MEM_VFIO_DMABUF` (kernel-model
 * §5.1) from the VMM: a slot of exactly the dma-buf's size at `gfnBase`.
 *
 * @param s - the session.
 * @param slot - the memslot id.
 * @param gfnBase - the first GFN.
 * @param fd - the dma-buf fd.
 * @param size - the dma-buf's size (the slot's size must equal it).
 * @returns KVM's attachment, or the errno (recorded in the trace).
 */
export function setDmabufMemslot(
  s: VmmSession,
  slot: number,
  gfnBase: bigint,
  fd: number,
  size: bigint,
): Result<number> {
  const npages = size / KVM_PAGE;
  const r = kvmCall(s, "KVM_SET_USER_MEMORY_REGION2", {
    op: "KVM_SET_USER_MEMORY_REGION2",
    ...{ slot, gfnBase, npages, fd, offset: 0n },
  });
  if (!r.ok) return r;
  if (r.value.created === undefined) throw new Error("the memslot reported no attachment");
  return { ok: true, value: r.value.created };
}

/** The stage-2 entry that maps `gfn` of memslot `slot`, as KVM installed it. */
function stage2At(m: Machine, w: World, slot: number, gfn: bigint): GuestMapping {
  const s = kvmStateOf(m, w).slots.find((x) => x.slot === slot);
  const e = s?.stage2.find((x) => gfn >= x.gfn && gfn < x.gfn + (1n << BigInt(x.order)));
  if (e === undefined) throw new Error(`no stage-2 entry for gfn 0x${gfn.toString(16)}`);
  return { pfn: e.pfn + (gfn - e.gfn), maxOrder: e.order, cache: e.cache, mmio: e.mmio };
}

/**
 * A guest access to `gfn` that misses in the stage-2 / EPT tables, so KVM
 * faults it in through the exporter's `get_pfn` (kernel-model §5.1).
 *
 * @param s - the session.
 * @param slot - the memslot id.
 * @param gfn - the guest frame.
 * @returns what KVM mapped, or the errno (`EIO` when `get_pfn` failed; recorded in the trace).
 */
export function guestFault(s: VmmSession, slot: number, gfn: bigint): Result<GuestMapping> {
  const r = kvmCall(s, `guest fault gfn 0x${gfn.toString(16)}`, { op: "guest-fault", slot, gfn });
  return r.ok ? { ok: true, value: stage2At(s.machine, r.value.world, slot, gfn) } : r;
}

/**
 * A guest load or store to `gfn` (kernel-model §5.1): through the
 * installed stage-2 entry if there is one, else after KVM faults it in;
 * the oracle judges it like any DMA.
 *
 * @param s - the session.
 * @param slot - the memslot id.
 * @param gfn - the guest frame.
 * @param dir - load or store.
 * @returns the oracle's verdict, or the errno (`EIO` when the fault failed; recorded in the trace).
 */
export function guestAccess(
  s: VmmSession,
  slot: number,
  gfn: bigint,
  dir: "read" | "write",
): Result<AccessOutcome | "mmio-exit"> {
  const r = kvmCall(s, `guest ${dir} gfn 0x${gfn.toString(16)}`, {
    op: "guest-access",
    ...{ slot, gfn, offset: 0n, len: 8n, dir },
  });
  if (!r.ok) return r;
  // The oracle's verdict is the access's dma event; a store to a read-only slot exits instead.
  const dma = r.value.events.findLast((e) => e.kind === "dma" && e.device === KVM);
  return { ok: true, value: dma?.kind === "dma" ? dma.outcome : "mmio-exit" };
}

/** One step of the scheduler (a task step, else a driver's pending op), or undefined when nothing can run. */
function stepOnce(
  m: Machine,
  w: World,
): { world: World; events: readonly TraceEvent[] } | undefined {
  for (const [task] of w.tasks.entries()) {
    const r = step(m, w, { kind: "task", task });
    if (r.status === "done") return r;
  }
  for (const d of [...m.exporters.values(), ...m.importers.values()]) {
    for (const op of d.pending?.(m, w) ?? []) {
      const r = step(m, w, op);
      if (r.status === "done") return r;
    }
  }
  return undefined;
}

/**
 * Starts a driver action and runs the kernel's work one step at a time
 * until `until` holds, so the guest can fault *inside* a long operation
 * (an FLR between its revoke and its un-revoke), where the kernel really
 * races (DESIGN §2a). {@link settleNow} runs the rest.
 *
 * @param s - the session.
 * @param driver - the driver.
 * @param action - its action.
 * @param until - the point to stop at.
 * @returns ok, or the action's errno.
 * @throws when the work settles before `until` holds (the story is wrong).
 */
export function startUntil(
  s: VmmSession,
  driver: string,
  action: unknown,
  until: (w: World) => boolean,
): Result<null> {
  let result: Result<null> = { ok: true, value: null };
  s.apply((w) => {
    const r = step(s.machine, w, { kind: "driver", driver, action });
    if (r.status !== "done") {
      if (r.status === "blocked") throw new Error(`${driver} action blocked: ${r.reason}`);
      result = { ok: false, error: r.error };
      return {
        world: w,
        events: [{ kind: "error", actor: s.process, call: driver, error: r.error }],
      };
    }
    let world = r.world;
    const events = [...r.events];
    while (!until(world)) {
      const next = stepOnce(s.machine, world);
      if (next === undefined) throw new Error(`${driver}: the work settled before the stop point`);
      world = next.world;
      events.push(...next.events);
    }
    return { world, events };
  });
  return result;
}

/**
 * Runs the kernel work that is ready until nothing more can (core's
 * `settle`), e.g. the rest of an FLR that {@link startUntil} paused.
 *
 * @param s - the session.
 */
export function settleNow(s: VmmSession): void {
  s.apply((w) => settle(s.machine, w));
}
