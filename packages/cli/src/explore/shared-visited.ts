/*
 * The visited set `explore --workers` shares between threads: an
 * open-addressing table of 64-bit fingerprints on a SharedArrayBuffer, with
 * each slot's parent slot and transition label, filled with
 * compare-and-swap. The worker whose swap puts a fingerprint in a slot owns
 * that state and expands it at the next level, so no state is expanded
 * twice; workers move level by level together (a barrier), so a state is
 * claimed at its shortest depth and every witness is a shortest run.
 */

/** Parent of a state the main thread found before the split (never expanded by a worker). */
export const PREFIX_PARENT = -0x8000_0000;

/** The shared buffers, as sent to every worker. */
export interface SharedVisitedBuffers {
  /** Fingerprints, one BigInt64 per slot (0: empty). */
  readonly keys: SharedArrayBuffer;
  /** Parent slot per slot; `-1 - r` for root r; {@link PREFIX_PARENT}. */
  readonly parents: SharedArrayBuffer;
  /** Label (successor index) per slot. */
  readonly labels: SharedArrayBuffer;
  /**
   * Control words: [0] states stored, [1] barrier arrivals, [2] the table
   * is full; then two banks of one word per worker (next-level sizes).
   */
  readonly control: SharedArrayBuffer;
}

/** A view of the shared visited set. */
export class SharedVisited {
  readonly #keys: BigInt64Array;
  readonly #parents: Int32Array;
  readonly #labels: Int32Array;
  readonly #control: Int32Array;
  readonly #mask: number;
  readonly #limit: number;

  /**
   * @param buffers - the shared buffers.
   */
  constructor(readonly buffers: SharedVisitedBuffers) {
    this.#keys = new BigInt64Array(buffers.keys);
    this.#parents = new Int32Array(buffers.parents);
    this.#labels = new Int32Array(buffers.labels);
    this.#control = new Int32Array(buffers.control);
    this.#mask = this.#keys.length - 1;
    this.#limit = Math.floor(this.#keys.length * 0.7);
  }

  /**
   * Fresh buffers for a table of `capacity` slots (a power of two) and `workers` workers.
   *
   * @param capacity - slots.
   * @param workers - worker threads.
   * @returns the buffers.
   */
  static allocate(capacity: number, workers: number): SharedVisitedBuffers {
    return {
      keys: new SharedArrayBuffer(capacity * 8),
      parents: new SharedArrayBuffer(capacity * 4),
      labels: new SharedArrayBuffer(capacity * 4),
      control: new SharedArrayBuffer((3 + 2 * workers) * 4),
    };
  }

  /** States stored. */
  get size(): number {
    return Atomics.load(this.#control, 0);
  }

  /** True once the table passed 70% load: the search must stop. */
  get full(): boolean {
    return Atomics.load(this.#control, 2) !== 0;
  }

  /**
   * Stores a fingerprint unless present.
   *
   * @param hi - high 32 bits.
   * @param lo - low 32 bits.
   * @param parent - the parent's slot (or a root / prefix marker).
   * @param label - the transition's index among the parent's successors.
   * @returns the slot when this call stored it, -1 when it was there.
   */
  claim(hi: number, lo: number, parent: number, label: number): number {
    // Never 0 (an empty slot); signed, as a BigInt64Array stores it.
    const key = BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0) | 1n);
    let i = ((lo >>> 0) ^ Math.imul(hi, 0x9e3779b1)) & this.#mask;
    for (;;) {
      const old = Atomics.compareExchange(this.#keys, i, 0n, key);
      if (old === 0n) {
        this.#parents[i] = parent;
        this.#labels[i] = label;
        if (Atomics.add(this.#control, 0, 1) + 1 > this.#limit) Atomics.store(this.#control, 2, 1);
        return i;
      }
      if (old === key) return -1;
      i = (i + 1) & this.#mask;
    }
  }

  /**
   * The labels from a root to a slot, and the root's index.
   *
   * @param slot - a claimed slot.
   * @returns the path below the root.
   */
  pathTo(slot: number): { root: number; labels: number[] } {
    const labels: number[] = [];
    let at = slot;
    for (;;) {
      const p = this.#parents[at] ?? PREFIX_PARENT;
      if (p < 0) return { root: -1 - p, labels: labels.reverse() };
      labels.push(this.#labels[at] ?? 0);
      at = p;
    }
  }

  /**
   * Waits until every worker has finished `level`, having published how
   * many states it claimed for the next level and whether it saw a reason
   * to stop; every worker then reads the same answer.
   *
   * @param level - the level just finished (0-based).
   * @param worker - this worker's index.
   * @param workers - the number of workers.
   * @param next - the states this worker claimed for the next level.
   * @param stop - this worker saw the table full or the state bound reached.
   * @returns the states all claimed for the next level, and whether any saw a reason to stop.
   */
  barrier(
    level: number,
    worker: number,
    workers: number,
    next: number,
    stop: boolean,
  ): { next: number; stop: boolean } {
    const bank = 3 + (level % 2) * workers;
    Atomics.store(this.#control, bank + worker, next * 2 + (stop ? 1 : 0));
    const target = workers * (level + 1);
    const arrived = Atomics.add(this.#control, 1, 1) + 1;
    if (arrived === target) Atomics.notify(this.#control, 1);
    else {
      for (;;) {
        const now = Atomics.load(this.#control, 1);
        if (now >= target) break;
        Atomics.wait(this.#control, 1, now, 1000);
      }
    }
    let sum = 0;
    let anyStop = false;
    for (let w = 0; w < workers; w++) {
      const v = Atomics.load(this.#control, bank + w);
      sum += v >> 1;
      anyStop ||= (v & 1) === 1;
    }
    return { next: sum, stop: anyStop };
  }
}
