import { hashWords } from "./hash.js";

/**
 * How one kind of World slice encodes itself canonically: to 32-bit words.
 * Equal values must encode to equal words; hashing and equality of worlds
 * use these encodings, never `JSON.stringify` (DESIGN §2a).
 *
 * @category Drivers
 */
export interface Codec<T> {
  /** Seed that keeps different slice kinds apart in hashes. */
  readonly seed: number;
  /**
   * Appends the value's canonical encoding.
   *
   * @param value - the slice value.
   * @param out - the words written so far.
   */
  encode(value: T, out: number[]): void;
  /**
   * Exact equality, for a slice whose encoding summarises a nested table
   * by its hash (then equal encodings alone would not prove equality).
   * Absent: equal encodings mean equal values.
   *
   * @param a - one value.
   * @param b - the other.
   */
  equals?(a: T, b: T): boolean;
}

/**
 * The encoding of a value as a fresh word list.
 *
 * @param codec - the slice's codec.
 * @param value - the value.
 * @returns its words.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { u64Codec } from "@dmabuf-ref/core";
 * import { encodeWith } from "@dmabuf-ref/core/encoding";
 *
 * // A u64 is two words, low first.
 * assert.deepEqual(encodeWith(u64Codec, 0x2_0000_0001n), [1, 2]);
 * ```
 * @category Codecs
 */
export function encodeWith<T>(codec: Codec<T>, value: T): number[] {
  const out: number[] = [];
  codec.encode(value, out);
  return out;
}

/**
 * The hash of a value under its codec.
 *
 * @param codec - the slice's codec.
 * @param value - the value.
 * @returns an unsigned 32-bit hash.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stringCodec } from "@dmabuf-ref/core";
 * import { hashWith } from "@dmabuf-ref/core/encoding";
 *
 * assert.equal(hashWith(stringCodec, "ram0"), hashWith(stringCodec, "ram0"));
 * assert.notEqual(hashWith(stringCodec, "ram0"), hashWith(stringCodec, "ram1"));
 * ```
 * @category Codecs
 */
export function hashWith<T>(codec: Codec<T>, value: T): number {
  return hashWords(encodeWith(codec, value), codec.seed);
}

/**
 * Whether two values have the same canonical encoding (identity first).
 *
 * @param codec - the slice's codec.
 * @param a - one value.
 * @param b - the other.
 * @returns true when they encode alike.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayCodec, intCodec } from "@dmabuf-ref/core";
 * import { equalWith } from "@dmabuf-ref/core/encoding";
 *
 * // Equal when they encode alike, whatever the objects.
 * const codec = arrayCodec(intCodec);
 * assert.equal(equalWith(codec, [1, 2], [1, 2]), true);
 * assert.equal(equalWith(codec, [1, 2], [2, 1]), false);
 * ```
 * @category Codecs
 */
export function equalWith<T>(codec: Codec<T>, a: T, b: T): boolean {
  if (a === b) return true;
  if (codec.equals !== undefined) return codec.equals(a, b);
  const x = encodeWith(codec, a);
  const y = encodeWith(codec, b);
  return x.length === y.length && x.every((w, i) => w === y[i]);
}
