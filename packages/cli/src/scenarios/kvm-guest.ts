import { settle, step } from "@dmabuf-ref/core";
import type { AccessOutcome, KernelError, Machine, TraceEvent, World } from "@dmabuf-ref/core";
import {
  KVM,
  KVM_PAGE,
  kvmGuestAccess,
  kvmGuestFault,
  kvmSetMemslotDmabuf,
} from "@dmabuf-ref/importers";
import type { KvmCacheAttr } from "@dmabuf-ref/importers";
import type { CallResult } from "./call-result.js";
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
 * `KVM_SET_USER_MEMORY_REGION2` with `KVM_MEM_VFIO_DMABUF` (kernel-facts
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
): CallResult<number> {
  let result: CallResult<number> | undefined;
  s.apply((w) => {
    const args = { slot, gfnBase, npages: size / KVM_PAGE, fd, offset: 0n };
    const r = kvmSetMemslotDmabuf(s.machine, w, args);
    if (r.status === "blocked") throw new Error(`the memslot ioctl blocked: ${r.reason}`);
    if (r.status === "failed") {
      result = { ok: false, error: r.error };
      return { world: w, events: [refused("KVM_SET_USER_MEMORY_REGION2", r.error)] };
    }
    if (r.created === undefined) throw new Error("the memslot reported no attachment");
    result = { ok: true, value: r.created };
    return { world: r.world, events: r.events };
  });
  if (result === undefined) throw new Error("the memslot call did not run");
  return result;
}

/**
 * A guest access to `gfn` that misses in the stage-2 / EPT tables, so KVM
 * faults it in through the exporter's `get_pfn` (kernel-facts §5.1).
 *
 * @param s - the session.
 * @param slot - the memslot id.
 * @param gfn - the guest frame.
 * @returns what KVM mapped, or the errno (`EIO` when `get_pfn` failed; recorded in the trace).
 */
export function guestFault(s: VmmSession, slot: number, gfn: bigint): CallResult<GuestMapping> {
  let result: CallResult<GuestMapping> | undefined;
  s.apply((w) => {
    const r = kvmGuestFault(s.machine, w, { slot, gfn });
    if (r.status === "blocked") throw new Error(`the guest fault blocked: ${r.reason}`);
    if (r.status === "failed") {
      result = { ok: false, error: r.error };
      return { world: w, events: [refused(`guest fault gfn 0x${gfn.toString(16)}`, r.error)] };
    }
    result = {
      ok: true,
      value: { pfn: r.pfn, maxOrder: r.maxOrder, cache: r.cache, mmio: r.mmio },
    };
    return { world: r.world, events: r.events };
  });
  if (result === undefined) throw new Error("the guest fault did not run");
  return result;
}

/**
 * A guest load or store to `gfn` (kernel-facts §5.1): through the
 * installed stage-2 entry if there is one, else after KVM faults it in;
 * the oracle judges it like any DMA ({@link kvmGuestAccess}).
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
): CallResult<AccessOutcome | "mmio-exit"> {
  let result: CallResult<AccessOutcome | "mmio-exit"> | undefined;
  s.apply((w) => {
    const r = kvmGuestAccess(s.machine, w, { slot, gfn, offset: 0n, len: 8n, dir });
    if (r.status === "blocked") throw new Error(`the guest access blocked: ${r.reason}`);
    if (r.status === "failed") {
      result = { ok: false, error: r.error };
      return { world: w, events: [refused(`guest ${dir} gfn 0x${gfn.toString(16)}`, r.error)] };
    }
    result = { ok: true, value: r.outcome };
    return { world: r.world, events: r.events };
  });
  if (result === undefined) throw new Error("the guest access did not run");
  return result;
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
): CallResult<null> {
  let result: CallResult<null> = { ok: true, value: null };
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
