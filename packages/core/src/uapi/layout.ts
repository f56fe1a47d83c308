import * as z from "zod";
import { U64_MAX, u64Schema } from "../schemas.js";

/**
 * The scalar C types that appear in the modelled uAPI structs. `aligned_u64`
 * is `__aligned_u64` (8-byte aligned on every ABI; on x86-64 `__u64` is too).
 *
 * @category uAPI
 */
export type ScalarType = "u8" | "u16" | "u32" | "s32" | "u64" | "aligned_u64";

const SCALARS: Readonly<Record<ScalarType, number>> = {
  u8: 1,
  u16: 2,
  u32: 4,
  s32: 4,
  u64: 8,
  aligned_u64: 8,
};

/**
 * One member of a struct, as `dmabuf-ref uapi layout` prints it.
 *
 * @category uAPI
 */
export interface FieldLayout {
  /** The member's name in the kernel header, e.g. `"out_ioas_id"`. */
  readonly name: string;
  /** Byte offset from the start of the struct (`offsetof`). */
  readonly offset: number;
  /** Size in bytes; 0 for a flexible array member. */
  readonly size: number;
  /** The C type: a {@link ScalarType}, or `"<elem>[]"` for a flexible array. */
  readonly type: string;
}

/**
 * A member declaration: name and scalar type, in header order.
 *
 * @category uAPI
 */
export type FieldSpec = readonly [name: string, type: ScalarType];

/**
 * The decoded value of a struct: a number per 8/16/32-bit member, a bigint
 * per 64-bit member (DESIGN §5).
 *
 * @category uAPI
 */
export type StructValue<F extends readonly FieldSpec[]> = {
  -readonly [P in F[number] as P[0]]: P[1] extends "u64" | "aligned_u64" ? bigint : number;
};

/**
 * The exact little-endian x86-64 layout of one uAPI struct, with encode,
 * decode and a zod schema for its value (DESIGN §3.6).
 *
 * @category uAPI
 */
export interface StructLayout<V> {
  /** The struct's name in the kernel header, e.g. `"iommu_ioas_map_file"`. */
  readonly name: string;
  /** `sizeof(struct …)`, excluding any flexible array. */
  readonly size: number;
  /** Members in header order, the flexible array last if there is one. */
  readonly fields: readonly FieldLayout[];
  /** zod schema for a value (ranges of each member's C type). */
  readonly schema: z.ZodType<V>;
  /**
   * Encodes a value to exactly `size` bytes.
   *
   * @param value - the member values.
   */
  encode(value: V): Uint8Array;
  /**
   * Decodes `size` bytes starting at `offset`.
   *
   * @param bytes - the buffer; it must hold `offset + size` bytes.
   * @param offset - where the struct starts (default 0).
   */
  decode(bytes: Uint8Array, offset?: number): V;
}

function memberSchema(type: ScalarType): z.ZodType<number | bigint> {
  switch (type) {
    case "u8":
      return z.number().int().min(0).max(0xff);
    case "u16":
      return z.number().int().min(0).max(0xffff);
    case "u32":
      return z.number().int().min(0).max(0xffffffff);
    case "s32":
      return z.number().int().min(-0x80000000).max(0x7fffffff);
    case "u64":
    case "aligned_u64":
      return u64Schema;
  }
}

/**
 * Declares a struct from its members in header order, computing offsets
 * with natural alignment and tail padding as the x86-64 ABI does.
 *
 * @param name - the kernel's struct name.
 * @param members - `[name, type]` pairs in header order.
 * @param flexible - an optional trailing flexible array member: its name and element type name.
 * @returns the layout.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineStruct } from "@dmabuf-ref/core";
 *
 * // A u64 after a u32 is aligned to 8; the struct is padded to 16.
 * const range = defineStruct("example_range", [
 *   ["flags", "u32"],
 *   ["iova", "aligned_u64"],
 * ] as const);
 * assert.equal(range.size, 16);
 * assert.deepEqual(
 *   range.fields.map((f) => f.offset),
 *   [0, 8],
 * );
 * const bytes = range.encode({ flags: 1, iova: 0x10000n });
 * assert.deepEqual(range.decode(bytes), { flags: 1, iova: 0x10000n });
 * ```
 * @category uAPI
 */
export function defineStruct<const F extends readonly FieldSpec[]>(
  name: string,
  members: F,
  flexible?: { readonly name: string; readonly elementType: string },
): StructLayout<StructValue<F>> {
  const fields: FieldLayout[] = [];
  let offset = 0;
  let maxAlign = 1;
  for (const [memberName, type] of members) {
    const size = SCALARS[type];
    offset = Math.ceil(offset / size) * size;
    fields.push({ name: memberName, offset, size, type });
    offset += size;
    maxAlign = Math.max(maxAlign, size);
  }
  const size = Math.ceil(offset / maxAlign) * maxAlign;
  if (flexible !== undefined) {
    fields.push({ name: flexible.name, offset: size, size: 0, type: `${flexible.elementType}[]` });
  }
  const shape: Record<string, z.ZodType<number | bigint>> = {};
  for (const [memberName, type] of members) shape[memberName] = memberSchema(type);
  const schema = z.object(shape) as unknown as z.ZodType<StructValue<F>>;

  const scalarFields = fields.slice(0, members.length);
  return Object.freeze({
    name,
    size,
    fields: Object.freeze(fields),
    schema,
    encode(value: StructValue<F>): Uint8Array {
      const bytes = new Uint8Array(size);
      const view = new DataView(bytes.buffer);
      const record = value as Record<string, number | bigint>;
      for (const f of scalarFields) writeScalar(view, f, record[f.name]);
      return bytes;
    },
    decode(bytes: Uint8Array, at = 0): StructValue<F> {
      if (bytes.length < at + size) {
        throw new RangeError(`${name}: need ${size} bytes at ${at}, have ${bytes.length - at}`);
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      const out: Record<string, number | bigint> = {};
      for (const f of scalarFields) out[f.name] = readScalar(view, f);
      return out as StructValue<F>;
    },
  });
}

/**
 * Stores one scalar member in a struct's bytes, little-endian as the
 * kernel's x86-64 and arm64 ABIs lay it out (a u64 is reduced modulo
 * 2^64, so a negative value is its two's complement).
 *
 * @param view - the struct's bytes.
 * @param f - the member.
 * @param v - its value.
 * @throws TypeError when the value is missing.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuIoasMapFile, writeScalar } from "@dmabuf-ref/core";
 *
 * const iova = iommuIoasMapFile.fields.find((f) => f.name === "iova");
 * assert.ok(iova !== undefined);
 * const view = new DataView(new ArrayBuffer(iommuIoasMapFile.size));
 * writeScalar(view, iova, 0x100000n);
 * assert.equal(view.getBigUint64(32, true), 0x100000n);
 * assert.throws(() => writeScalar(view, iova, undefined), TypeError);
 * ```
 * @category uAPI
 */
export function writeScalar(view: DataView, f: FieldLayout, v: number | bigint | undefined): void {
  if (v === undefined) throw new TypeError(`member ${f.name} missing`);
  switch (f.type as ScalarType) {
    case "u8":
      view.setUint8(f.offset, Number(v));
      return;
    case "u16":
      view.setUint16(f.offset, Number(v), true);
      return;
    case "u32":
      view.setUint32(f.offset, Number(v), true);
      return;
    case "s32":
      view.setInt32(f.offset, Number(v), true);
      return;
    case "u64":
    case "aligned_u64":
      view.setBigUint64(f.offset, BigInt(v) & U64_MAX, true);
      return;
  }
}

/**
 * Loads one scalar member from a struct's bytes, little-endian (the
 * counterpart of {@link writeScalar}): a number for 8- to 32-bit members, a
 * bigint for 64-bit ones.
 *
 * @param view - the struct's bytes.
 * @param f - the member.
 * @returns its value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuIoasMapFile, readScalar } from "@dmabuf-ref/core";
 *
 * const bytes = iommuIoasMapFile.encode({
 *   size: 40,
 *   flags: 3,
 *   ioas_id: 2,
 *   fd: 7,
 *   start: 0n,
 *   length: 0x200000n,
 *   iova: 0x100000n,
 * });
 * const view = new DataView(bytes.buffer);
 * const fd = iommuIoasMapFile.fields.find((f) => f.name === "fd");
 * const length = iommuIoasMapFile.fields.find((f) => f.name === "length");
 * assert.ok(fd !== undefined && length !== undefined);
 * assert.equal(readScalar(view, fd), 7);
 * assert.equal(readScalar(view, length), 0x200000n);
 * ```
 * @category uAPI
 */
export function readScalar(view: DataView, f: FieldLayout): number | bigint {
  switch (f.type as ScalarType) {
    case "u8":
      return view.getUint8(f.offset);
    case "u16":
      return view.getUint16(f.offset, true);
    case "u32":
      return view.getUint32(f.offset, true);
    case "s32":
      return view.getInt32(f.offset, true);
    case "u64":
    case "aligned_u64":
      return view.getBigUint64(f.offset, true);
  }
}

/**
 * `offsetofend(struct, member)`: the byte just past a member, which iommufd
 * uses as an ioctl's `min_size` (the last member every caller must pass).
 *
 * @param layout - the struct.
 * @param member - the member's name.
 * @returns `offsetof(member) + sizeof(member)`.
 * @throws when the struct has no such member (a model bug).
 * @kernel include/linux/stddef.h offsetofend
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuIoasMapFile, offsetofEnd } from "@dmabuf-ref/core";
 *
 * // IOMMU_IOAS_MAP_FILE's min_size is offsetofend(struct iommu_ioas_map_file, iova).
 * assert.equal(offsetofEnd(iommuIoasMapFile, "iova"), 40);
 * assert.equal(offsetofEnd(iommuIoasMapFile, "fd"), 16);
 * ```
 * @category uAPI
 */
export function offsetofEnd(
  layout: { readonly fields: readonly FieldLayout[]; readonly name: string },
  member: string,
): number {
  const f = layout.fields.find((x) => x.name === member);
  if (f === undefined) throw new Error(`${layout.name} has no member ${member}`);
  return f.offset + f.size;
}
