import { UsageError } from "../io/usage-error.js";

/** What earlier calls produced, by their `as` names. */
export interface Bindings {
  /** Return values (fds). */
  readonly rets: Map<string, number>;
  /** Structs written back, by field. */
  readonly outs: Map<string, Record<string, number | bigint>>;
}

/** An error in a replay file, naming the call's index and the field. */
export function replayError(index: number, field: string, message: string): UsageError {
  return new UsageError(`calls[${index}].${field}: ${message}`);
}

/**
 * Resolves a value: a number, a decimal or `0x` string, `name` (an
 * earlier call's return value) or `name.field` (a field it wrote back).
 *
 * @param v - the raw value.
 * @param b - the bindings so far.
 * @param at - index and field, for errors.
 * @returns the value as a bigint.
 */
export function resolveValue(
  v: unknown,
  b: Bindings,
  at: { index: number; field: string },
): bigint {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw replayError(at.index, at.field, `${v} is not an integer`);
    return BigInt(v);
  }
  if (typeof v === "bigint") return v;
  if (typeof v !== "string") throw replayError(at.index, at.field, "expected a number or a name");
  if (/^-?(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(v)) {
    return v.startsWith("-") ? -BigInt(v.slice(1)) : BigInt(v);
  }
  const [name, field, ...rest] = v.split(".");
  if (name === undefined || rest.length > 0)
    throw replayError(at.index, at.field, `bad reference "${v}"`);
  if (field === undefined) {
    const ret = b.rets.get(name);
    if (ret === undefined) throw replayError(at.index, at.field, `"${v}" names no earlier result`);
    return BigInt(ret);
  }
  const value = b.outs.get(name)?.[field];
  if (value === undefined)
    throw replayError(at.index, at.field, `"${v}" names no field written back`);
  return BigInt(value);
}

/**
 * Resolves a flags value: a number, or names (short like `GET` or the full
 * macro like `VFIO_DEVICE_FEATURE_GET`), ORed together.
 *
 * @param v - the raw value.
 * @param names - the known flags by short name.
 * @param prefix - the macro prefix of the full names.
 * @param b - the bindings so far.
 * @param at - index and field, for errors.
 * @returns the flags.
 */
export function resolveFlags(
  v: unknown,
  names: Readonly<Record<string, number>>,
  prefix: string,
  b: Bindings,
  at: { index: number; field: string },
): number {
  if (v === undefined) return 0;
  const list = Array.isArray(v)
    ? (v as unknown[])
    : typeof v === "string" && !/^(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(v)
      ? [v]
      : null;
  if (list === null) return Number(BigInt.asUintN(32, resolveValue(v, b, at)));
  let flags = 0;
  for (const item of list) {
    if (typeof item !== "string") throw replayError(at.index, at.field, "flag names are strings");
    const short = item.startsWith(prefix) ? item.slice(prefix.length) : item;
    const bit = names[short];
    if (bit === undefined) {
      throw replayError(
        at.index,
        at.field,
        `unknown flag "${item}" (known: ${Object.keys(names).join(", ")})`,
      );
    }
    flags |= bit;
  }
  return flags >>> 0;
}
