import { EMAIL_WIDTH, nameBuffers, wrapLine } from "@dmabuf-ref/core";
import type { BufferNames, Machine, TraceEvent, Violation, World } from "@dmabuf-ref/core";
import type { CallResult, RunMode, Step } from "./call.js";
import { eventCall } from "./events.js";
import { REPLAY_IOMMUFD_FD, ioctlCall } from "./ioctl.js";
import type { ReplayCall, ReplayFile } from "./schema.js";
import { syscallCall } from "./syscalls.js";
import type { Bindings, CallSite } from "./values.js";
import { emptyBindings, replayError } from "./values.js";

/** One call's result in a replay (`results[]` of `dmabuf-ref replay --json`). */
export interface ReplayResult extends CallResult {
  /** 0-based position in `calls`. */
  readonly index: number;
  /** One email-safe line describing the call and its result. */
  readonly line: string;
}

/** A whole replay: profile, per-call results, the oracle's findings, the trace. */
export interface ReplayRun {
  /** The profile it ran under. */
  readonly profile: string;
  /** One result per call, in file order. */
  readonly results: readonly ReplayResult[];
  /** Violations the oracle recorded. */
  readonly violations: readonly Violation[];
  /** DMA accesses that faulted. */
  readonly faults: readonly TraceEvent[];
  /** The full trace. */
  readonly events: readonly TraceEvent[];
  /** The file's names of the dma-bufs it exported (`as: buf0`), by the model's id. */
  readonly bufferNames: BufferNames;
}

/**
 * What a call is, in words, for errors naming it: its ioctl, syscall or
 * event, or the op of a scenario's plain-op call (bound through here too).
 */
function callName(call: ReplayCall): string {
  if ("ioctl" in call) return String(call.ioctl);
  if ("syscall" in call) return call.syscall;
  if ("op" in call && typeof call.op === "string") return call.op;
  return call.event;
}

/**
 * The file-level rules of `as`: a name is bound once, and never to a name
 * the replay reserves (`iommufd`, a device of the machine).
 *
 * @param m - the machine.
 * @param file - the parsed file.
 * @throws UsageError naming the call that reuses or shadows a name.
 */
export function checkNames(m: Machine, file: ReplayFile): void {
  const reserved = new Set(["iommufd", ...m.topology.devices.map((d) => d.id)]);
  const seen = new Map<string, number>();
  file.calls.forEach((call, index) => {
    const name = "as" in call ? call.as : undefined;
    if (name === undefined) return;
    if (reserved.has(name))
      throw replayError(
        index,
        "as",
        `"${name}" is reserved (the iommufd or a device of the machine)`,
      );
    const first = seen.get(name);
    if (first !== undefined)
      throw replayError(index, "as", `"${name}" is already bound by calls[${first}]`);
    seen.set(name, index);
  });
}

/**
 * Binds a call's result to its `as` name: the return value and the struct
 * as the kernel left it, when the call returned; on an errno, only what
 * the kernel copied back before failing (`IOMMU_IOAS_IOVA_RANGES` writes
 * `num_iovas` and `out_iova_alignment` before EMSGSIZE); otherwise the name
 * stays unbound, and using it names this call.
 *
 * @param b - the bindings, updated in place.
 * @param call - the call.
 * @param index - where it sits, for the message of a name left unbound.
 * @param s - its step.
 */
export function bind(b: Bindings, call: ReplayCall, index: CallSite, s: Step): void {
  const name = "as" in call ? call.as : undefined;
  if (name === undefined) return;
  const r = s.result;
  if (r.ok && r.ret !== undefined) b.rets.set(name, BigInt(r.ret));
  // The dma-buf this call exported, if its fd is what the name binds (a
  // dma-buf's fd is its id in the model).
  for (const e of s.events)
    if (
      e.kind === "export" &&
      r.ok &&
      (s.created === e.buf || (r.ret !== undefined && BigInt(e.buf) === BigInt(r.ret)))
    )
      b.buffers.set(e.buf, name);
  if (r.out !== undefined && (r.ok || s.returned !== undefined)) b.outs.set(name, r.out);
  if (!r.ok && r.out === undefined) {
    const why = r.errno ?? (r.blocksForever === undefined ? "an error" : "a sleep for ever");
    const site = typeof index === "number" ? `calls[${index}]` : index;
    b.unbound.set(name, `${site} (${callName(call)}) failed with ${why}`);
  }
}

/**
 * Runs one replay call (an ioctl, a syscall or an event) against the model.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param call - the call.
 * @param site - where it sits in its file, for errors.
 * @param b - earlier results.
 * @param mode - `settle` (a replay, a scenario's `init`) or `step` (an explorer thread).
 * @returns the step.
 * @throws UsageError for a structurally wrong call.
 */
export function runCall(
  m: Machine,
  w: World,
  call: ReplayCall,
  site: CallSite,
  b: Bindings,
  mode: RunMode = "settle",
): Step {
  return "ioctl" in call
    ? ioctlCall(m, w, call, site, b, mode)
    : "syscall" in call
      ? syscallCall(m, w, call, site, b, mode)
      : eventCall(m, w, call, site, b, mode);
}

/**
 * Replays a transcribed ioctl sequence against the model: each call gets
 * the kernel's errno for whatever value its struct holds; events (config
 * writes, resets, power transitions, close, unbind, attach, detach, DMA)
 * and syscalls (memfd_create, mmap, munmap, close) interleave.
 *
 * @param m - the machine (its profile is the report's).
 * @param world - the world to start from.
 * @param file - the parsed replay file.
 * @returns per-call results, violations, faults and the trace.
 * @throws UsageError (exit 2) for a structurally wrong call, naming its index and field.
 */
export function replay(m: Machine, world: World, file: ReplayFile): ReplayRun {
  checkNames(m, file);
  let w = world;
  const events: TraceEvent[] = [];
  const results: ReplayResult[] = [];
  const b = emptyBindings();
  b.rets.set("iommufd", BigInt(REPLAY_IOMMUFD_FD));
  file.calls.forEach((call, index) => {
    const s = runCall(m, w, call, index, b);
    w = s.world;
    events.push(...s.events);
    bind(b, call, index, s);
    // Named as the file named its dma-bufs (`as: buf0`), before wrapping.
    const text = nameBuffers(`${String(index).padStart(3)} ${s.text}`, b.buffers);
    const line = wrapLine(text, EMAIL_WIDTH, 6).join("\n");
    results.push({ index, ...s.result, line });
  });
  return {
    profile: m.profile.id,
    results,
    violations: [...w.violations.values()],
    faults: events.filter((e) => e.kind === "dma" && e.outcome === "fault"),
    events,
    bufferNames: b.buffers,
  };
}
