/**
 * Integer hashing for the World's canonical encoding (DESIGN §2a:
 * "Performance follows from the encoding"). Every slice encodes itself to
 * 32-bit integers; these functions fold such integers into a 32-bit hash.
 * Nothing here models a kernel object: it is the model's own machinery.
 */

/**
 * The MurmurHash3 finaliser: mixes all 32 bits of `h` into every output bit.
 *
 * @param h - a 32-bit value.
 * @returns the mixed value, unsigned.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fmix32 } from "@dmabuf-ref/core/encoding";
 *
 * // Every input bit reaches every output bit: neighbours land far apart.
 * assert.notEqual(fmix32(1), fmix32(2));
 * assert.ok(fmix32(1) >= 0 && fmix32(1) <= 0xffffffff);
 * assert.equal(fmix32(0), 0);
 * ```
 * @category Hashing
 */
export function fmix32(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Folds one 32-bit word into a running hash (MurmurHash3's body step).
 *
 * @param h - the running hash.
 * @param word - the next word of the encoding.
 * @returns the new running hash.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mixWord } from "@dmabuf-ref/core/encoding";
 *
 * // Folding is order-sensitive: [1, 2] and [2, 1] hash apart.
 * const fold = (words: number[]): number => words.reduce((h, w) => mixWord(h, w), 0);
 * assert.notEqual(fold([1, 2]), fold([2, 1]));
 * assert.equal(fold([1, 2]), fold([1, 2]));
 * ```
 * @category Hashing
 */
export function mixWord(h: number, word: number): number {
  let k = Math.imul(word | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let x = (h ^ k) | 0;
  x = (x << 13) | (x >>> 19);
  return (Math.imul(x, 5) + 0xe6546b64) | 0;
}

/**
 * Hashes an encoding (a list of 32-bit words).
 *
 * @param words - the encoding.
 * @param seed - distinguishes kinds of slices that could encode alike.
 * @returns an unsigned 32-bit hash.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashWords } from "@dmabuf-ref/core/encoding";
 *
 * // The same words hash alike; another seed (another slice kind) hashes apart.
 * assert.equal(hashWords([1, 2, 3], 7), hashWords([1, 2, 3], 7));
 * assert.notEqual(hashWords([1, 2, 3], 7), hashWords([1, 2, 3], 8));
 * assert.notEqual(hashWords([1, 2, 3]), hashWords([1, 2, 3, 0]));
 * ```
 * @category Hashing
 */
export function hashWords(words: readonly number[], seed = 0): number {
  let h = seed | 0;
  for (let i = 0; i < words.length; i++) h = mixWord(h, words[i] as number);
  return fmix32(h ^ words.length);
}

/**
 * XORed into a codec's seed for the second hash of every table entry: two
 * independent 32-bit hashes make the 64-bit fingerprint an explorer keys its
 * visited set by (at 10^6 states a 32-bit hash would collide ~100 times).
 * @category Hashing
 */
export const SECOND_LANE_SEED = 0x6a09e667;

/**
 * Appends a u64 quantity as two 32-bit words (low, high).
 *
 * @param out - the encoding being built.
 * @param v - a non-negative bigint below 2^64.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushU64 } from "@dmabuf-ref/core/encoding";
 *
 * // Low word first, then the high word (each as a signed 32-bit integer).
 * const out: number[] = [];
 * pushU64(out, 0x1_0000_0002n);
 * assert.deepEqual(out, [2, 1]);
 * ```
 * @category Hashing
 */
export function pushU64(out: number[], v: bigint): void {
  // A value below 2^53 (every physical address: x86-64 and arm64 allow at
  // most 52 bits; nearly every IOVA and length) splits as a double, exactly:
  // three BigInt operations allocate a BigInt each, and every table write
  // encodes a few u64s. Above it, the BigInt split.
  const n = Number(v);
  if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
    out.push(n | 0, (n / 0x1_0000_0000) | 0);
    return;
  }
  out.push(Number(v & 0xffffffffn) | 0, Number((v >> 32n) & 0xffffffffn) | 0);
}

/**
 * Appends an optional string: 0 when absent, else 1 and the string (see
 * {@link pushString}), so an absent name and an empty one encode apart.
 *
 * @param out - the words written so far.
 * @param s - the string, or null / undefined.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushOptionalString } from "@dmabuf-ref/core/encoding";
 *
 * // An absent holder and an empty one encode apart.
 * const none: number[] = [];
 * const empty: number[] = [];
 * pushOptionalString(none, null);
 * pushOptionalString(empty, "");
 * assert.deepEqual(none, [0]);
 * assert.deepEqual(empty, [1, 0]);
 * ```
 * @category Hashing
 */
export function pushOptionalString(out: number[], s: string | null | undefined): void {
  if (s === null || s === undefined) {
    out.push(0);
    return;
  }
  out.push(1);
  pushString(out, s);
}

/**
 * Appends a string's canonical encoding: its length, then its UTF-16 code
 * units two per word. Deterministic across processes (no intern table), for
 * codecs of names (devices, regions, processes).
 *
 * @param out - the words written so far.
 * @param s - the string.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushString } from "@dmabuf-ref/core/encoding";
 *
 * // The length, then two UTF-16 units per word: "exp0" is 3 words.
 * const out: number[] = [];
 * pushString(out, "exp0");
 * assert.equal(out.length, 3);
 * assert.equal(out[0], 4);
 * assert.equal(out[1], "e".charCodeAt(0) | ("x".charCodeAt(0) << 16));
 * ```
 * @category Hashing
 */
export function pushString(out: number[], s: string): void {
  out.push(s.length);
  for (let i = 0; i < s.length; i += 2) {
    out.push(s.charCodeAt(i) | ((i + 1 < s.length ? s.charCodeAt(i + 1) : 0) << 16));
  }
}
