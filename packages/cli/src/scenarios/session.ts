import {
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_UNMAP,
  VFIO_DEVICE_FEATURE_GET,
  encodeDmaBufFeature,
  iommuIoasAlloc,
  iommuIoasMapFile,
  iommuIoasUnmap,
  runScript,
  settle,
  step,
} from "@dmabuf-ref/core";
import type { Machine, Op, SyscallReturn, TraceEvent, World } from "@dmabuf-ref/core";
import { O_RDWR } from "@dmabuf-ref/exporters";
import type { Result } from "@dmabuf-ref/core";
import { ScenarioStopped } from "./expect.js";

/**
 * A VMM's session against the model: it keeps the current world and the
 * trace while a scenario issues uAPI calls, device DMA and driver events,
 * the way QEMU would. Scenario plumbing, not model state: every call is
 * an op of core's `step` and only the latest world is kept.
 */
export class VmmSession {
  #world: World;
  readonly #events: TraceEvent[] = [];

  /**
   * @param machine - the machine the calls run on (profile, topology, drivers).
   * @param world - the world to start from (e.g. `boot(machine)`).
   * @param process - the process name traces show for the VMM's calls.
   */
  constructor(
    readonly machine: Machine,
    world: World,
    readonly process = "qemu",
  ) {
    this.#world = world;
  }

  /** The current world. */
  get world(): World {
    return this.#world;
  }

  /** The trace so far. */
  get events(): readonly TraceEvent[] {
    return this.#events;
  }

  /**
   * Adds a remark to the trace.
   *
   * @param text - the remark.
   * @param actor - who it is about (default: the VMM).
   */
  note(text: string, actor: string = this.process): void {
    this.#events.push({ kind: "note", actor, text });
  }

  /**
   * `VFIO_DEVICE_FEATURE(GET | DMA_BUF)` on a device: exports BAR ranges.
   *
   * @param device - the VFIO device.
   * @param region - the BAR index.
   * @param ranges - `{offset, length}` ranges within the BAR.
   * @returns the new dma-buf fd.
   */
  exportBar(
    device: string,
    region: number,
    ranges: readonly { offset: bigint; length: bigint }[],
  ): Result<number> {
    const argp = encodeDmaBufFeature({
      flags: VFIO_DEVICE_FEATURE_GET,
      data: { region_index: region, open_flags: O_RDWR, flags: 0 },
      ranges,
    });
    const r = this.syscall("vfio-pci", {
      op: "VFIO_DEVICE_FEATURE",
      device,
      argp,
      process: this.process,
    });
    return r.ok ? { ok: true, value: r.value.ret } : r;
  }

  /**
   * `IOMMU_IOAS_ALLOC`.
   *
   * @returns the new IOAS id.
   */
  ioasAlloc(): Result<number> {
    const r = this.iommufd(
      IOMMU_IOAS_ALLOC,
      iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 }),
    );
    return r.ok ? { ok: true, value: iommuIoasAlloc.decode(r.value).out_ioas_id } : r;
  }

  /**
   * `IOMMU_IOAS_MAP_FILE` of a dma-buf slice.
   *
   * @param args - IOAS, fd, byte range, flags and (with FIXED_IOVA) the IOVA.
   * @returns the IOVA the kernel placed it at.
   */
  mapFile(args: {
    readonly ioas: number;
    readonly fd: number;
    readonly start: bigint;
    readonly length: bigint;
    readonly flags: number;
    readonly iova?: bigint;
  }): Result<bigint> {
    const r = this.iommufd(
      IOMMU_IOAS_MAP_FILE,
      iommuIoasMapFile.encode({
        size: 40,
        flags: args.flags,
        ioas_id: args.ioas,
        fd: args.fd,
        start: args.start,
        length: args.length,
        iova: args.iova ?? 0n,
      }),
    );
    return r.ok ? { ok: true, value: iommuIoasMapFile.decode(r.value).iova } : r;
  }

  /**
   * `IOMMU_IOAS_UNMAP`.
   *
   * @param ioas - the IOAS id.
   * @param iova - start.
   * @param length - bytes.
   * @returns the bytes unmapped.
   */
  unmap(ioas: number, iova: bigint, length: bigint): Result<bigint> {
    const r = this.iommufd(
      IOMMU_IOAS_UNMAP,
      iommuIoasUnmap.encode({ size: 24, ioas_id: ioas, iova, length }),
    );
    return r.ok ? { ok: true, value: iommuIoasUnmap.decode(r.value).length } : r;
  }

  /**
   * Attaches a device to an IOAS (the VFIO cdev `ATTACH_IOMMUFD_PT` path).
   *
   * @param device - the device.
   * @param ioas - the IOAS id.
   * @returns ok or the errno.
   */
  attach(device: string, ioas: number): Result<null> {
    // Through step, like every other call: a fill that sleeps on resv waits.
    return this.run({
      kind: "driver",
      driver: "iommufd",
      action: { op: "attach-device", device, ioas },
    });
  }

  /**
   * One device access, judged by the oracle.
   *
   * @param device - the device.
   * @param addr - the address it issues (an IOVA here).
   * @param len - bytes.
   * @param dir - read or write.
   * @returns ok, fault or violation.
   */
  dma(
    device: string,
    addr: bigint,
    len: bigint,
    dir: "read" | "write",
  ): "ok" | "fault" | "violation" {
    const before = this.#events.length;
    this.run({ kind: "dma", device, addr, len, dir });
    const e = this.#events.slice(before).find((x) => x.kind === "dma");
    if (e?.kind !== "dma") throw new Error("the dma op produced no dma event");
    return e.outcome;
  }

  /**
   * A vfio-pci driver event (FLR, memory enable, close...), run until it settles.
   *
   * @param action - the vfio-pci action.
   * @returns ok or the errno.
   */
  vfio(action: unknown): Result<null> {
    return this.run({ kind: "driver", driver: "vfio-pci", action });
  }

  /**
   * A vfio-pci ioctl or config-space write (`VFIO_DEVICE_FEATURE`,
   * `VFIO_DEVICE_RESET`, `config-write`, ...), returning when the kernel's
   * would, with its return value.
   *
   * @param action - the vfio-pci ioctl action.
   * @returns what it returned, or the errno.
   */
  vfioIoctl(action: unknown): Result<SyscallReturn> {
    return this.syscall("vfio-pci", action);
  }

  /**
   * Applies a pure change to the world that no uAPI call models (e.g. a
   * legacy type1 container pinning PFNs it took from a VMA).
   *
   * @param change - returns the new world and its events.
   */
  apply(
    change: (w: World) => { readonly world: World; readonly events: readonly TraceEvent[] },
  ): void {
    const r = change(this.#world);
    this.#world = r.world;
    this.#events.push(...r.events);
  }

  /**
   * The outcome of the last `count` dma events (for verdicts).
   *
   * @param count - how many, from the end.
   * @returns their outcomes, oldest first.
   */
  lastDma(count: number): string[] {
    return this.#events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : [])).slice(-count);
  }

  /**
   * Runs core ops (and settles), recording events.
   *
   * @param ops - the operations.
   * @returns ok, or the first errno.
   */
  run(...ops: readonly Op[]): Result<null> {
    const r = runScript(this.machine, this.#world, ops, this.process);
    this.#world = r.world;
    this.#events.push(...r.events);
    const failed = r.results.find((x) => x.status !== "done");
    if (failed === undefined) return { ok: true, value: null };
    if (failed.error !== undefined) return { ok: false, error: failed.error };
    throw new Error(`${failed.op.kind} blocked forever`);
  }

  private iommufd(number: number, buffer: Uint8Array): Result<Uint8Array> {
    const r = this.syscall("iommufd", { op: "ioctl", number, buffer, process: this.process });
    if (!r.ok) return r;
    if (r.value.out === undefined) throw new Error("an iommufd ioctl returned no struct");
    return { ok: true, value: r.value.out };
  }

  /**
   * A userspace call into a driver, through `step` like every op: a call
   * that would sleep waits while the ready kernel work runs, then runs
   * again; its trace line is kept even when it fails.
   */
  private syscall(driver: string, action: unknown): Result<SyscallReturn> {
    const op: Op = { kind: "driver", driver, action };
    let r = step(this.machine, this.#world, op);
    if (r.status === "blocked") {
      this.settle({ ok: true, value: null });
      r = step(this.machine, this.#world, op);
    }
    if (r.status === "blocked") throw new Error(`${driver} call sleeps for ever: ${r.reason}`);
    if (r.status === "failed") {
      this.#events.push(...(r.events ?? []));
      return { ok: false, error: r.error };
    }
    this.#world = r.world;
    this.#events.push(...r.events);
    if (r.returned === undefined) throw new Error(`${driver} call returned nothing`);
    return this.settle({ ok: true, value: r.returned });
  }

  /** Runs the kernel work a call left ready (core's `settle`), recording it. */
  private settle<T>(result: Result<T>): Result<T> {
    const s = settle(this.machine, this.#world);
    this.#world = s.world;
    this.#events.push(...s.events);
    return result;
  }
}

/**
 * Runs a scenario body in a session. A call the story needs that fails
 * (say, under a profile where the path does not exist) stops the scenario
 * with its expectation not met and the errno in the verdict, keeping the
 * trace up to that point.
 *
 * @param s - the session.
 * @param body - the scenario's steps, returning whether the expectation held.
 * @returns the scenario's outcome.
 */
export function withSession(
  s: VmmSession,
  body: (s: VmmSession) => { readonly met: boolean; readonly verdict: string },
): { events: readonly TraceEvent[]; world: World; met: boolean; verdict: string } {
  try {
    const r = body(s);
    return { events: s.events, world: s.world, met: r.met, verdict: r.verdict };
  } catch (e) {
    if (!(e instanceof ScenarioStopped)) throw e;
    s.note(`scenario stopped: ${e.message}`);
    return { events: s.events, world: s.world, met: false, verdict: `stopped: ${e.message}` };
  }
}
