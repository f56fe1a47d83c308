/**
 * The explorer's visited set (DESIGN §2a, §3.9): 64-bit fingerprints of
 * canonical worlds in an open-addressing table on typed arrays, each mapped
 * to the number of the state it identifies. V8's `Map` and `Set` stop at
 * 2^24 entries and cost ~80 bytes an entry; this costs 12 bytes a slot at a
 * load of at most one half. Model machinery, not a kernel object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FingerprintSet } from "@dmabuf-ref/core";
 *
 * // A world's 64-bit fingerprint is stored once, for the first state number given.
 * const seen = new FingerprintSet();
 * assert.equal(seen.intern(0xdead_beef, 0x0000_1234, 0), 0);
 * assert.equal(seen.intern(0xdead_beef, 0x0000_1234, 7), 0); // known: state 0
 * assert.equal(seen.intern(0xdead_beef, 0x0000_1235, 1), 1); // new
 * assert.equal(seen.size, 2);
 * ```
 * @category Exploration
 */
export class FingerprintSet {
  #hi: Uint32Array;
  #lo: Uint32Array;
  /** State number + 1 per slot; 0 marks an empty slot. */
  #ids: Int32Array;
  #mask: number;
  #size = 0;

  /** @param capacity - initial slots (rounded up to a power of two, at least 1024). */
  constructor(capacity = 1 << 12) {
    let n = 1024;
    while (n < capacity) n *= 2;
    this.#hi = new Uint32Array(n);
    this.#lo = new Uint32Array(n);
    this.#ids = new Int32Array(n);
    this.#mask = n - 1;
  }

  /** Fingerprints stored. */
  get size(): number {
    return this.#size;
  }

  /** Bytes the table's arrays take. */
  get bytes(): number {
    return this.#ids.length * 12;
  }

  /**
   * The state a fingerprint was stored for, or stores it for `id`.
   *
   * @param hi - the fingerprint's high 32 bits.
   * @param lo - its low 32 bits.
   * @param id - the state number to store when the fingerprint is new.
   * @returns the stored state number: `id` when it was new, the earlier one otherwise.
   */
  intern(hi: number, lo: number, id: number): number {
    if ((this.#size + 1) * 2 > this.#ids.length) this.#grow();
    const h = hi >>> 0;
    const l = lo >>> 0;
    let i = (l ^ Math.imul(h, 0x9e3779b1)) & this.#mask;
    for (;;) {
      const at = this.#ids[i] ?? 0;
      if (at === 0) {
        this.#hi[i] = h;
        this.#lo[i] = l;
        this.#ids[i] = id + 1;
        this.#size++;
        return id;
      }
      if (this.#hi[i] === h && this.#lo[i] === l) return at - 1;
      i = (i + 1) & this.#mask;
    }
  }

  /**
   * Every fingerprint stored, as (high, low) pairs.
   *
   * @returns a fresh array of 2 x size words.
   */
  fingerprints(): Uint32Array {
    const out = new Uint32Array(this.#size * 2);
    let k = 0;
    for (let j = 0; j < this.#ids.length; j++) {
      if ((this.#ids[j] ?? 0) === 0) continue;
      out[k++] = this.#hi[j] ?? 0;
      out[k++] = this.#lo[j] ?? 0;
    }
    return out;
  }

  #grow(): void {
    const hi = this.#hi;
    const lo = this.#lo;
    const ids = this.#ids;
    const n = ids.length * 2;
    this.#hi = new Uint32Array(n);
    this.#lo = new Uint32Array(n);
    this.#ids = new Int32Array(n);
    this.#mask = n - 1;
    this.#size = 0;
    for (let j = 0; j < ids.length; j++) {
      const id = ids[j] ?? 0;
      if (id !== 0) this.intern(hi[j] ?? 0, lo[j] ?? 0, id - 1);
    }
  }
}

/**
 * A growable column of 32-bit integers (parent links, transition labels):
 * 4 bytes a state, doubling as it fills.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IntColumn } from "@dmabuf-ref/core";
 *
 * // Parent links of a search: state 0 is a root (-1), states 1 and 2 come from 0.
 * const parents = new IntColumn();
 * for (const p of [-1, 0, 0]) parents.push(p);
 * assert.equal(parents.length, 3);
 * assert.equal(parents.at(2), 0);
 * ```
 * @category Exploration
 */
export class IntColumn {
  #data = new Int32Array(1024);
  #length = 0;

  /** Entries stored. */
  get length(): number {
    return this.#length;
  }

  /** Bytes the column takes. */
  get bytes(): number {
    return this.#data.length * 4;
  }

  /**
   * Appends a value.
   *
   * @param v - the value.
   */
  push(v: number): void {
    if (this.#length === this.#data.length) {
      const next = new Int32Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#length++] = v;
  }

  /**
   * The value at an index.
   *
   * @param i - the index, below {@link IntColumn.length}.
   * @returns the value.
   */
  at(i: number): number {
    return this.#data[i] ?? 0;
  }
}
