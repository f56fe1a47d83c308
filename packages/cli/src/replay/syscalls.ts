/*
 * The system calls that shape the replaying process's memory
 * (memfd_create, mmap, munmap) and close its fds, as ops of core's "mm"
 * system driver (and, for a VFIO device fd, the device's close).
 */
import type { Machine, Op, World } from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";
import { vfioPciConfigOf } from "@dmabuf-ref/exporters";
import { match } from "ts-pattern";
import type { Step } from "./call.js";
import type { RunMode } from "./call.js";
import { runOp } from "./call.js";
import { eventCall } from "./events.js";
import { REPLAY_PROCESS } from "./ioctl.js";
import type { ReplaySyscall } from "./schema.js";
import type { Bindings } from "./values.js";
import type { CallSite } from "./values.js";
import { resolveValue } from "./values.js";

function mm(action: Record<string, unknown>): Op {
  return { kind: "driver", driver: "mm", action: withFields(action, { process: REPLAY_PROCESS }) };
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * Replays one syscall. `mmap` of a VFIO device passes the device's name
 * (the model's device fd); `close` of a VFIO device is the device's close
 * event.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param call - the syscall.
 * @param index - its index, for errors.
 * @param b - earlier results.
 * @param mode - `settle` (a replay) or `step` (an explorer thread).
 * @returns the step; `result.ret` is the fd or the address, and an mmap's `out.addr`.
 * @throws UsageError for an unresolved reference.
 */
export function syscallCall(
  m: Machine,
  w: World,
  call: ReplaySyscall,
  index: CallSite,
  b: Bindings,
  mode: RunMode = "settle",
): Step {
  const value = (v: string | number, field: string): bigint => resolveValue(v, b, { index, field });
  return match(call)
    .returnType<Step>()
    .with({ syscall: "memfd_create" }, (c) => {
      const size = value(c.size, "size");
      return runOp(m, w, mm({ op: "memfd_create", size }), `memfd_create(size ${hex(size)})`, mode);
    })
    .with({ syscall: "mmap" }, (c) => {
      const fd =
        typeof c.fd === "string" && vfioPciConfigOf(m, c.fd) !== undefined
          ? c.fd
          : Number(value(c.fd, "fd"));
      const offset = value(c.offset, "offset");
      const length = value(c.length, "length");
      const addr = c.addr === undefined ? undefined : value(c.addr, "addr");
      const prot = [...new Set(c.prot.map((p) => p.replace(/^PROT_/, "")))];
      const text = `mmap(${addr === undefined ? "NULL" : hex(addr)}, ${hex(length)}, fd ${String(c.fd)}, offset ${hex(offset)})`;
      const s = runOp(
        m,
        w,
        mm({ op: "mmap", fd, offset, length, prot, ...(addr === undefined ? {} : { addr }) }),
        text,
        mode,
      );
      const ret = s.result.ret;
      if (!s.result.ok || ret === undefined) return s;
      const at = BigInt(ret);
      return {
        ...s,
        result: withFields(s.result, { ret: at, out: { addr: at } }),
        text: `${text} = ${hex(at)}`,
      };
    })
    .with({ syscall: "munmap" }, (c) => {
      const addr = value(c.addr, "addr");
      const length = value(c.length, "length");
      return runOp(
        m,
        w,
        mm({ op: "munmap", addr, length }),
        `munmap(${hex(addr)}, ${hex(length)})`,
        mode,
      );
    })
    .with({ syscall: "close" }, (c) => {
      if (typeof c.fd === "string" && vfioPciConfigOf(m, c.fd) !== undefined)
        return eventCall(m, w, { event: "close", device: c.fd }, index, b, mode);
      const fd = value(c.fd, "fd");
      return runOp(
        m,
        w,
        mm({ op: "close-fd", fd: Number(fd) }),
        `close(${String(c.fd)} = ${fd})`,
        mode,
      );
    })
    .exhaustive();
}
