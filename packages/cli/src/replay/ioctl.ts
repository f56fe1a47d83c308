/*
 * The ioctl frame of a replay: which fd's handler a call reaches
 * (iommufd's `iommufd_fops_ioctl`, a VFIO device's
 * `vfio_device_fops_unl_ioctl`), the request number (a macro name, or a raw
 * number the handler may not know: ENOTTY), and the user memory the
 * argument pointer points at (the struct and any tail, NULL, arrays behind
 * pointer fields).
 */
import {
  UAPI_IOCTLS,
  findUapiIoctl,
  findUapiStruct,
  formatIoctlNumber,
  kernelError,
  openMemfd,
} from "@dmabuf-ref/core";
import type { IoctlInfo, Machine, Op, StructInfo, World } from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";
import { vfioPciConfigOf } from "@dmabuf-ref/exporters";
import type { Step } from "./call.js";
import type { RunMode } from "./call.js";
import { failure, runOp } from "./call.js";
import type { EncodedArg } from "./encode.js";
import { decodeLeft, decodeWrittenArrays, encodeStructArg, tailBytes } from "./encode.js";
import type { ReplayIoctl } from "./schema.js";
import type { Bindings } from "./values.js";
import type { CallSite } from "./values.js";
import { replayError, resolveValue } from "./values.js";
import { encodeVfioFeatureArg } from "./vfio-feature.js";

/**
 * The fd number of the replaying process's iommufd (what `iommufd` stands
 * for as a value, e.g. in `VFIO_DEVICE_BIND_IOMMUFD`'s `iommufd` field):
 * above every dma-buf fd (a dma-buf's fd is its id) and below every memfd fd.
 */
export const REPLAY_IOMMUFD_FD = 0x1_0000;

/** The process whose calls a replay transcribes. */
export const REPLAY_PROCESS = "vmm";

const NUMBER = /^(0[xX][0-9a-fA-F]+|[0-9]+)$/;

/** The request: a modelled ioctl, or a raw number no ioctl of the registry has. */
type Request =
  | {
      readonly known: true;
      readonly info: IoctlInfo;
      readonly name: string;
      /** Given as a number rather than by its macro name. */
      readonly byNumber: boolean;
    }
  | { readonly known: false; readonly number: number; readonly name: string };

/**
 * The request a call names. A number is looked up among the ioctls of the
 * fd's family (`iommufd` or a VFIO device's), since the two share the type
 * `';'` and reuse numbers: 0x3b71 is `VFIO_DEVICE_PCI_HOT_RESET` on a device
 * fd and the container's `VFIO_IOMMU_MAP_DMA` on the iommufd.
 */
function requestOf(
  call: ReplayIoctl,
  index: CallSite,
  family: IoctlInfo["family"] | undefined,
): Request {
  const raw = call.ioctl;
  if (typeof raw === "string" && !NUMBER.test(raw)) {
    const info = findUapiIoctl(raw);
    if (info === undefined) {
      throw replayError(
        index,
        "ioctl",
        `unknown ioctl "${raw}" (known: ${UAPI_IOCTLS.map((i) => i.name).join(", ")}; or a number)`,
      );
    }
    return { known: true, info, name: raw, byNumber: false };
  }
  const n = BigInt(raw);
  if (n > 0xffff_ffffn) throw replayError(index, "ioctl", `${raw} is not a 32-bit request number`);
  const number = Number(n);
  const info = UAPI_IOCTLS.find(
    (i) => i.number === number && (family === undefined || i.family === family),
  );
  return info === undefined
    ? { known: false, number, name: formatIoctlNumber(number) }
    : { known: true, info, name: info.name, byNumber: true };
}

const NO_ARG: EncodedArg = { buffer: new Uint8Array(0), user: [], arrays: [] };

/** The user memory of the argument; `null` is the NULL pointer (an empty buffer). */
function argumentOf(
  req: Request,
  call: ReplayIoctl,
  b: Bindings,
  index: CallSite,
): {
  readonly arg: EncodedArg;
  readonly struct?: StructInfo;
} {
  const arg = call.arg;
  if (arg === null) return { arg: NO_ARG };
  if (!req.known) {
    // The handler refuses the number before it reads memory; only raw bytes can be given.
    for (const k of Object.keys(arg)) {
      if (k !== "tail")
        throw replayError(
          index,
          `arg.${k}`,
          `no struct is known for ioctl ${req.name}: give only tail bytes`,
        );
    }
    const buffer = tailBytes(arg["tail"] ?? [], { index, field: "arg.tail" });
    return { arg: { buffer, user: [], arrays: [] } };
  }
  // A request given by number with nothing but tail bytes takes them as
  // the whole argument, as for a number no ioctl has: a transcription of
  // raw buffers (the selftests' size probes) reads the same whether or not
  // the model knows the number's struct.
  const keys = Object.keys(arg);
  if (req.byNumber && keys.length === 1 && keys[0] === "tail") {
    const buffer = tailBytes(arg["tail"], { index, field: "arg.tail" });
    if (buffer.length > 0) return { arg: { buffer, user: [], arrays: [] } };
  }
  if (req.info.name === "VFIO_DEVICE_FEATURE")
    return { arg: { buffer: encodeVfioFeatureArg(arg, b, index), user: [], arrays: [] } };
  const struct = req.info.struct === undefined ? undefined : findUapiStruct(req.info.struct);
  if (struct === undefined) {
    const extra = Object.keys(arg)[0];
    if (extra !== undefined)
      throw replayError(index, `arg.${extra}`, `${req.name} takes no argument struct`);
    return { arg: NO_ARG };
  }
  const encoded = encodeStructArg(req.info.name, struct, arg, b, index);
  return { arg: encoded, struct: encoded.view ?? struct };
}

/** The op a VFIO device fd's handler runs for a request (`driver`: the device's vfio-pci driver). */
function vfioOp(req: Request, driver: string, device: string, arg: EncodedArg): Op {
  const name = req.known ? req.info.name : "";
  if (name === "VFIO_DEVICE_FEATURE") {
    return {
      kind: "driver",
      driver,
      action: { op: name, device, argp: arg.buffer, process: REPLAY_PROCESS },
    };
  }
  if (name === "VFIO_DEVICE_RESET") {
    return { kind: "driver", driver, action: { op: name, device, process: REPLAY_PROCESS } };
  }
  // vfio_pci_core_ioctl's requests that read a struct: the bytes go with them.
  if (
    name === "VFIO_DEVICE_PCI_HOT_RESET" ||
    name === "VFIO_DEVICE_GET_INFO" ||
    name === "VFIO_DEVICE_GET_REGION_INFO" ||
    name === "VFIO_DEVICE_GET_IRQ_INFO"
  ) {
    return {
      kind: "driver",
      driver,
      action: { op: name, device, argp: arg.buffer, process: REPLAY_PROCESS },
    };
  }
  // The cdev ioctls that hand the device to iommufd, and any number
  // vfio_pci_core_ioctl does not know (ENOTTY), are iommufd's to answer.
  return {
    kind: "driver",
    driver: "iommufd",
    action: {
      op: "vfio-cdev-ioctl",
      device,
      number: req.known ? req.info.number : req.number,
      buffer: arg.buffer,
      iommufd: REPLAY_IOMMUFD_FD,
    },
  };
}

/**
 * Replays one ioctl: builds the argument's user memory, runs the fd's
 * handler as a core op (returning when the kernel would), and decodes the
 * struct as the kernel leaves it (every member, for `as` bindings) and the
 * arrays it wrote through pointers.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param call - the call.
 * @param index - its index, for errors.
 * @param b - earlier results.
 * @param mode - `settle` (a replay) or `step` (an explorer thread).
 * @returns the step; `result.out` is set where the kernel copied the struct back.
 * @throws UsageError for an unknown ioctl name, field or reference.
 */
export function ioctlCall(
  m: Machine,
  w: World,
  call: ReplayIoctl,
  index: CallSite,
  b: Bindings,
  mode: RunMode = "settle",
): Step {
  const fdName = String(call.fd);
  const device = typeof call.fd === "string" ? vfioPciConfigOf(m, call.fd) : undefined;
  const req = requestOf(
    call,
    index,
    device !== undefined ? "vfio" : call.fd === "iommufd" ? "iommufd" : undefined,
  );
  if (device === undefined && m.topology.devices.some((d) => d.id === call.fd))
    throw replayError(
      index,
      "fd",
      `${String(call.fd)} is not bound to vfio-pci: it has no device fd`,
    );
  const fd =
    device !== undefined || call.fd === "iommufd"
      ? undefined
      : resolveValue(call.fd, b, { index, field: "fd" });
  const { arg, struct } = argumentOf(req, call, b, index);
  const text = `${req.name} on ${fdName}`;
  let op: Op;
  if (device !== undefined) {
    op = vfioOp(req, device.name, fdName, arg);
  } else if (call.fd === "iommufd" || fd === BigInt(REPLAY_IOMMUFD_FD)) {
    op = {
      kind: "driver",
      driver: "iommufd",
      action: {
        op: "ioctl",
        number: req.known ? req.info.number : req.number,
        buffer: arg.buffer,
        process: REPLAY_PROCESS,
        ...(arg.user.length === 0 ? {} : { user: arg.user }),
      },
    };
  } else {
    const n = fd === undefined ? -1 : Number(fd);
    const open = openMemfd(w, n) !== undefined || (w.bufs.get(n)?.fds ?? 0) > 0;
    // fdget() fails before any handler runs.
    if (!open) return failure(w, kernelError("EBADF", `fd ${fdName} is not open`), text);
    // A dma-buf or memfd fd: neither file's ioctl handler knows these requests.
    return failure(
      w,
      kernelError("ENOTTY", `${fdName} is neither a VFIO device nor the iommufd`),
      text,
    );
  }
  const s = runOp(m, w, op, text, mode);
  const copied = s.returned?.out;
  const written = s.returned?.written ?? [];
  const arrays = decodeWrittenArrays(arg.arrays, written);
  // An ioctl that returns reports its return value; a handler that names none returned 0.
  const ret = s.result.ok && s.result.ret === undefined ? { ret: 0 } : {};
  return {
    ...s,
    ...(s.result.ok && s.result.ret === undefined ? { text: `${text} = 0` } : {}),
    // Every replayed ioctl comes through here: `withFields`, as a literal
    // that starts with a spread and adds fields costs V8 about a
    // microsecond per field. The same keys in the same order.
    result: withFields(
      withFields(s.result, ret),
      withFields(
        copied === undefined || struct === undefined
          ? {}
          : { out: decodeLeft(struct, arg.buffer, copied) },
        Object.keys(arrays).length === 0 ? {} : { written: arrays },
      ),
    ),
  };
}
