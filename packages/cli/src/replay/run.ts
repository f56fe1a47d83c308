import {
  UAPI_IOCTLS,
  formatKernelError,
  kernelError,
  runScript,
  step,
  wrapLine,
  EMAIL_WIDTH,
} from "@dmabuf-ref/core";
import type { Errno, KernelError, Machine, TraceEvent, Violation, World } from "@dmabuf-ref/core";
import { isVfioPciExporter, vfioPciConfigOf } from "@dmabuf-ref/exporters";
import { match } from "ts-pattern";
import type { ReplayCall, ReplayFile } from "./schema.js";
import { IOMMUFD_STRUCTS, encodeIommufdArg, encodeVfioFeatureArg } from "./encode.js";
import type { Bindings } from "./values.js";
import { replayError, resolveValue } from "./values.js";

/** One call's result in a replay (`results[]` of `dmabuf-ref replay --json`). */
export interface ReplayResult {
  /** 0-based position in `calls`. */
  readonly index: number;
  /** An event that took effect, or an ioctl returning >= 0. */
  readonly ok: boolean;
  /** The bare errno name when not ok. */
  readonly errno?: Errno;
  /** The ioctl's return value. */
  readonly ret?: number;
  /** The struct the ioctl wrote back, decoded. */
  readonly out?: Record<string, number | bigint>;
  /** For a dma event: the oracle's verdict. */
  readonly dma?: "ok" | "fault" | "violation";
  /**
   * The call never returns: it sleeps on something no later work releases
   * (what it waits for, in words). A call that sleeps and is woken is not
   * reported: it returns when the kernel would.
   */
  readonly blocksForever?: string;
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
}

type Step = {
  world: World;
  events: readonly TraceEvent[];
  result: Omit<ReplayResult, "index" | "line">;
  text: string;
};

function failure(
  world: World,
  error: KernelError,
  text: string,
  events: readonly TraceEvent[] = [],
): Step {
  return {
    world,
    events,
    result: { ok: false, errno: error.errno },
    text: `${text} = -${formatKernelError(error)}`,
  };
}

/** The name of the vfio-pci driver that drives a device (a machine may name it otherwise). */
function vfioPciDriverOf(m: Machine, device: string): string {
  for (const d of m.exporters.values()) {
    if (isVfioPciExporter(d) && d.vfio.devices.some((x) => x.id === device)) return d.name;
  }
  throw new Error(`no vfio-pci driver drives ${device}`);
}

function settle(m: Machine, world: World): { world: World; events: readonly TraceEvent[] } {
  const r = runScript(m, world, []);
  return { world: r.world, events: r.events };
}

/**
 * Runs a call the way the kernel returns from it: a call that would sleep
 * (on resv, fences, a completion) waits while the kernel work that is
 * ready runs, then runs again. It never turns a sleep into an errno.
 */
function whenReady<R extends { readonly status: "done" | "failed" | "blocked" }>(
  m: Machine,
  w: World,
  call: (w: World) => R,
): { readonly r: R; readonly world: World; readonly events: readonly TraceEvent[] } {
  const r = call(w);
  if (r.status !== "blocked") return { r, world: w, events: [] };
  const s = settle(m, w);
  return { r: call(s.world), world: s.world, events: s.events };
}

function sleepsForever(
  w: World,
  reason: string,
  text: string,
  events: readonly TraceEvent[],
): Step {
  return {
    world: w,
    events,
    result: { ok: false, blocksForever: reason },
    text: `${text}: sleeps for ever (${reason})`,
  };
}

function ioctlCall(
  m: Machine,
  w: World,
  call: Extract<ReplayCall, { ioctl: string }>,
  index: number,
  b: Bindings,
): Step {
  const info = UAPI_IOCTLS.find((i) => i.name === call.ioctl);
  if (info === undefined) {
    throw replayError(
      index,
      "ioctl",
      `unknown ioctl "${call.ioctl}" (known: ${UAPI_IOCTLS.map((i) => i.name).join(", ")})`,
    );
  }
  const fdName = typeof call.fd === "string" ? call.fd : String(call.fd);
  const isDevice = typeof call.fd === "string" && vfioPciConfigOf(m, call.fd) !== undefined;
  const isIommufd = call.fd === "iommufd";
  if (!isDevice && !isIommufd) resolveValue(call.fd, b, { index, field: "fd" }); // must at least resolve
  const text = `${call.ioctl} on ${fdName}`;
  if (info.family === "vfio") {
    if (!isDevice)
      return failure(w, kernelError("ENOTTY", `${fdName} is not a VFIO device fd`), text);
    const device = String(call.fd);
    const action =
      call.ioctl === "VFIO_DEVICE_RESET"
        ? { op: call.ioctl, device, process: "vmm" }
        : {
            op: call.ioctl,
            device,
            argp: encodeVfioFeatureArg(call.arg, b, index),
            process: "vmm",
          };
    const driver = vfioPciDriverOf(m, device);
    const ran = whenReady(m, w, (x) => step(m, x, { kind: "driver", driver, action }));
    return match(ran.r)
      .returnType<Step>()
      .with({ status: "done" }, (x) => {
        const ret = x.returned?.ret ?? 0;
        const s = settle(m, x.world);
        return {
          world: s.world,
          events: [...ran.events, ...x.events, ...s.events],
          result: { ok: true, ret },
          text: `${text} = ${ret}`,
        };
      })
      .with({ status: "failed" }, (x) =>
        failure(ran.world, x.error, text, [...ran.events, ...(x.events ?? [])]),
      )
      .with({ status: "blocked" }, (x) => sleepsForever(ran.world, x.reason, text, ran.events))
      .exhaustive();
  }
  if (!isIommufd) return failure(w, kernelError("ENOTTY", `${fdName} is not an iommufd`), text);
  const layout = IOMMUFD_STRUCTS[call.ioctl];
  if (layout === undefined) throw new Error(`no struct for ${call.ioctl}`);
  const buffer = encodeIommufdArg(layout, call.arg, b, index);
  const action = { op: "ioctl", number: info.number, buffer, process: "vmm" };
  const ran = whenReady(m, w, (x) => step(m, x, { kind: "driver", driver: "iommufd", action }));
  return match(ran.r)
    .returnType<Step>()
    .with({ status: "done" }, (x) => {
      const ret = x.returned?.ret ?? 0;
      const written = x.returned?.out ?? new Uint8Array(0);
      const full = new Uint8Array(layout.size);
      full.set(written.subarray(0, Math.min(written.length, layout.size)));
      const out = layout.decode(full);
      const s = settle(m, x.world);
      return {
        world: s.world,
        events: [...ran.events, ...x.events, ...s.events],
        result: { ok: true, ret, out },
        text: `${text} = ${ret}`,
      };
    })
    .with({ status: "failed" }, (x) =>
      failure(ran.world, x.error, text, [...ran.events, ...(x.events ?? [])]),
    )
    .with({ status: "blocked" }, (x) => sleepsForever(ran.world, x.reason, text, ran.events))
    .exhaustive();
}

function vfioEvent(m: Machine, w: World, text: string, ...actions: unknown[]): Step {
  const r = runScript(
    m,
    w,
    actions.map((action) => ({ kind: "driver" as const, driver: "vfio-pci", action })),
    "host",
  );
  const bad = r.results.find((x) => x.status !== "done");
  if (bad?.error !== undefined) return failure(w, bad.error, text, r.events);
  return { world: r.world, events: r.events, result: { ok: true }, text: `${text}: done` };
}

function eventCall(
  m: Machine,
  w: World,
  call: Exclude<ReplayCall, { ioctl: string }>,
  index: number,
  b: Bindings,
): Step {
  return match(call)
    .returnType<Step>()
    .with({ event: "flr" }, (c) =>
      vfioEvent(m, w, `flr ${c.device}`, { op: "flr", device: c.device }),
    )
    .with({ event: "memory-disable" }, (c) =>
      vfioEvent(m, w, `memory-disable ${c.device}`, {
        op: "config-write-command",
        device: c.device,
        memory: false,
      }),
    )
    .with({ event: "memory-enable" }, (c) =>
      vfioEvent(m, w, `memory-enable ${c.device}`, {
        op: "config-write-command",
        device: c.device,
        memory: true,
      }),
    )
    .with({ event: "close" }, (c) =>
      vfioEvent(m, w, `close ${c.device}`, { op: "close-device", device: c.device }),
    )
    .with({ event: "unbind" }, (c) =>
      vfioEvent(
        m,
        w,
        `unbind ${c.device}`,
        { op: "close-device", device: c.device },
        { op: "unbind", device: c.device },
      ),
    )
    .with({ event: "attach" }, (c) => {
      const ioas = resolveValue(c.ioas, b, { index, field: "ioas" });
      const text = `attach ${c.device} to IOAS ${ioas}`;
      const action = {
        op: "attach-device",
        device: c.device,
        ioas: Number(BigInt.asUintN(32, ioas)),
      };
      const ran = whenReady(m, w, (x) => step(m, x, { kind: "driver", driver: "iommufd", action }));
      if (ran.r.status === "failed") return failure(ran.world, ran.r.error, text, ran.events);
      if (ran.r.status === "blocked")
        return sleepsForever(ran.world, ran.r.reason, text, ran.events);
      const s = settle(m, ran.r.world);
      return {
        world: s.world,
        events: [...ran.events, ...ran.r.events, ...s.events],
        result: { ok: true },
        text: `${text}: done`,
      };
    })
    .with({ event: "dma" }, (c) => {
      const addr = resolveValue(c.iova, b, { index, field: "iova" });
      const len = resolveValue(c.length, b, { index, field: "length" });
      const text = `dma ${c.device} ${c.dir} 0x${addr.toString(16)}+0x${len.toString(16)}`;
      const r = runScript(m, w, [{ kind: "dma", device: c.device, addr, len, dir: c.dir }], "host");
      const bad = r.results[0];
      if (bad?.error !== undefined) return failure(w, bad.error, text);
      const e = r.events.find((x) => x.kind === "dma");
      const outcome = e?.kind === "dma" ? e.outcome : "fault";
      return {
        world: r.world,
        events: r.events,
        result: { ok: true, dma: outcome },
        text: `${text}: ${outcome}`,
      };
    })
    .exhaustive();
}

/**
 * Replays a transcribed ioctl sequence against the model: each call gets
 * the kernel's errno for whatever value its struct holds; events
 * (FLR, memory enable/disable, close, unbind, attach, DMA) interleave.
 *
 * @param m - the machine (its profile is the report's).
 * @param world - the world to start from.
 * @param file - the parsed replay file.
 * @returns per-call results, violations, faults and the trace.
 * @throws UsageError (exit 2) for a structurally wrong call, naming its index and field.
 */
export function replay(m: Machine, world: World, file: ReplayFile): ReplayRun {
  let w = world;
  const events: TraceEvent[] = [];
  const results: ReplayResult[] = [];
  const b: Bindings = { rets: new Map(), outs: new Map() };
  file.calls.forEach((call, index) => {
    const s = "ioctl" in call ? ioctlCall(m, w, call, index, b) : eventCall(m, w, call, index, b);
    w = s.world;
    events.push(...s.events);
    if ("ioctl" in call && call.as !== undefined && s.result.ok) {
      if (s.result.ret !== undefined) b.rets.set(call.as, s.result.ret);
      if (s.result.out !== undefined) b.outs.set(call.as, s.result.out);
    }
    const line = wrapLine(`${String(index).padStart(3)} ${s.text}`, EMAIL_WIDTH, 6).join("\n");
    results.push({ index, ...s.result, line });
  });
  return {
    profile: m.profile.id,
    results,
    violations: [...w.violations.values()],
    faults: events.filter((e) => e.kind === "dma" && e.outcome === "fault"),
    events,
  };
}
