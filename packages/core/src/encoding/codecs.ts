import type { Codec } from "./codec.js";
import { hashWords, pushString, pushU64 } from "./hash.js";

/**
 * Small codecs and combinators for the data drivers and mapping types keep
 * in the World (a dma-buf's `priv`, a mapping's payload, an accept's data):
 * each encodes its fields in a fixed order, so encoding costs what the value
 * holds and nothing reflects on keys at run time (DESIGN §2a). Model
 * machinery, not kernel objects.
 */

/**
 * A `u64` (`bigint`, 0..2^64-1): two words.
 *
 * @category Drivers
 */
export const u64Codec: Codec<bigint> = {
  seed: 0xc064,
  encode: (v, out) => {
    pushU64(out, v);
  },
};

/**
 * A 32-bit signed or unsigned integer (ids, counts, small enums).
 *
 * @category Drivers
 */
export const intCodec: Codec<number> = {
  seed: 0xc032,
  encode(v, out) {
    if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0xffff_ffff)
      throw new RangeError(`intCodec: ${String(v)} is not a 32-bit integer`);
    out.push(v | 0);
  },
};

/**
 * A boolean: one word.
 *
 * @category Drivers
 */
export const boolCodec: Codec<boolean> = {
  seed: 0xc0b1,
  encode: (v, out) => void out.push(v ? 1 : 0),
};

/**
 * A string (its characters, so equal strings encode alike in every process).
 *
 * @category Drivers
 */
export const stringCodec: Codec<string> = {
  seed: 0xc057,
  encode: (v, out) => {
    pushString(out, v);
  },
};

/** A value or a marker of its absence (null, undefined): a presence word, then the value. */
function orAbsent<T, A extends null | undefined>(
  c: Codec<T>,
  present: (v: T | A) => v is T,
  mix: number,
): Codec<T | A> {
  return {
    seed: c.seed ^ mix,
    encode(v, out) {
      if (present(v)) {
        out.push(1);
        c.encode(v, out);
      } else out.push(0);
    },
  };
}

/**
 * A value or null.
 *
 * @param c - the value's codec.
 * @returns the codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodedWith, nullableCodec, stringCodec } from "@dmabuf-ref/core";
 *
 * // A region name that may be absent: a presence word, then the string.
 * const name = nullableCodec(stringCodec);
 * const none: number[] = [];
 * name.encode(null, none);
 * assert.deepEqual(none, [0]);
 * const some: number[] = [];
 * name.encode("gpu0.bar0", some);
 * assert.equal(some[0], 1);
 * assert.equal(encodedWith(name, null).value, null);
 * ```
 * @category Drivers
 */
export function nullableCodec<T>(c: Codec<T>): Codec<T | null> {
  return orAbsent(c, (v): v is T => v !== null, 0x0e11);
}

/**
 * A value or undefined (an optional field).
 *
 * @param c - the value's codec.
 * @returns the codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { optionalCodec, u64Codec } from "@dmabuf-ref/core";
 *
 * // An optional IOVA: absent encodes as one 0 word, present as 1 then the u64.
 * const iova = optionalCodec(u64Codec);
 * const absent: number[] = [];
 * iova.encode(undefined, absent);
 * assert.deepEqual(absent, [0]);
 * const present: number[] = [];
 * iova.encode(0x1_0000_0000n, present);
 * assert.equal(present[0], 1);
 * assert.equal(present.length, 3);
 * ```
 * @category Drivers
 */
export function optionalCodec<T>(c: Codec<T>): Codec<T | undefined> {
  return orAbsent(c, (v): v is T => v !== undefined, 0x0f7e);
}

/**
 * A list: its length, then each element.
 *
 * @param c - the element's codec.
 * @returns the codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayCodec, intCodec } from "@dmabuf-ref/core";
 *
 * // A list of BAR indexes: its length, then each element.
 * const bars = arrayCodec(intCodec);
 * const out: number[] = [];
 * bars.encode([0, 2], out);
 * assert.deepEqual(out, [2, 0, 2]);
 * ```
 * @category Drivers
 */
export function arrayCodec<T>(c: Codec<T>): Codec<readonly T[]> {
  return {
    seed: c.seed ^ 0xa77a,
    encode(v, out) {
      out.push(v.length);
      for (const x of v) c.encode(x, out);
    },
  };
}

/**
 * One of a fixed set of strings, encoded as its position.
 *
 * @param values - the allowed strings.
 * @returns the codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { oneOfCodec } from "@dmabuf-ref/core";
 *
 * // A DMA direction is stored as its position in the list.
 * const dir = oneOfCodec(["to-device", "from-device", "bidirectional"]);
 * const out: number[] = [];
 * dir.encode("from-device", out);
 * assert.deepEqual(out, [1]);
 * assert.throws(() => {
 *   dir.encode("sideways" as "to-device", []);
 * }, RangeError);
 * ```
 * @category Drivers
 */
export function oneOfCodec<T extends string>(values: readonly T[]): Codec<T> {
  const position = new Map<string, number>(values.map((v, i) => [v, i]));
  return {
    seed: 0xc0e0 ^ values.length,
    encode(v, out) {
      const i = position.get(v);
      if (i === undefined)
        throw new RangeError(`oneOfCodec: "${v}" is not one of ${values.join(", ")}`);
      out.push(i);
    },
  };
}

/**
 * A record: every field in the order the `fields` object lists them.
 *
 * @param name - names the record kind (its hash seed), e.g. `"vfio-dmabuf-priv"`.
 * @param fields - a codec per field.
 * @returns the codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intCodec, recordCodec, u64Codec } from "@dmabuf-ref/core";
 *
 * // A driver's dma-buf priv: its fields in the order listed.
 * interface BarSlice {
 *   readonly bar: number;
 *   readonly offset: bigint;
 * }
 * const priv = recordCodec<BarSlice>("my-bar-priv", { bar: intCodec, offset: u64Codec });
 * const a: number[] = [];
 * priv.encode({ bar: 2, offset: 0x1000n }, a);
 * const b: number[] = [];
 * priv.encode({ bar: 2, offset: 0x2000n }, b);
 * assert.equal(a[0], 2);
 * assert.notDeepEqual(a, b);
 * ```
 * @category Drivers
 */
export function recordCodec<T extends object>(
  name: string,
  fields: { readonly [K in keyof T]-?: Codec<T[K]> },
): Codec<T> {
  const keys = Object.keys(fields) as (keyof T)[];
  const nameWords: number[] = [];
  pushString(nameWords, name);
  return {
    seed: hashWords(nameWords),
    encode(v, out) {
      for (const k of keys) fields[k].encode(v[k], out);
    },
  };
}

/**
 * A value stored with the codec that encodes it: how the World holds data
 * whose type only a driver or a mapping type knows (`dmabuf->priv`, a
 * mapping's payload, an accept's data) and still encodes it without
 * reflection. The codec's identity also says the value's type, so a reader
 * holding the same codec gets the value back typed ({@link decodedWith}).
 *
 * @category Drivers
 */
export interface Encoded<T> {
  /** How the value encodes (and, by identity, its type). */
  readonly codec: Codec<T>;
  /** The value. */
  readonly value: T;
}

/**
 * Stores a value with its codec.
 *
 * @param codec - the value's codec.
 * @param value - the value.
 * @returns the stored value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodedWith, isEncodedWith, u64Codec } from "@dmabuf-ref/core";
 *
 * // An exporter stores a buffer's BAR offset with the codec that encodes it.
 * const priv = encodedWith(u64Codec, 0x8000n);
 * assert.equal(priv.value, 0x8000n);
 * assert.ok(isEncodedWith(priv, u64Codec));
 * assert.ok(Object.isFrozen(priv));
 * ```
 * @category Drivers
 */
export function encodedWith<T>(codec: Codec<T>, value: T): Encoded<T> {
  return Object.freeze({ codec, value });
}

/**
 * Whether a stored value was stored with `codec` (and so is a `T`).
 *
 * @param e - the stored value.
 * @param codec - the codec its reader knows.
 * @returns true when the codecs are the same object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NOTHING, encodedWith, intCodec, isEncodedWith, u64Codec } from "@dmabuf-ref/core";
 *
 * // The codec's identity says the value's type.
 * const priv = encodedWith(u64Codec, 0x8000n);
 * assert.equal(isEncodedWith(priv, u64Codec), true);
 * assert.equal(isEncodedWith(priv, intCodec), false);
 * assert.equal(isEncodedWith(NOTHING, u64Codec), false);
 * ```
 * @category Drivers
 */
export function isEncodedWith<T>(e: Encoded<unknown>, codec: Codec<T>): e is Encoded<T> {
  return e.codec === codec;
}

/**
 * The value stored with `codec`; a value stored with another codec is a
 * model bug (a driver reading another driver's data).
 *
 * @param e - the stored value.
 * @param codec - the codec it was stored with.
 * @param what - names the value in the error.
 * @returns the value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodedWith, encodedWith, intCodec, u64Codec } from "@dmabuf-ref/core";
 *
 * // The reader that holds the codec gets the value back typed.
 * const priv = encodedWith(u64Codec, 0x8000n);
 * const offset: bigint = decodedWith(priv, u64Codec, "dmabuf->priv");
 * assert.equal(offset, 0x8000n);
 * // Another driver's codec: a model bug, thrown.
 * assert.throws(() => decodedWith(priv, intCodec, "dmabuf->priv"), /dmabuf->priv was not stored/);
 * ```
 * @category Drivers
 */
export function decodedWith<T>(e: Encoded<unknown>, codec: Codec<T>, what: string): T {
  if (!isEncodedWith(e, codec))
    throw new Error(`${what} was not stored with the codec its reader expects`);
  return e.value;
}

/**
 * The codec of any {@link Encoded} value: its codec's seed, then its encoding.
 *
 * @category Codecs
 */
export const encodedCodec: Codec<Encoded<unknown>> = {
  seed: 0xe9c0,
  encode(e, out) {
    out.push(e.codec.seed);
    e.codec.encode(e.value, out);
  },
};

/**
 * The empty value: what a dma-buf or accept with no private data stores.
 *
 * @category Drivers
 */
export const NOTHING: Encoded<null> = encodedWith<null>(
  { seed: 0x0000_7e11, encode: () => undefined },
  null,
);
