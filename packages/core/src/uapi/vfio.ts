import { err, ok } from "../errors/result.js";
import type { Result } from "../errors/result.js";
import { _IO } from "./ioctl.js";
import { defineStruct } from "./layout.js";
import type { StructLayout } from "./layout.js";

/**
 * `VFIO_TYPE`: the ioctl type byte `';'` (include/uapi/linux/vfio.h, kernel-model §2.1).
 *
 * @category uAPI
 */
export const VFIO_TYPE = 0x3b;
/**
 * `VFIO_BASE`: first VFIO command number.
 *
 * @category uAPI
 */
export const VFIO_BASE = 100;
/**
 * `VFIO_DEVICE_RESET = _IO(VFIO_TYPE, VFIO_BASE + 11)`: FLR or another function reset.
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_RESET
 * @category uAPI
 */
export const VFIO_DEVICE_RESET = _IO(VFIO_TYPE, VFIO_BASE + 11);
/**
 * `VFIO_DEVICE_FEATURE = _IO(VFIO_TYPE, VFIO_BASE + 17)` = 0x3B75 (kernel-model §2.1).
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_FEATURE
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE = _IO(VFIO_TYPE, VFIO_BASE + 17);

/**
 * `VFIO_DEVICE_FEATURE_MASK`: bits 0–15 of `flags` select the feature.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_MASK = 0xffff;
/**
 * `VFIO_DEVICE_FEATURE_GET`: read the feature (for DMA_BUF: create the dma-buf).
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_GET = 1 << 16;
/**
 * `VFIO_DEVICE_FEATURE_SET`: write the feature.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_SET = 1 << 17;
/**
 * `VFIO_DEVICE_FEATURE_PROBE`: only ask whether GET/SET would be supported.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_PROBE = 1 << 18;
/**
 * `VFIO_DEVICE_FEATURE_DMA_BUF = 11`: export BAR ranges as a dma-buf (kernel-model §2.1).
 *
 * @kernel include/uapi/linux/vfio.h VFIO_DEVICE_FEATURE_DMA_BUF
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_DMA_BUF = 11;

/**
 * A decoded `struct vfio_device_feature` header.
 *
 * @category uAPI
 */
// A type alias, not an interface, so it stays assignable to index-signature records.
export type VfioDeviceFeature = {
  /** Size of the header plus the feature's payload. */
  argsz: number;
  /** Feature index (bits 0-15) and GET/SET/PROBE. */
  flags: number;
};

/**
 * A decoded `struct vfio_region_dma_range`: a BAR-relative byte range.
 *
 * @category uAPI
 */
// A type alias, not an interface, so it stays assignable to index-signature records.
export type VfioRegionDmaRange = {
  /** Offset into the BAR; must be page aligned. */
  offset: bigint;
  /** Length in bytes; non-zero and page aligned. */
  length: bigint;
};

/**
 * A decoded `struct vfio_device_feature_dma_buf` header (without its ranges).
 *
 * @category uAPI
 */
// A type alias, not an interface, so it stays assignable to index-signature records.
export type VfioDeviceFeatureDmaBuf = {
  /** The BAR, 0-5 (`VFIO_PCI_BAR0_REGION_INDEX`..5). */
  region_index: number;
  /** `O_RDWR`, `O_CLOEXEC`, ... for `dma_buf_export` and `dma_buf_fd`. */
  open_flags: number;
  /** Must be 0. */
  flags: number;
  /** Number of `dma_ranges[]` entries. */
  nr_ranges: number;
};

/**
 * `minsz` of `struct vfio_device_feature`: `offsetofend(flags)` = 8.
 *
 * @category uAPI
 */
export const VFIO_DEVICE_FEATURE_MINSZ = 8;

/**
 * `struct vfio_device_feature` = `argsz` u32@0, `flags` u32@4, `data[]`@8
 * (kernel-model §2.1). `argsz` counts the header and the data.
 *
 * @kernel include/uapi/linux/vfio.h vfio_device_feature
 * @category uAPI
 */
export const vfioDeviceFeature: StructLayout<VfioDeviceFeature> = defineStruct(
  "vfio_device_feature",
  [
    ["argsz", "u32"],
    ["flags", "u32"],
  ] as const,
  { name: "data", elementType: "u8" },
);
/** A decoded `struct vfio_device_feature` header. */

/**
 * `struct vfio_region_dma_range` = `offset` u64@0, `length` u64@8 (16 bytes).
 *
 * @kernel include/uapi/linux/vfio.h vfio_region_dma_range
 * @category uAPI
 */
export const vfioRegionDmaRange: StructLayout<VfioRegionDmaRange> = defineStruct(
  "vfio_region_dma_range",
  [
    ["offset", "u64"],
    ["length", "u64"],
  ] as const,
);

/**
 * `struct vfio_device_feature_dma_buf` = `region_index` u32@0, `open_flags`
 * u32@4, `flags` u32@8 (must be 0), `nr_ranges` u32@12, `dma_ranges[]`@16,
 * `__counted_by(nr_ranges)` (kernel-model §2.1).
 *
 * @kernel include/uapi/linux/vfio.h vfio_device_feature_dma_buf
 * @category uAPI
 */
export const vfioDeviceFeatureDmaBuf: StructLayout<VfioDeviceFeatureDmaBuf> = defineStruct(
  "vfio_device_feature_dma_buf",
  [
    ["region_index", "u32"],
    ["open_flags", "u32"],
    ["flags", "u32"],
    ["nr_ranges", "u32"],
  ] as const,
  { name: "dma_ranges", elementType: "struct vfio_region_dma_range" },
);

/**
 * A `VFIO_DEVICE_FEATURE` argument after the VFIO core's checks: the header
 * and the `argsz - 8` payload bytes the driver's `device_feature` receives.
 *
 * @category uAPI
 */
export interface VfioFeatureRequest {
  /** `argsz` as userspace wrote it. */
  readonly argsz: number;
  /** `flags` as userspace wrote it. */
  readonly flags: number;
  /** `flags & VFIO_DEVICE_FEATURE_MASK`. */
  readonly feature: number;
  /** The payload bytes present in the user buffer (at most `argsz - 8`). */
  readonly data: Uint8Array;
  /** `argsz - 8`: the payload size the driver is told. */
  readonly dataSize: number;
}

/**
 * The VFIO core's checks of a `VFIO_DEVICE_FEATURE` call, in the kernel's
 * order (vfio_main.c, kernel-model §2.1–2.2 step 0): copy the 8-byte header
 * (`EFAULT`), `argsz < 8` -> `EINVAL`, unknown flag bits -> `EINVAL`, GET and
 * SET together without PROBE -> `EINVAL`. VFIO has no `E2BIG` rule: the
 * driver gets `argsz - 8` bytes, whatever their content.
 *
 * @param buffer - the user buffer the ioctl argument points at.
 * @returns the parsed request, or the errno.
 * @kernel drivers/vfio/vfio_main.c vfio_ioctl_device_feature
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   VFIO_DEVICE_FEATURE_DMA_BUF,
 *   VFIO_DEVICE_FEATURE_GET,
 *   VFIO_DEVICE_FEATURE_SET,
 *   encodeDmaBufFeature,
 *   parseVfioDeviceFeature,
 * } from "@dmabuf-ref/core";
 *
 * const data = { region_index: 0, open_flags: 2, flags: 0 };
 * const ranges = [{ offset: 0n, length: 0x10000n }];
 * const req = parseVfioDeviceFeature(
 *   encodeDmaBufFeature({ flags: VFIO_DEVICE_FEATURE_GET, data, ranges }),
 * );
 * assert.ok(req.ok);
 * assert.equal(req.value.feature, VFIO_DEVICE_FEATURE_DMA_BUF);
 * assert.equal(req.value.dataSize, 16 + 16);
 * const both = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET;
 * const bad = parseVfioDeviceFeature(encodeDmaBufFeature({ flags: both, data, ranges }));
 * assert.equal(bad.ok ? undefined : bad.error.errno, "EINVAL");
 * ```
 * @category uAPI
 */
export function parseVfioDeviceFeature(buffer: Uint8Array): Result<VfioFeatureRequest> {
  if (buffer.length < VFIO_DEVICE_FEATURE_MINSZ) {
    return err("EFAULT", "copy_from_user of the 8-byte vfio_device_feature header faulted");
  }
  const { argsz, flags } = vfioDeviceFeature.decode(buffer);
  if (argsz < VFIO_DEVICE_FEATURE_MINSZ) {
    return err("EINVAL", () => `argsz ${argsz} is below minsz 8`);
  }
  const known =
    VFIO_DEVICE_FEATURE_MASK |
    VFIO_DEVICE_FEATURE_GET |
    VFIO_DEVICE_FEATURE_SET |
    VFIO_DEVICE_FEATURE_PROBE;
  if ((flags & ~known) >>> 0 !== 0) {
    return err("EINVAL", () => `flags 0x${flags.toString(16)} has unknown bits`);
  }
  if (
    (flags & VFIO_DEVICE_FEATURE_PROBE) === 0 &&
    (flags & VFIO_DEVICE_FEATURE_GET) !== 0 &&
    (flags & VFIO_DEVICE_FEATURE_SET) !== 0
  ) {
    return err("EINVAL", "GET and SET are mutually exclusive without PROBE");
  }
  const dataSize = argsz - VFIO_DEVICE_FEATURE_MINSZ;
  return ok({
    argsz,
    flags,
    feature: flags & VFIO_DEVICE_FEATURE_MASK,
    data: buffer.subarray(VFIO_DEVICE_FEATURE_MINSZ, VFIO_DEVICE_FEATURE_MINSZ + dataSize),
    dataSize,
  });
}

/**
 * `vfio_check_feature(flags, argsz, supported_ops, minsz)` (kernel-model §2.1):
 * a GET or SET the feature does not support -> `EINVAL`; PROBE -> "probe"
 * (the ioctl returns 0 and does nothing); neither GET nor SET -> `EINVAL`;
 * payload smaller than `minsz` -> `EINVAL`; otherwise "run".
 *
 * @param flags - the request's flags.
 * @param dataSize - `argsz - 8`.
 * @param supportedOps - `VFIO_DEVICE_FEATURE_GET` and/or `_SET`.
 * @param minsz - the feature payload's minimum size.
 * @returns "probe" or "run", or the errno.
 * @kernel include/linux/vfio.h vfio_check_feature
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   VFIO_DEVICE_FEATURE_GET,
 *   VFIO_DEVICE_FEATURE_PROBE,
 *   VFIO_DEVICE_FEATURE_SET,
 *   vfioCheckFeature,
 * } from "@dmabuf-ref/core";
 *
 * // DMA_BUF supports GET only, with a 16-byte payload minimum.
 * const get = VFIO_DEVICE_FEATURE_GET;
 * assert.deepEqual(vfioCheckFeature(get, 32, get, 16), { ok: true, value: "run" });
 * assert.deepEqual(vfioCheckFeature(get | VFIO_DEVICE_FEATURE_PROBE, 0, get, 16), {
 *   ok: true,
 *   value: "probe",
 * });
 * const set = vfioCheckFeature(VFIO_DEVICE_FEATURE_SET, 32, get, 16);
 * assert.equal(set.ok ? undefined : set.error.errno, "EINVAL");
 * ```
 * @category uAPI
 */
export function vfioCheckFeature(
  flags: number,
  dataSize: number,
  supportedOps: number,
  minsz: number,
): Result<"probe" | "run"> {
  const requested = flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET);
  if ((requested & ~supportedOps) !== 0) {
    return err("EINVAL", "the feature does not support the requested GET/SET");
  }
  if ((flags & VFIO_DEVICE_FEATURE_PROBE) !== 0) return ok("probe");
  if (requested === 0) return err("EINVAL", "neither GET nor SET requested without PROBE");
  if (dataSize < minsz) {
    return err("EINVAL", () => `feature payload of ${dataSize} bytes is below minsz ${minsz}`);
  }
  return ok("run");
}

/**
 * The payload header of a request, with `nr_ranges` optional (default: the range count).
 *
 * @category uAPI
 */
export interface DmaBufFeatureData {
  /** The BAR index. */
  readonly region_index: number;
  /** Open flags for the new fd. */
  readonly open_flags: number;
  /** Must be 0. */
  readonly flags: number;
  /** Overrides the range count, to model a lying `nr_ranges`. */
  readonly nr_ranges?: number;
}

/**
 * A complete `VFIO_DEVICE_FEATURE_DMA_BUF` request as userspace builds it.
 *
 * @category uAPI
 */
export interface DmaBufFeatureArgs {
  /** `argsz`; defaults to the real size (8 + 16 + 16 * ranges). */
  readonly argsz?: number;
  /** Header flags without the feature index, e.g. `VFIO_DEVICE_FEATURE_GET`. */
  readonly flags: number;
  /** The feature index ORed into flags bits 0–15 (default `VFIO_DEVICE_FEATURE_DMA_BUF`). */
  readonly feature?: number;
  /** The payload header; `nr_ranges` defaults to `ranges.length`. */
  readonly data: DmaBufFeatureData;
  /** The `dma_ranges[]` entries. */
  readonly ranges: readonly VfioRegionDmaRange[];
}

/**
 * Encodes a whole `VFIO_DEVICE_FEATURE` + `VFIO_DEVICE_FEATURE_DMA_BUF`
 * argument: header, payload header and ranges, byte for byte.
 *
 * @param args - the request.
 * @returns the user buffer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   VFIO_DEVICE_FEATURE_GET,
 *   encodeDmaBufFeature,
 *   vfioDeviceFeature,
 * } from "@dmabuf-ref/core";
 *
 * // Export the first 64 KiB of BAR 0 as a dma-buf (open_flags O_RDWR).
 * const argp = encodeDmaBufFeature({
 *   flags: VFIO_DEVICE_FEATURE_GET,
 *   data: { region_index: 0, open_flags: 2, flags: 0 },
 *   ranges: [{ offset: 0n, length: 0x10000n }],
 * });
 * assert.equal(argp.length, 8 + 16 + 16);
 * assert.deepEqual(vfioDeviceFeature.decode(argp), { argsz: 40, flags: 0x1000b });
 * ```
 * @category uAPI
 */
export function encodeDmaBufFeature(args: DmaBufFeatureArgs): Uint8Array {
  const payload = vfioDeviceFeatureDmaBuf.encode({
    ...args.data,
    nr_ranges: args.data.nr_ranges ?? args.ranges.length,
  });
  const ranges = args.ranges.map((r) => vfioRegionDmaRange.encode(r));
  const total =
    VFIO_DEVICE_FEATURE_MINSZ + payload.length + ranges.length * vfioRegionDmaRange.size;
  const header = vfioDeviceFeature.encode({
    argsz: args.argsz ?? total,
    flags: (args.flags | (args.feature ?? VFIO_DEVICE_FEATURE_DMA_BUF)) >>> 0,
  });
  const out = new Uint8Array(total);
  out.set(header, 0);
  out.set(payload, VFIO_DEVICE_FEATURE_MINSZ);
  ranges.forEach((r, i) => {
    out.set(r, VFIO_DEVICE_FEATURE_MINSZ + payload.length + i * vfioRegionDmaRange.size);
  });
  return out;
}
