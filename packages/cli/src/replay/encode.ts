import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  encodeDmaBufFeature,
  iommuDestroy,
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  vfioDeviceFeature,
} from "@dmabuf-ref/core";
import type { FieldLayout, StructLayout } from "@dmabuf-ref/core";
import type { Bindings } from "./values.js";
import { replayError, resolveFlags, resolveValue } from "./values.js";

/** The argument struct of each modelled iommufd ioctl. */
export const IOMMUFD_STRUCTS: Readonly<
  Record<string, StructLayout<Record<string, number | bigint>>>
> = {
  IOMMU_DESTROY: iommuDestroy,
  IOMMU_IOAS_ALLOC: iommuIoasAlloc,
  IOMMU_IOAS_IOVA_RANGES: iommuIoasIovaRanges,
  IOMMU_IOAS_MAP: iommuIoasMap,
  IOMMU_IOAS_UNMAP: iommuIoasUnmap,
  IOMMU_IOAS_MAP_FILE: iommuIoasMapFile,
};

const MAP_FLAGS = {
  FIXED_IOVA: IOMMU_IOAS_MAP_FIXED_IOVA,
  WRITEABLE: IOMMU_IOAS_MAP_WRITEABLE,
  READABLE: IOMMU_IOAS_MAP_READABLE,
};
const FEATURE_FLAGS = {
  GET: VFIO_DEVICE_FEATURE_GET,
  SET: VFIO_DEVICE_FEATURE_SET,
  PROBE: VFIO_DEVICE_FEATURE_PROBE,
};
const OPEN_FLAGS = { O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CLOEXEC: 0o2000000 };

const LIMITS: Readonly<Record<string, [bigint, bigint]>> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffff_ffffn],
  s32: [-0x8000_0000n, 0x7fff_ffffn],
  u64: [0n, (1n << 64n) - 1n],
  aligned_u64: [0n, (1n << 64n) - 1n],
};

function fit(v: bigint, f: FieldLayout, at: { index: number; field: string }): number | bigint {
  const [lo, hi] = LIMITS[f.type] ?? [0n, 0n];
  if (v < lo || v > hi)
    throw replayError(at.index, at.field, `${v} does not fit ${f.type} ${f.name}`);
  return f.size === 8 ? v : Number(v);
}

function rejectUnknown(
  arg: Record<string, unknown>,
  known: readonly string[],
  index: number,
): void {
  for (const k of Object.keys(arg)) {
    if (!known.includes(k))
      throw replayError(index, `arg.${k}`, `not a field (fields: ${known.join(", ")})`);
  }
}

/**
 * Builds an iommufd ioctl's argument bytes from the kernel field names:
 * `size` defaults to `sizeof`, other fields to 0, `flags` takes map flag
 * names, any value the C field can hold is passed through unchecked.
 *
 * @param layout - the struct.
 * @param arg - the fields given.
 * @param b - earlier results.
 * @param index - the call's index, for errors.
 * @returns the user buffer.
 */
export function encodeIommufdArg(
  layout: StructLayout<Record<string, number | bigint>>,
  arg: Record<string, unknown>,
  b: Bindings,
  index: number,
): Uint8Array {
  const fields = layout.fields.filter((f) => !f.type.endsWith("[]"));
  rejectUnknown(
    arg,
    fields.map((f) => f.name),
    index,
  );
  const value: Record<string, number | bigint> = {};
  for (const f of fields) {
    const at = { index, field: `arg.${f.name}` };
    const raw = arg[f.name];
    const v =
      f.name === "flags"
        ? BigInt(resolveFlags(raw, MAP_FLAGS, "IOMMU_IOAS_MAP_", b, at))
        : raw === undefined
          ? f.name === "size"
            ? BigInt(layout.size)
            : 0n
          : resolveValue(raw, b, at);
    value[f.name] = fit(v, f, at);
  }
  return layout.encode(value);
}

/**
 * Builds a `VFIO_DEVICE_FEATURE` argument: the header, and for a DMA_BUF
 * payload under `data` the `vfio_device_feature_dma_buf` and its ranges.
 * `feature` (`DMA_BUF` or a number) is ORed into flags bits 0–15; `argsz`
 * and `nr_ranges` default to the real values.
 *
 * @param arg - the fields given.
 * @param b - earlier results.
 * @param index - the call's index, for errors.
 * @returns the user buffer.
 */
export function encodeVfioFeatureArg(
  arg: Record<string, unknown>,
  b: Bindings,
  index: number,
): Uint8Array {
  rejectUnknown(arg, ["argsz", "flags", "feature", "data"], index);
  const flags = resolveFlags(arg["flags"], FEATURE_FLAGS, "VFIO_DEVICE_FEATURE_", b, {
    index,
    field: "arg.flags",
  });
  const rawFeature = arg["feature"];
  const feature =
    rawFeature === undefined
      ? 0
      : rawFeature === "DMA_BUF" || rawFeature === "VFIO_DEVICE_FEATURE_DMA_BUF"
        ? VFIO_DEVICE_FEATURE_DMA_BUF
        : Number(resolveValue(rawFeature, b, { index, field: "arg.feature" }) & 0xffffn);
  const u32 = (v: unknown, field: string): number =>
    Number(
      fit(
        resolveValue(v, b, { index, field }),
        { name: field, offset: 0, size: 4, type: "u32" },
        { index, field },
      ),
    );
  const argsz = arg["argsz"] === undefined ? undefined : u32(arg["argsz"], "arg.argsz");
  const data = arg["data"];
  if (data === undefined) {
    return vfioDeviceFeature.encode({ argsz: argsz ?? 8, flags: (flags | feature) >>> 0 });
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw replayError(index, "arg.data", "expected the payload struct's fields");
  }
  const d = data as Record<string, unknown>;
  rejectUnknown(d, ["region_index", "open_flags", "flags", "nr_ranges", "dma_ranges"], index);
  const rawRanges = d["dma_ranges"] ?? [];
  if (!Array.isArray(rawRanges)) throw replayError(index, "arg.data.dma_ranges", "expected a list");
  const ranges = (rawRanges as unknown[]).map((r, i) => {
    if (typeof r !== "object" || r === null)
      throw replayError(index, `arg.data.dma_ranges[${i}]`, "expected {offset, length}");
    const rr = r as Record<string, unknown>;
    const u64 = (field: string): bigint =>
      fit(
        resolveValue(rr[field] ?? 0, b, { index, field: `arg.data.dma_ranges[${i}].${field}` }),
        { name: field, offset: 0, size: 8, type: "u64" },
        { index, field },
      ) as bigint;
    return { offset: u64("offset"), length: u64("length") };
  });
  return encodeDmaBufFeature({
    ...(argsz === undefined ? {} : { argsz }),
    flags,
    feature,
    data: {
      region_index: u32(d["region_index"] ?? 0, "arg.data.region_index"),
      open_flags: resolveFlags(d["open_flags"], OPEN_FLAGS, "", b, {
        index,
        field: "arg.data.open_flags",
      }),
      flags: u32(d["flags"] ?? 0, "arg.data.flags"),
      ...(d["nr_ranges"] === undefined
        ? {}
        : { nr_ranges: u32(d["nr_ranges"], "arg.data.nr_ranges") }),
    },
    ranges,
  });
}
