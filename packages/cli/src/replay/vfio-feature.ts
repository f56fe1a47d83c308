/*
 * The argument of VFIO_DEVICE_FEATURE (include/uapi/linux/vfio.h): the
 * `struct vfio_device_feature` header, then the feature's payload under
 * `data`: DMA_BUF (11, `struct vfio_device_feature_dma_buf` and its ranges)
 * and, from Matt Evans' series, DMA_BUF_REVOKE (13, `{ s32 dmabuf_fd }`) and
 * DMA_BUF_MEMATTR (14, `{ s32 dmabuf_fd; u32 memattr }`).
 */
import {
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  findUapiStruct,
} from "@dmabuf-ref/core";
import type { StructInfo } from "@dmabuf-ref/core";
import { OPEN_FLAGS, fit, packStruct, scalarFields, tailBytes } from "./encode.js";
import type { Bindings, CallSite } from "./values.js";
import { replayError, resolveFlags, resolveValue } from "./values.js";

const FEATURE_FLAGS = {
  GET: VFIO_DEVICE_FEATURE_GET,
  SET: VFIO_DEVICE_FEATURE_SET,
  PROBE: VFIO_DEVICE_FEATURE_PROBE,
};
const MEMATTR = { NC: 0, WC: 1 };

/** `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE` (Matt Evans' series v4). */
const FEATURE_REVOKE = 13;
/** `VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR` (Matt Evans' series v4). */
const FEATURE_MEMATTR = 14;

const FEATURES: Readonly<Record<string, number>> = {
  DMA_BUF: VFIO_DEVICE_FEATURE_DMA_BUF,
  DMA_BUF_REVOKE: FEATURE_REVOKE,
  DMA_BUF_MEMATTR: FEATURE_MEMATTR,
};

const s32 = (name: string, offset: number) => ({ name, offset, size: 4, type: "s32" });
const u32 = (name: string, offset: number) => ({ name, offset, size: 4, type: "u32" });
const u64 = (name: string, offset: number) => ({ name, offset, size: 8, type: "u64" });

/** The payload structs, by feature number. */
const PAYLOADS: Readonly<Record<number, StructInfo>> = {
  [FEATURE_REVOKE]: {
    name: "vfio_device_feature_dma_buf_revoke",
    size: 4,
    fields: [s32("dmabuf_fd", 0)],
  },
  [FEATURE_MEMATTR]: {
    name: "vfio_device_feature_dma_buf_memattr",
    size: 8,
    fields: [s32("dmabuf_fd", 0), u32("memattr", 4)],
  },
};

const RANGE: StructInfo = findUapiStruct("vfio_region_dma_range") ?? {
  name: "vfio_region_dma_range",
  size: 16,
  fields: [u64("offset", 0), u64("length", 8)],
};
const DMA_BUF: StructInfo = findUapiStruct("vfio_device_feature_dma_buf") ?? {
  name: "vfio_device_feature_dma_buf",
  size: 16,
  fields: [u32("region_index", 0), u32("open_flags", 4), u32("flags", 8), u32("nr_ranges", 12)],
};

function reject(
  arg: Record<string, unknown>,
  known: readonly string[],
  index: CallSite,
  at: string,
): void {
  for (const k of Object.keys(arg)) {
    if (!known.includes(k))
      throw replayError(index, `${at}.${k}`, `not a field (fields: ${known.join(", ")})`);
  }
}

function object(v: unknown, index: CallSite, at: string, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw replayError(index, at, `expected ${what}`);
  return v as Record<string, unknown>;
}

function payloadBytes(
  feature: number,
  data: Record<string, unknown>,
  b: Bindings,
  index: CallSite,
): Uint8Array {
  const member = (
    s: StructInfo,
    item: Record<string, unknown>,
    at: string,
  ): Map<string, bigint> => {
    const values = new Map<string, bigint>();
    for (const f of scalarFields(s)) {
      const raw = item[f.name];
      if (raw === undefined) continue;
      const where = { index, field: `${at}.${f.name}` };
      const v =
        f.name === "open_flags"
          ? BigInt(resolveFlags(raw, OPEN_FLAGS, "", b, where))
          : f.name === "memattr"
            ? BigInt(resolveFlags(raw, MEMATTR, "VFIO_DMABUF_MEMATTR_", b, where))
            : resolveValue(raw, b, where);
      values.set(f.name, fit(v, f, where));
    }
    return values;
  };
  const fixed = PAYLOADS[feature];
  if (fixed !== undefined) {
    reject(
      data,
      scalarFields(fixed).map((f) => f.name),
      index,
      "arg.data",
    );
    return packStruct(fixed, member(fixed, data, "arg.data"));
  }
  if (feature !== VFIO_DEVICE_FEATURE_DMA_BUF)
    throw replayError(index, "arg.data", `no payload is modelled for feature ${feature}`);
  reject(data, [...scalarFields(DMA_BUF).map((f) => f.name), "dma_ranges"], index, "arg.data");
  const rawRanges = data["dma_ranges"] ?? [];
  if (!Array.isArray(rawRanges)) throw replayError(index, "arg.data.dma_ranges", "expected a list");
  const ranges = (rawRanges as unknown[]).map((r, i) => {
    const at = `arg.data.dma_ranges[${i}]`;
    const item = object(r, index, at, "{offset, length}");
    reject(item, ["offset", "length"], index, at);
    return packStruct(RANGE, member(RANGE, item, at));
  });
  const header = member(DMA_BUF, data, "arg.data");
  if (!header.has("nr_ranges")) header.set("nr_ranges", BigInt(ranges.length));
  const out = new Uint8Array(DMA_BUF.size + ranges.length * RANGE.size);
  out.set(packStruct(DMA_BUF, header));
  ranges.forEach((r, i) => {
    out.set(r, DMA_BUF.size + i * RANGE.size);
  });
  return out;
}

/**
 * Builds a `VFIO_DEVICE_FEATURE` argument: the header, and the feature's
 * payload under `data` (DMA_BUF's header and `dma_ranges`; REVOKE's and
 * MEMATTR's `dmabuf_fd`, `memattr`). `feature` (`DMA_BUF`,
 * `DMA_BUF_REVOKE`, `DMA_BUF_MEMATTR` or a number) is ORed into flags bits
 * 0-15; `argsz` and `nr_ranges` default to the real values; an `argsz`
 * past the payload takes `tail`, exactly the bytes past it (VFIO passes
 * `argsz - 8` bytes to the driver whatever they hold).
 *
 * @param arg - the fields given.
 * @param b - earlier results.
 * @param index - the call's index, for errors.
 * @returns the user buffer.
 * @throws UsageError for an unknown field or name, or a tail of the wrong length.
 */
export function encodeVfioFeatureArg(
  arg: Record<string, unknown>,
  b: Bindings,
  index: CallSite,
): Uint8Array {
  reject(arg, ["argsz", "flags", "feature", "data", "tail"], index, "arg");
  const flags = resolveFlags(arg["flags"], FEATURE_FLAGS, "VFIO_DEVICE_FEATURE_", b, {
    index,
    field: "arg.flags",
  });
  const rawFeature = arg["feature"];
  const named =
    typeof rawFeature === "string"
      ? FEATURES[rawFeature.replace(/^VFIO_DEVICE_FEATURE_/, "")]
      : undefined;
  const feature =
    rawFeature === undefined
      ? 0
      : (named ?? Number(resolveValue(rawFeature, b, { index, field: "arg.feature" }) & 0xffffn));
  const data =
    arg["data"] === undefined
      ? new Uint8Array(0)
      : payloadBytes(
          feature,
          object(arg["data"], index, "arg.data", "the payload's fields"),
          b,
          index,
        );
  const real = 8 + data.length;
  const argsz =
    arg["argsz"] === undefined
      ? BigInt(real)
      : fit(resolveValue(arg["argsz"], b, { index, field: "arg.argsz" }), u32("argsz", 0), {
          index,
          field: "arg.argsz",
        });
  const tail = tailBytes(arg["tail"] ?? [], { index, field: "arg.tail" });
  const past = argsz > BigInt(real) ? argsz - BigInt(real) : 0n;
  if (BigInt(tail.length) !== past) {
    throw replayError(
      index,
      "arg.tail",
      `argsz ${argsz} with a ${real}-byte header and payload needs ${past} tail byte(s), got ${tail.length}`,
    );
  }
  const out = new Uint8Array(real + tail.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, Number(argsz), true);
  view.setUint32(4, (flags | feature) >>> 0, true);
  out.set(data, 8);
  out.set(tail, real);
  return out;
}

/**
 * The replay-file form of `VFIO_DEVICE_FEATURE(GET | DMA_BUF)`: export
 * ranges of one BAR of a VFIO device as a dma-buf (`struct
 * vfio_device_feature_dma_buf` and its `vfio_region_dma_range`s), its fd
 * bound to `as`. The call programs that write replay or scenario files
 * (the replay benchmark, tests) build instead of spelling the struct out.
 *
 * @param o - the device's fd name, the BAR (`region_index`), the
 *   `open_flags` (a number or a name such as `O_RDWR`), the ranges, and
 *   the name the returned fd is bound to.
 * @returns the call, as a replay file's `calls` hold it.
 */
export function dmabufGetCall(o: {
  readonly device: string;
  readonly region: number;
  readonly openFlags: number | string;
  readonly ranges: readonly { readonly offset: number; readonly length: number }[];
  readonly as: string;
}): {
  fd: string;
  ioctl: "VFIO_DEVICE_FEATURE";
  arg: Record<string, unknown>;
  as: string;
} {
  return {
    fd: o.device,
    ioctl: "VFIO_DEVICE_FEATURE",
    arg: {
      flags: ["GET"],
      feature: "DMA_BUF",
      data: {
        region_index: o.region,
        open_flags: o.openFlags,
        flags: 0,
        dma_ranges: o.ranges.map((r) => ({ offset: r.offset, length: r.length })),
      },
    },
    as: o.as,
  };
}
