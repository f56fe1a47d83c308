/**
 * Shared helpers for the uAPI tests: narrowing a Result without non-null
 * assertions, arbitraries for each C scalar type, and the table of every
 * struct layout the module defines.
 */
import { expect } from "vitest";
import fc from "fast-check";
import { UAPI_LAYOUTS, formatKernelError } from "@dmabuf-ref/core";
import type { Errno, FieldLayout, KernelError, Result, StructLayout } from "@dmabuf-ref/core";

/** A decoded member: a number for 8/16/32-bit members, a bigint for 64-bit ones. */
export type Scalar = number | bigint;
/** A struct value seen generically, member name to scalar. */
export type AnyValue = Record<string, Scalar>;
/** Any struct layout, seen generically. */
export type AnyStruct = StructLayout<AnyValue>;

/** Every struct layout the uAPI module models (its registry's list). */
export const ALL_LAYOUTS = UAPI_LAYOUTS as readonly AnyStruct[];

export const U32_MAX = 0xffffffff;
export const U64_LIMIT = 2n ** 64n;

/** `__u32`: 0 ..= 2^32 - 1. */
export const u32Arb = fc.integer({ min: 0, max: U32_MAX });
/** `__s32`: -2^31 ..= 2^31 - 1. */
export const s32Arb = fc.integer({ min: -0x80000000, max: 0x7fffffff });
/** `__u64` / `__aligned_u64`: 0 ..= 2^64 - 1. */
export const u64Arb = fc.bigInt({ min: 0n, max: U64_LIMIT - 1n });

/** The members that are not a flexible array (the ones encode/decode carry). */
export function scalarFields(layout: { readonly fields: readonly FieldLayout[] }): FieldLayout[] {
  return layout.fields.filter((f) => !f.type.endsWith("[]"));
}

/** An arbitrary in-range value of one scalar C type. */
export function memberArb(type: string): fc.Arbitrary<Scalar> {
  switch (type) {
    case "u8":
      return fc.integer({ min: 0, max: 0xff });
    case "u16":
      return fc.integer({ min: 0, max: 0xffff });
    case "u32":
      return u32Arb;
    case "s32":
      return s32Arb;
    case "u64":
    case "aligned_u64":
      return u64Arb;
    default:
      throw new Error(`no arbitrary for member type ${type}`);
  }
}

/** An arbitrary in-range value of a whole struct. */
export function valueArb(layout: AnyStruct): fc.Arbitrary<AnyValue> {
  const model: Record<string, fc.Arbitrary<Scalar>> = {};
  for (const f of scalarFields(layout)) model[f.name] = memberArb(f.type);
  return fc.record(model);
}

/** One value just outside the range of each scalar C type, for schema rejection. */
export function outOfRange(type: string): readonly Scalar[] {
  switch (type) {
    case "u8":
      return [0x100, -1];
    case "u16":
      return [0x10000, -1];
    case "u32":
      return [2 ** 32, -1, 1.5];
    case "s32":
      return [2 ** 31, -(2 ** 31) - 1];
    case "u64":
    case "aligned_u64":
      return [-1n, U64_LIMIT];
    default:
      throw new Error(`no out-of-range values for member type ${type}`);
  }
}

/** The value of a successful call; fails the test on an error. */
export function expectOk<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${formatKernelError(r.error)}`);
  return r.value;
}

/** The error of a failed call: checks its errno and that its message is not empty. */
export function expectErrno(r: Result<unknown>, errno: Errno): KernelError {
  if (r.ok) throw new Error(`expected ${errno}, got success`);
  expect(r.error.errno).toBe(errno);
  expect(r.error.message.trim()).not.toBe("");
  return r.error;
}

/** "ok" or the errno: a compact outcome for properties. */
export function outcome(r: Result<unknown>): string {
  return r.ok ? "ok" : r.error.errno;
}

/** Concatenates byte arrays (a header followed by a tail, ...). */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
