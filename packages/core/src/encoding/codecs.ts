import type { Codec } from "./codec.js";
import { hashWords, pushString, pushU64 } from "./hash.js";

/**
 * Small codecs and combinators for the data drivers and mapping types keep
 * in the World (a dma-buf's `priv`, a mapping's payload, an accept's data):
 * each encodes its fields in a fixed order, so encoding costs what the value
 * holds and nothing reflects on keys at run time (DESIGN §2a). Model
 * machinery, not kernel objects.
 */

/** A `u64` (`bigint`, 0..2^64-1): two words. */
export const u64Codec: Codec<bigint> = {
  seed: 0xc064,
  encode: (v, out) => {
    pushU64(out, v);
  },
};

/** A 32-bit signed or unsigned integer (ids, counts, small enums). */
export const intCodec: Codec<number> = {
  seed: 0xc032,
  encode(v, out) {
    if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0xffff_ffff)
      throw new RangeError(`intCodec: ${String(v)} is not a 32-bit integer`);
    out.push(v | 0);
  },
};

/** A boolean: one word. */
export const boolCodec: Codec<boolean> = {
  seed: 0xc0b1,
  encode: (v, out) => void out.push(v ? 1 : 0),
};

/** A string (its characters, so equal strings encode alike in every process). */
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
 */
export function nullableCodec<T>(c: Codec<T>): Codec<T | null> {
  return orAbsent(c, (v): v is T => v !== null, 0x0e11);
}

/**
 * A value or undefined (an optional field).
 *
 * @param c - the value's codec.
 * @returns the codec.
 */
export function optionalCodec<T>(c: Codec<T>): Codec<T | undefined> {
  return orAbsent(c, (v): v is T => v !== undefined, 0x0f7e);
}

/**
 * A list: its length, then each element.
 *
 * @param c - the element's codec.
 * @returns the codec.
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
 */
export function decodedWith<T>(e: Encoded<unknown>, codec: Codec<T>, what: string): T {
  if (!isEncodedWith(e, codec))
    throw new Error(`${what} was not stored with the codec its reader expects`);
  return e.value;
}

/** The codec of any {@link Encoded} value: its codec's seed, then its encoding. */
export const encodedCodec: Codec<Encoded<unknown>> = {
  seed: 0xe9c0,
  encode(e, out) {
    out.push(e.codec.seed);
    e.codec.encode(e.value, out);
  },
};

/** The empty value: what a dma-buf or accept with no private data stores. */
export const NOTHING: Encoded<null> = encodedWith<null>(
  { seed: 0x0000_7e11, encode: () => undefined },
  null,
);
