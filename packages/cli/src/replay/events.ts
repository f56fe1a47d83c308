/*
 * The events a replay interleaves with ioctls: what a guest or the host
 * does to a device (config-space writes, resets, power transitions, close
 * and unbind), iommufd attach and detach, and device DMA judged by the
 * oracle.
 */
import type { Machine, Op, TraceEvent, World } from "@dmabuf-ref/core";
import { vfioDeviceState, vfioOperations, vfioPciConfigOf } from "@dmabuf-ref/exporters";
import { iommufdStateOf } from "@dmabuf-ref/importers";
import { match } from "ts-pattern";
import type { Step } from "./call.js";
import type { RunMode } from "./call.js";
import { runOp, runOps, stillToDo } from "./call.js";
import { REPLAY_PROCESS } from "./ioctl.js";
import type { ReplayEvent } from "./schema.js";
import type { Bindings } from "./values.js";
import type { CallSite } from "./values.js";
import { replayError, resolveValue } from "./values.js";

/** A vfio-pci action on the driver that has the device (`vfio-pci` when none has it: EBADF there). */
function vfio(m: Machine, device: string, action: Record<string, unknown>): Op {
  return { kind: "driver", driver: vfioPciConfigOf(m, device)?.name ?? "vfio-pci", action };
}

function iommufd(action: Record<string, unknown>): Op {
  return { kind: "driver", driver: "iommufd", action };
}

function dma(
  m: Machine,
  w: World,
  c: Extract<ReplayEvent, { event: "dma" }>,
  index: CallSite,
  b: Bindings,
  mode: RunMode,
): Step {
  const addr = resolveValue(c.iova, b, { index, field: "iova" });
  const len = resolveValue(c.length, b, { index, field: "length" });
  // A bus transaction moves at least one byte, inside the 64-bit space.
  if (len <= 0n) throw replayError(index, "length", `a DMA moves at least one byte, not ${len}`);
  if (addr < 0n || addr + len > 1n << 64n)
    throw replayError(index, "iova", `iova+length leaves [0, 2^64): ${addr}+${len}`);
  const text = `dma ${c.device} ${c.dir} 0x${addr.toString(16)}+0x${len.toString(16)}`;
  const s = runOp(m, w, { kind: "dma", device: c.device, addr, len, dir: c.dir }, text, mode);
  if (!s.result.ok) return s;
  const e = s.events.find((x): x is Extract<TraceEvent, { kind: "dma" }> => x.kind === "dma");
  const outcome = e?.outcome ?? "fault";
  const landed = e?.landed;
  const where = landed === undefined ? "" : ` at ${landed.region}+0x${landed.offset.toString(16)}`;
  return {
    ...s,
    result: { ok: true, dma: outcome, ...(landed === undefined ? {} : { landed }) },
    text: `${text}: ${outcome}${where}`,
  };
}

/**
 * The device-fd close as the kernel runs it (`vfio_df_device_last_close`):
 * the driver's `close_device`, then, for a device bound to an iommufd,
 * `vfio_df_iommufd_unbind` (detach, destroy the device object).
 */
function closeOps(m: Machine, w: World, device: string): Op[] {
  const bound = iommufdStateOf(m, w).bound.some((d) => d.device === device);
  return [
    vfio(m, device, { op: "close-device", device }),
    ...(bound ? [iommufd({ op: "unbind-device", device })] : []),
  ];
}

/**
 * The host's unbind (`vfio_unregister_group_dev`): VFIO asks userspace to
 * release the device and waits; the VMM closes the fd if it is open; then
 * the driver lets go of the device.
 */
function unbindOps(m: Machine, w: World, device: string): Op[] {
  const open = vfioPciConfigOf(m, device) !== undefined && vfioDeviceState(m, w, device).open;
  return [...(open ? closeOps(m, w, device) : []), vfio(m, device, { op: "unbind", device })];
}

/**
 * A device event whose kernel path runs as staged work (an FLR, a command
 * register write, the close, the unbind) returns only when that work is
 * over: still in progress after everything that could run has run, it
 * sleeps for ever (e.g. a kref that underflowed never completes).
 */
function returnsWhenDone(m: Machine, before: World, device: string, s: Step, mode: RunMode): Step {
  if (!s.result.ok || vfioPciConfigOf(m, device) === undefined) return s;
  if (mode === "step") {
    // Stepped, the call returns once the operations it started are over.
    const had = new Set(vfioOperations(m, before, device).map((o) => o.id));
    const operations = vfioOperations(m, s.world, device)
      .map((o) => o.id)
      .filter((id) => !had.has(id));
    return operations.length === 0 ? s : stillToDo(s, { device, operations });
  }
  const stuck = vfioOperations(m, s.world, device)[0];
  if (stuck === undefined) return s;
  const reason = `vfio-pci's ${stuck.kind} of ${stuck.actor} never completes (stage ${stuck.pc})`;
  return {
    ...s,
    result: { ok: false, blocksForever: reason },
    text: `${s.text.replace(/: done$/, "")}: sleeps for ever (${reason})`,
  };
}

/**
 * Replays one event.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param call - the event.
 * @param index - its index, for errors.
 * @param b - earlier results.
 * @param mode - `settle` (a replay) or `step` (an explorer thread).
 * @returns the step.
 * @throws UsageError for an unresolved reference.
 */
export function eventCall(
  m: Machine,
  w: World,
  call: ReplayEvent,
  index: CallSite,
  b: Bindings,
  mode: RunMode = "settle",
): Step {
  // A device the machine lacks is a mistake in the file, not a question
  // for the kernel: no made-up errno, exit 2 naming it (escaped, so a
  // trailing space or a control character shows).
  if (!m.topology.devices.some((d) => d.id === call.device))
    throw replayError(
      index,
      "device",
      `${JSON.stringify(call.device)} is no device of the machine ` +
        `(devices: ${m.topology.devices.map((d) => d.id).join(", ")})`,
    );
  const s = match(call)
    .returnType<Step>()
    .with({ event: "flr" }, (c) =>
      runOp(m, w, vfio(m, c.device, { op: "flr", device: c.device }), `flr ${c.device}`, mode),
    )
    .with({ event: "memory-disable" }, (c) =>
      runOp(
        m,
        w,
        vfio(m, c.device, { op: "config-write-command", device: c.device, memory: false }),
        `memory-disable ${c.device}`,
        mode,
      ),
    )
    .with({ event: "memory-enable" }, (c) =>
      runOp(
        m,
        w,
        vfio(m, c.device, { op: "config-write-command", device: c.device, memory: true }),
        `memory-enable ${c.device}`,
        mode,
      ),
    )
    .with({ event: "d3hot" }, (c) =>
      runOp(m, w, vfio(m, c.device, { op: "d3hot", device: c.device }), `d3hot ${c.device}`, mode),
    )
    .with({ event: "d0" }, (c) =>
      runOp(m, w, vfio(m, c.device, { op: "d0", device: c.device }), `d0 ${c.device}`, mode),
    )
    .with({ event: "hot-reset" }, (c) =>
      runOp(
        m,
        w,
        vfio(m, c.device, {
          op: "VFIO_DEVICE_PCI_HOT_RESET",
          device: c.device,
          process: REPLAY_PROCESS,
        }),
        `hot-reset of ${c.device}'s dev_set`,
        mode,
      ),
    )
    .with({ event: "config-write" }, (c) => {
      const offset = resolveValue(c.offset, b, { index, field: "offset" });
      const value = resolveValue(c.value, b, { index, field: "value" });
      // pwrite() of `size` bytes at a file offset: what the buffer and loff_t can hold.
      if (value < 0n || value >= 1n << BigInt(8 * c.size))
        throw replayError(index, "value", `${value} does not fit in ${c.size} byte(s)`);
      if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER))
        throw replayError(index, "offset", `${offset} is not a config-space offset`);
      const text = `config-write ${c.device} 0x${offset.toString(16)}/${c.size} = 0x${value.toString(16)}`;
      return runOp(
        m,
        w,
        vfio(m, c.device, {
          op: "config-write",
          device: c.device,
          offset: Number(offset),
          size: c.size,
          value: Number(value),
          process: REPLAY_PROCESS,
        }),
        text,
        mode,
      );
    })
    .with({ event: "close" }, (c) =>
      runOps(m, w, closeOps(m, w, c.device), `close ${c.device}`, mode),
    )
    .with({ event: "unbind" }, (c) =>
      runOps(m, w, unbindOps(m, w, c.device), `unbind ${c.device}`, mode),
    )
    .with({ event: "attach" }, (c) => {
      const ioas = resolveValue(c.ioas, b, { index, field: "ioas" });
      // pt_id is a __u32 of VFIO_DEVICE_ATTACH_IOMMUFD_PT: never truncated.
      if (ioas < 0n || ioas > 0xffff_ffffn)
        throw replayError(index, "ioas", `${ioas} does not fit the u32 pt_id`);
      return runOp(
        m,
        w,
        iommufd({ op: "attach-device", device: c.device, ioas: Number(BigInt.asUintN(32, ioas)) }),
        `attach ${c.device} to IOAS ${ioas}`,
        mode,
      );
    })
    .with({ event: "detach" }, (c) =>
      runOp(m, w, iommufd({ op: "detach-device", device: c.device }), `detach ${c.device}`, mode),
    )
    .with({ event: "dma" }, (c) => dma(m, w, c, index, b, mode))
    .exhaustive();
  const iommufdOrDevice =
    call.event === "attach" || call.event === "detach" || call.event === "dma";
  return iommufdOrDevice ? s : returnsWhenDone(m, w, call.device, s, mode);
}
