/*
 * The user memory an ioctl's argument pointer points at, built from a
 * replay file's fields by the struct layouts in core's uAPI registry
 * (UAPI_STRUCTS): one generic encoder for every struct, so an ioctl B or A
 * adds to the registry is replayable without code here. Also decodes a
 * struct as the kernel leaves it (the user's bytes, overwritten by what
 * the kernel copied back).
 */
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_DMABUF_GET,
  IOMMU_TEST_OP_DMABUF_REVOKE,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  U64_MAX,
  findUapiStruct,
  readScalar,
  writeScalar,
} from "@dmabuf-ref/core";
import type { FieldLayout, StructInfo, UserWrite } from "@dmabuf-ref/core";
import type { Bindings, CallSite } from "./values.js";
import { replayError, resolveFlags, resolveValue } from "./values.js";

/** Where the replay places the arrays a pointer field is given as (`allowed_iovas: [...]`). */
export const USER_SCRATCH = 0x7ffe_0000_0000n;
/** Room for each array at {@link USER_SCRATCH}. */
const SCRATCH_STRIDE = 0x10_0000n;

/** Names for the values of a field: short names and full macro names. */
type Names = Readonly<Record<string, number>>;

function names(prefix: string, short: Readonly<Record<string, number>>): Names {
  const all: Record<string, number> = {};
  for (const [k, v] of Object.entries(short)) {
    all[k] = v;
    all[`${prefix}${k}`] = v;
  }
  return all;
}

/** `open_flags` names (fcntl.h), for every field that takes a dma-buf's file flags. */
export const OPEN_FLAGS: Names = { O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CLOEXEC: 0o2000000 };

const MAP_FLAGS = names("IOMMU_IOAS_MAP_", {
  FIXED_IOVA: IOMMU_IOAS_MAP_FIXED_IOVA,
  WRITEABLE: IOMMU_IOAS_MAP_WRITEABLE,
  READABLE: IOMMU_IOAS_MAP_READABLE,
});

/**
 * Fields whose values have macro names (include/uapi/linux/iommufd.h,
 * vfio.h), by ioctl: `flags` lists are ORed, an enum takes one name.
 */
const FIELD_NAMES: Readonly<Record<string, Readonly<Record<string, Names>>>> = {
  IOMMU_IOAS_MAP: { flags: MAP_FLAGS },
  IOMMU_IOAS_MAP_FILE: { flags: MAP_FLAGS },
  IOMMU_IOAS_COPY: { flags: MAP_FLAGS },
  IOMMU_HWPT_ALLOC: {
    flags: {
      ...names("IOMMU_HWPT_ALLOC_", { NEST_PARENT: 1, DIRTY_TRACKING: 2, PASID: 8 }),
      ...names("IOMMU_HWPT_", { FAULT_ID_VALID: 4 }),
    },
    data_type: names("IOMMU_HWPT_DATA_", { NONE: 0, VTD_S1: 1, ARM_SMMUV3: 2 }),
  },
  IOMMU_VFIO_IOAS: { op: names("IOMMU_VFIO_IOAS_", { GET: 0, SET: 1, CLEAR: 2 }) },
  IOMMU_OPTION: {
    option_id: names("IOMMU_OPTION_", { RLIMIT_MODE: 0, HUGE_PAGES: 1 }),
    op: names("IOMMU_OPTION_OP_", { SET: 0, GET: 1 }),
  },
  IOMMU_TEST_CMD: {
    op: names("IOMMU_TEST_OP_", {
      ADD_RESERVED: IOMMU_TEST_OP_ADD_RESERVED,
      SET_TEMP_MEMORY_LIMIT: IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
      DMABUF_GET: IOMMU_TEST_OP_DMABUF_GET,
      DMABUF_REVOKE: IOMMU_TEST_OP_DMABUF_REVOKE,
    }),
    "dmabuf_get.open_flags": OPEN_FLAGS,
  },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: { flags: names("VFIO_DEVICE_ATTACH_", { PASID: 1 }) },
  VFIO_DEVICE_DETACH_IOMMUFD_PT: { flags: names("VFIO_DEVICE_DETACH_", { PASID: 1 }) },
};

/** A pointer field that points at an array of structs, and the field that counts them. */
interface ArrayPointer {
  /** The element struct's kernel name. */
  readonly struct: string;
  /** The field holding the element count. */
  readonly count: string;
}

const IOVA_RANGES: ArrayPointer = { struct: "iommu_iova_range", count: "num_iovas" };

/** Pointer fields that may be given as a list of elements, by ioctl. */
const ARRAY_POINTERS: Readonly<Record<string, Readonly<Record<string, ArrayPointer>>>> = {
  IOMMU_IOAS_ALLOW_IOVAS: { allowed_iovas: IOVA_RANGES },
  IOMMU_IOAS_IOVA_RANGES: { allowed_iovas: IOVA_RANGES },
};

const LIMITS: Readonly<Record<string, readonly [bigint, bigint]>> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffff_ffffn],
  s32: [-0x8000_0000n, 0x7fff_ffffn],
  u64: [0n, U64_MAX],
  aligned_u64: [0n, U64_MAX],
};

/** Where a value sits in the file, for error messages. */
export interface At {
  /** The call's index. */
  readonly index: CallSite;
  /** The field's path, e.g. `arg.iova`. */
  readonly field: string;
}

/**
 * Checks that a value fits its C type (a file error otherwise: the C
 * struct could not hold it).
 *
 * @param v - the value.
 * @param f - the field.
 * @param at - where, for errors.
 * @returns the value.
 */
export function fit(v: bigint, f: FieldLayout, at: At): bigint {
  const [lo, hi] = LIMITS[f.type] ?? [0n, 0n];
  if (v < lo || v > hi)
    throw replayError(at.index, at.field, `${v} does not fit ${f.type} ${f.name}`);
  return v;
}

/** The scalar members of a struct (a flexible array member has none of its own bytes). */
export function scalarFields(s: StructInfo): readonly FieldLayout[] {
  return s.fields.filter((f) => !f.type.endsWith("[]"));
}

/**
 * Encodes `size` bytes of a struct from resolved member values (0 for a
 * member not given).
 *
 * @param s - the struct.
 * @param values - member values by name.
 * @returns the bytes.
 */
export function packStruct(s: StructInfo, values: ReadonlyMap<string, bigint>): Uint8Array {
  const bytes = new Uint8Array(s.size);
  const view = new DataView(bytes.buffer);
  for (const f of scalarFields(s)) writeScalar(view, f, values.get(f.name) ?? 0n);
  return bytes;
}

/**
 * Decodes a struct as the kernel leaves it in user memory: the bytes the
 * caller passed, overwritten by the bytes the kernel copied back.
 *
 * @param s - the struct.
 * @param passed - the user's buffer (the struct, maybe a tail; empty for NULL).
 * @param copied - what the kernel copied back over its start.
 * @returns every member by name (64-bit members as bigints).
 */
export function decodeLeft(
  s: StructInfo,
  passed: Uint8Array,
  copied: Uint8Array,
): Record<string, number | bigint> {
  const bytes = new Uint8Array(s.size);
  bytes.set(passed.subarray(0, Math.min(passed.length, s.size)));
  bytes.set(copied.subarray(0, Math.min(copied.length, s.size)));
  const view = new DataView(bytes.buffer);
  const out: Record<string, number | bigint> = {};
  for (const f of scalarFields(s)) out[f.name] = readScalar(view, f);
  return out;
}

function rejectUnknown(arg: Record<string, unknown>, known: readonly string[], at: At): void {
  for (const k of Object.keys(arg)) {
    if (!known.includes(k))
      throw replayError(at.index, `${at.field}.${k}`, `not a field (fields: ${known.join(", ")})`);
  }
}

function record(v: unknown, at: At, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw replayError(at.index, at.field, `expected ${what}`);
  return v as Record<string, unknown>;
}

/**
 * Resolves one member's value: a name from its macro table (flags lists
 * are ORed), a number, or a reference.
 */
function memberValue(
  ioctl: string,
  f: FieldLayout,
  raw: unknown,
  b: Bindings,
  at: At,
): bigint | undefined {
  if (raw === undefined) return undefined;
  const table = FIELD_NAMES[ioctl]?.[f.name];
  const v =
    table === undefined ? resolveValue(raw, b, at) : BigInt(resolveFlags(raw, table, "", b, at));
  return fit(v, f, at);
}

/**
 * Reads `tail: [bytes]`, the user memory past a struct: each an integer
 * 0-255.
 *
 * @param raw - the list given.
 * @param at - where, for errors.
 * @returns the bytes.
 * @throws UsageError for anything but a list of bytes.
 */
export function tailBytes(raw: unknown, at: At): Uint8Array {
  if (!Array.isArray(raw)) throw replayError(at.index, at.field, "expected a list of bytes");
  const list = raw as unknown[];
  return Uint8Array.from(
    list.map((x, i) => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 255)
        throw replayError(at.index, `${at.field}[${i}]`, "a byte is an integer 0-255");
      return x;
    }),
  );
}

/**
 * A union member given as a nested object (`dmabuf_get: { length }` of
 * `struct iommu_test_cmd`): the registry's view of the struct with that
 * member, `<struct>_<member>`, whose fields are named `member.field`, and
 * the fields given, flattened to those names. Any other argument is
 * returned as it is.
 */
function unionView(
  s: StructInfo,
  arg: Record<string, unknown>,
  index: CallSite,
): { readonly struct: StructInfo; readonly arg: Record<string, unknown> } {
  const own = new Set(s.fields.map((f) => f.name));
  const members = Object.keys(arg).filter(
    (k) => !own.has(k) && findUapiStruct(`${s.name}_${k}`) !== undefined,
  );
  const [member, other] = members;
  if (member === undefined) return { struct: s, arg };
  if (other !== undefined)
    throw replayError(index, `arg.${other}`, `one union member at a time (already ${member})`);
  const view = findUapiStruct(`${s.name}_${member}`);
  if (view === undefined) throw new Error(`no struct ${s.name}_${member}`);
  const at = { index, field: `arg.${member}` };
  const flat: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(arg)) {
    if (k !== member) flat[k] = v;
  }
  for (const [k, v] of Object.entries(record(arg[member], at, `the members of ${member}`)))
    flat[`${member}.${k}`] = v;
  return { struct: view, arg: flat };
}

/** An ioctl argument as user memory: the struct and tail, and arrays its pointers reach. */
export interface EncodedArg {
  /** The bytes the argument pointer points at: the struct, then any tail. */
  readonly buffer: Uint8Array;
  /** Arrays placed in user memory for pointer fields given as lists. */
  readonly user: readonly UserWrite[];
  /** The view of the struct that a union member given as a nested object selected, if any. */
  readonly view?: StructInfo;
  /** Each array pointer field's address, element struct and element count. */
  readonly arrays: readonly {
    readonly field: string;
    readonly addr: bigint;
    readonly element: StructInfo;
    readonly count: number;
  }[];
}

/**
 * Builds an ioctl's argument from the kernel's field names, for any struct
 * of the uAPI registry: `size`/`argsz` default to `sizeof`, other members to
 * 0; names stand for flag and enum values; a pointer to an array of
 * structs may be a list (placed in user memory, its count defaulting to
 * the list's length) or an address (0 = NULL); a union member is a nested
 * object (`dmabuf_get: { length }`), which selects the registry's view
 * `<struct>_<member>`; `size`/`argsz` larger than
 * the struct needs `tail`, exactly the bytes past it (the kernel reads
 * them). Any value the C member can hold passes through unchecked.
 *
 * @param ioctl - the ioctl's macro name (selects flag names and array pointers).
 * @param declared - the argument struct the ioctl's registry entry names.
 * @param given - the fields given.
 * @param b - earlier results.
 * @param index - the call's index, for errors.
 * @returns the user memory.
 * @throws UsageError for an unknown field, a value the member cannot hold,
 *   or a tail whose length is not `size` minus `sizeof`.
 */
export function encodeStructArg(
  ioctl: string,
  declared: StructInfo,
  given: Record<string, unknown>,
  b: Bindings,
  index: CallSite,
): EncodedArg {
  const { struct: s, arg } = unionView(declared, given, index);
  const fields = scalarFields(s);
  rejectUnknown(arg, [...fields.map((f) => f.name), "tail"], { index, field: "arg" });
  const values = new Map<string, bigint>();
  const user: UserWrite[] = [];
  const arrays: {
    field: string;
    addr: bigint;
    element: StructInfo;
    count: number;
  }[] = [];
  for (const [name, ptr] of Object.entries(ARRAY_POINTERS[ioctl] ?? {})) {
    const raw = arg[name];
    if (!Array.isArray(raw)) continue;
    const element = findUapiStruct(ptr.struct);
    if (element === undefined) throw new Error(`no struct ${ptr.struct}`);
    const addr = USER_SCRATCH + BigInt(user.length) * SCRATCH_STRIDE;
    const bytes = new Uint8Array(element.size * raw.length);
    (raw as unknown[]).forEach((e, i) => {
      const at = { index, field: `arg.${name}[${i}]` };
      const item = record(e, at, `a struct ${element.name}`);
      rejectUnknown(
        item,
        scalarFields(element).map((f) => f.name),
        at,
      );
      const v = new Map<string, bigint>();
      for (const f of scalarFields(element)) {
        const x = memberValue("", f, item[f.name], b, { index, field: `${at.field}.${f.name}` });
        if (x !== undefined) v.set(f.name, x);
      }
      bytes.set(packStruct(element, v), i * element.size);
    });
    user.push({ addr, bytes });
    values.set(name, addr);
    if (arg[ptr.count] === undefined) values.set(ptr.count, BigInt(raw.length));
    arrays.push({ field: name, addr, element, count: raw.length });
  }
  for (const f of fields) {
    if (values.has(f.name) && Array.isArray(arg[f.name])) continue;
    const v = memberValue(ioctl, f, arg[f.name], b, { index, field: `arg.${f.name}` });
    if (v !== undefined) values.set(f.name, v);
  }
  const sizeField = fields[0]?.name === "size" || fields[0]?.name === "argsz" ? fields[0] : null;
  if (sizeField !== null && !values.has(sizeField.name)) values.set(sizeField.name, BigInt(s.size));
  const struct = packStruct(s, values);
  const size = sizeField === null ? BigInt(s.size) : (values.get(sizeField.name) ?? 0n);
  const tail =
    arg["tail"] === undefined
      ? new Uint8Array(0)
      : tailBytes(arg["tail"], { index, field: "arg.tail" });
  const past = size > BigInt(s.size) ? size - BigInt(s.size) : 0n;
  if (BigInt(tail.length) !== past) {
    throw replayError(
      index,
      "arg.tail",
      `${sizeField?.name ?? "size"} ${size} with the ${s.size}-byte ${s.name} needs ${past} tail byte(s), got ${tail.length}`,
    );
  }
  const buffer = new Uint8Array(struct.length + tail.length);
  buffer.set(struct);
  buffer.set(tail, struct.length);
  // Pointers given as addresses: their arrays are decoded from what the kernel writes there.
  for (const [name, ptr] of Object.entries(ARRAY_POINTERS[ioctl] ?? {})) {
    if (Array.isArray(arg[name])) continue;
    const element = findUapiStruct(ptr.struct);
    const addr = values.get(name) ?? 0n;
    const count = Number(values.get(ptr.count) ?? 0n);
    if (element !== undefined && addr !== 0n) arrays.push({ field: name, addr, element, count });
  }
  return { buffer, user, arrays, ...(s === declared ? {} : { view: s }) };
}

/**
 * The arrays the kernel wrote through an argument's pointers, decoded:
 * for each array pointer, the elements that `written` covers in full.
 *
 * @param arrays - the argument's array pointers.
 * @param written - the user memory the kernel wrote.
 * @returns the decoded elements by pointer field (absent when nothing was written there).
 */
export function decodeWrittenArrays(
  arrays: EncodedArg["arrays"],
  written: readonly UserWrite[],
): Record<string, Record<string, number | bigint>[]> {
  const out: Record<string, Record<string, number | bigint>[]> = {};
  for (const a of arrays) {
    const size = BigInt(a.element.size);
    const elems: Record<string, number | bigint>[] = [];
    for (const w of written) {
      if (w.addr < a.addr || (w.addr - a.addr) % size !== 0n) continue;
      for (let at = 0; at + a.element.size <= w.bytes.length; at += a.element.size) {
        elems.push(
          decodeLeft(a.element, w.bytes.subarray(at, at + a.element.size), new Uint8Array(0)),
        );
      }
    }
    if (elems.length > 0) out[a.field] = elems;
  }
  return out;
}
