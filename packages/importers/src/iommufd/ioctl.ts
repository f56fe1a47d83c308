import {
  copyIommufdStruct,
  findUapiIoctl,
  formatIoctlNumber,
  iommuDestroy,
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  kernelError,
  respondIommufdStruct,
} from "@dmabuf-ref/core";
import type { KernelError, Machine, StructLayout, TraceEvent, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { IOMMUFD } from "./constants.js";
import { destroyObject, ioasAlloc } from "./ioas.js";
import { iovaRanges } from "./iova-ranges.js";
import { ioasMap } from "./map.js";
import { ioasMapFile } from "./map-file.js";
import type { HandlerResult, IoctlOutcome, UserWrite } from "./outcome.js";
import { ioasUnmap } from "./unmap.js";

/** Options of {@link iommufdIoctl}. */
export interface IoctlOptions {
  /** The calling process, as the `ioctl` trace event names it (default `"vmm"`). */
  readonly process?: string;
}

interface IoctlEntry {
  readonly name: string;
  readonly number: number;
  run(m: Machine, world: World, buffer: Uint8Array, process: string): IoctlOutcome;
}

function ioctlEvent(process: string, name: string, error: KernelError | null): TraceEvent {
  return {
    kind: "ioctl",
    process,
    target: IOMMUFD,
    name,
    result: error === null ? { ok: true, ret: 0 } : { ok: false, error },
  };
}

function failedOutcome(
  world: World,
  process: string,
  name: string,
  error: KernelError,
  out: Uint8Array | null,
  written: readonly UserWrite[],
): IoctlOutcome {
  return {
    status: "failed",
    world,
    events: [ioctlEvent(process, name, error)],
    error,
    out,
    written,
  };
}

function defineIoctl<V>(
  name: string,
  layout: StructLayout<V>,
  handler: (m: Machine, w: World, cmd: V) => HandlerResult<V>,
): IoctlEntry {
  const info = findUapiIoctl(name);
  const minSize = info?.minSize;
  if (info === undefined || minSize === undefined) throw new Error(`no iommufd ioctl ${name}`);
  return {
    name,
    number: info.number,
    run(m, world, buffer, process) {
      const copied = copyIommufdStruct(layout, minSize, buffer);
      if (!copied.ok) return failedOutcome(world, process, name, copied.error, null, []);
      const { value, userSize } = copied.value;
      return match(handler(m, world, value))
        .returnType<IoctlOutcome>()
        .with({ status: "done" }, (r) => ({
          status: "done",
          world: r.world,
          events: [...r.events, ioctlEvent(process, name, null)],
          ret: 0,
          out: respondIommufdStruct(layout, r.response, userSize),
          written: r.written,
        }))
        .with({ status: "failed" }, (r) =>
          failedOutcome(
            world,
            process,
            name,
            r.error,
            r.response === null ? null : respondIommufdStruct(layout, r.response, userSize),
            r.written,
          ),
        )
        .with({ status: "blocked" }, (r) => ({ status: "blocked", world, reason: r.reason }))
        .exhaustive();
    },
  };
}

const IOCTLS: readonly IoctlEntry[] = [
  defineIoctl("IOMMU_DESTROY", iommuDestroy, destroyObject),
  defineIoctl("IOMMU_IOAS_ALLOC", iommuIoasAlloc, ioasAlloc),
  defineIoctl("IOMMU_IOAS_IOVA_RANGES", iommuIoasIovaRanges, iovaRanges),
  defineIoctl("IOMMU_IOAS_MAP", iommuIoasMap, ioasMap),
  defineIoctl("IOMMU_IOAS_UNMAP", iommuIoasUnmap, ioasUnmap),
  defineIoctl("IOMMU_IOAS_MAP_FILE", iommuIoasMapFile, ioasMapFile),
];

/**
 * `ioctl(iommufd, number, buffer)`: the iommufd uAPI entry point
 * (`iommufd_fops_ioctl`, kernel-facts §3.1). Dispatches on the ioctl number
 * (an unmodelled or unknown number is `ENOTTY`), applies the size rule of
 * {@link copyIommufdStruct} (`size` below the ioctl's `min_size`: `EINVAL`;
 * non-zero bytes past the kernel's struct: `E2BIG`), runs the command and
 * copies the struct back with {@link respondIommufdStruct}.
 *
 * Modelled: `IOMMU_DESTROY` (of an IOAS), `IOMMU_IOAS_ALLOC`,
 * `IOMMU_IOAS_IOVA_RANGES`, `IOMMU_IOAS_MAP`, `IOMMU_IOAS_UNMAP`,
 * `IOMMU_IOAS_MAP_FILE`. A failed call returns the kernel's errno and the
 * same World; a call that would sleep on a dma-buf's resv is `blocked`.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param ioctlNumber - e.g. `IOMMU_IOAS_MAP_FILE` (0x3b8f).
 * @param buffer - the user's argument struct, starting with its `u32 size`.
 * @param opts - who calls, for the trace.
 * @returns the outcome: the new world, the events and the bytes copied back.
 *
 * @example
 * ```ts
 * const r = iommufdIoctl(m, world, IOMMU_IOAS_ALLOC, iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 }));
 * if (r.status === "done") ioas = iommuIoasAlloc.decode(r.out).out_ioas_id;
 * ```
 */
export function iommufdIoctl(
  m: Machine,
  world: World,
  ioctlNumber: number,
  buffer: Uint8Array,
  opts: IoctlOptions = {},
): IoctlOutcome {
  const process = opts.process ?? "vmm";
  const entry = IOCTLS.find((e) => e.number === ioctlNumber);
  if (entry === undefined) {
    const error = kernelError("ENOTTY", `ioctl ${formatIoctlNumber(ioctlNumber)} is not modelled`);
    return failedOutcome(world, process, formatIoctlNumber(ioctlNumber), error, null, []);
  }
  return entry.run(m, world, buffer, process);
}
