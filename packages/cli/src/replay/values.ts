import { UsageError } from "../io/usage-error.js";

/** What earlier calls produced, by their `as` names. */
export interface Bindings {
  /** Return values (fds, addresses). */
  readonly rets: Map<string, bigint>;
  /** Structs written back (and a mapping's `addr`), by field. */
  readonly outs: Map<string, Record<string, number | bigint>>;
  /** Names whose call failed and bound nothing: which call, and its errno. */
  readonly unbound: Map<string, string>;
  /**
   * The dma-bufs the file named: a call that exported one (a
   * `VFIO_DEVICE_FEATURE` DMA_BUF, an `export` op) bound its fd with `as`.
   * The model numbers buffers; answers show the user's names (`buf0`).
   */
  readonly buffers: Map<number, string>;
}

/** Bindings before the first call. */
export function emptyBindings(): Bindings {
  return { rets: new Map(), outs: new Map(), unbound: new Map(), buffers: new Map() };
}

/**
 * Where a call sits in its file, for errors: an index into a replay's
 * `calls`, or a scenario's path (`init[2]`, `threads.vmm[0]`).
 */
export type CallSite = number | string;

/** An error in a replay or scenario file, naming the call and the field. */
export function replayError(index: CallSite, field: string, message: string): UsageError {
  return new UsageError(
    `${typeof index === "number" ? `calls[${index}]` : index}.${field}: ${message}`,
  );
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
  at: { index: CallSite; field: string },
): bigint {
  if (typeof v === "number") {
    if (Number.isInteger(v) && !Number.isSafeInteger(v))
      // YAML and JSON numbers are doubles: past 2^53 the digits were already
      // rounded, so the value the file meant is unknown.
      throw replayError(
        at.index,
        at.field,
        `${v} is an unquoted integer above 2^53, rounded when the file was read: ` +
          `quote it ("0x...")`,
      );
    if (!Number.isSafeInteger(v)) throw replayError(at.index, at.field, `${v} is not an integer`);
    return BigInt(v);
  }
  if (typeof v === "bigint") return v;
  if (typeof v !== "string") throw replayError(at.index, at.field, "expected a number or a name");
  if (/^-?(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(v)) {
    return v.startsWith("-") ? -BigInt(v.slice(1)) : BigInt(v);
  }
  // Something that starts like a number but is not one ("0x", "0x20g000",
  // "12ab", "NaN", "1e6") is a malformed number, not a name: a name starts
  // with a letter or _ and never spells NaN or Infinity.
  if (/^-?[0-9]/.test(v) || /^-?(NaN|Infinity)$/i.test(v))
    throw replayError(
      at.index,
      at.field,
      `${JSON.stringify(v)} is not a number (decimal, or hex after 0x)`,
    );
  const [name, field, ...rest] = v.split(".");
  if (name === undefined || rest.length > 0)
    throw replayError(at.index, at.field, `bad reference "${v}"`);
  const failed = b.unbound.get(name);
  if (failed !== undefined)
    throw replayError(at.index, at.field, `"${v}" is unbound: ${failed}, so it bound nothing`);
  if (field === undefined) {
    const ret = b.rets.get(name);
    if (ret === undefined) throw replayError(at.index, at.field, `"${v}" names no earlier result`);
    return ret;
  }
  const out = b.outs.get(name);
  if (out === undefined) {
    const why = b.rets.has(name)
      ? `the call bound to ${name} wrote no struct back`
      : "no earlier result";
    throw replayError(at.index, at.field, `"${v}" names ${why}`);
  }
  const value = out[field];
  if (value === undefined) {
    throw replayError(
      at.index,
      at.field,
      `"${v}" names no field written back (${name} has: ${Object.keys(out).join(", ")})`,
    );
  }
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
  at: { index: CallSite; field: string },
): number {
  if (v === undefined) return 0;
  // A single string that names no flag but an earlier result is a value.
  if (
    typeof v === "string" &&
    names[v.startsWith(prefix) ? v.slice(prefix.length) : v] === undefined
  ) {
    const [name] = v.split(".");
    if (name !== undefined && (v.includes(".") || b.rets.has(name) || b.unbound.has(name)))
      return Number(BigInt.asUintN(32, resolveValue(v, b, at)));
  }
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
