import type { Codec } from "../encoding/codec.js";
import { PTable } from "../encoding/ptable.js";

/**
 * How many slices a driver may declare: its block of `World.drivers` ids (the last is the untyped one).
 *
 * @category Drivers
 */
export const SLICES_PER_DRIVER = 16;

/**
 * One slice of a driver's private state (the model of the driver's own
 * kernel objects: iommufd's `ictx->objects`, VFIO's per-device state, KVM's
 * memslots), declared with the codec that encodes it. A driver lists its
 * slices (`slices` in its driver object) and reads and writes them with
 * `readSlice` / `writeSlice`, typed by the definition: no cast, and no
 * reflective encoding on the hot path. Make a slice a {@link PTable} of the
 * driver's objects ({@link tableSlice}) so a change to one object costs
 * O(that object) to encode and hash.
 *
 * @typeParam T - the slice's value.
 *
 * @category Drivers
 */
export interface SliceDef<T> {
  /** The slice's name, unique within its driver (for errors and listings). */
  readonly name: string;
  /** How its value encodes, hashes and compares. */
  readonly codec: Codec<T>;
  /** Its value before the driver first writes it. */
  readonly initial: T;
}

/**
 * Declares a driver slice.
 *
 * @param name - its name within the driver.
 * @param codec - how its value encodes.
 * @param initial - its value in a world that booted.
 * @returns the definition, to list in the driver's `slices`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineSlice, intCodec } from "@dmabuf-ref/core";
 *
 * // A driver's count of open device fds, 0 in a booted world.
 * const openFds = defineSlice("open-fds", intCodec, 0);
 * assert.equal(openFds.name, "open-fds");
 * assert.equal(openFds.initial, 0);
 * assert.ok(Object.isFrozen(openFds));
 * ```
 * @category Drivers
 */
export function defineSlice<T>(name: string, codec: Codec<T>, initial: T): SliceDef<T> {
  return Object.freeze({ name, codec, initial });
}

/**
 * A slice that is a table of the driver's objects by id: it encodes as its
 * size and cached hash (O(1)) and compares structurally, so changing one
 * object re-hashes that object only.
 *
 * @param name - the slice's name.
 * @param codec - how one object encodes.
 * @returns the definition; its initial value is the empty table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordCodec, stringCodec, tableSlice, u64Codec } from "@dmabuf-ref/core";
 *
 * // iommufd's objects by id: a table that starts empty.
 * interface Ioas {
 *   readonly owner: string;
 *   readonly mapped: bigint;
 * }
 * const ioas = recordCodec<Ioas>("my-ioas", { owner: stringCodec, mapped: u64Codec });
 * const objects = tableSlice("objects", ioas);
 * assert.equal(objects.initial.size, 0);
 * const one = objects.initial.set(1, { owner: "vmm", mapped: 0x20_0000n });
 * assert.equal(one.get(1)?.mapped, 0x20_0000n);
 * ```
 * @category Drivers
 */
export function tableSlice<T>(name: string, codec: Codec<T>): SliceDef<PTable<T>> {
  return defineSlice(name, tableCodec(codec), PTable.empty(codec));
}

/**
 * The codec of a table-valued slice or field: size and cached hash, with
 * structural equality (the hash alone cannot prove two tables equal).
 *
 * @param codec - the codec of the table's values (its seed keeps kinds apart).
 * @returns the codec of the table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableCodec, tableSlice, u64Codec } from "@dmabuf-ref/core";
 *
 * // A table encodes as its size and cached hashes: three words whatever it holds.
 * const codec = tableCodec(u64Codec);
 * const t = tableSlice("iovas", u64Codec).initial.set(1, 0x1000_0000n).set(2, 0x1000_4000n);
 * const out: number[] = [];
 * codec.encode(t, out);
 * assert.equal(out.length, 3);
 * assert.equal(out[0], 2);
 * assert.equal(codec.equals?.(t, t.delete(2).set(2, 0x1000_4000n)), true);
 * ```
 * @category Drivers
 */
export function tableCodec<T>(codec: Codec<T>): Codec<PTable<T>> {
  return {
    seed: codec.seed ^ 0x7ab1e,
    encode(t, out) {
      out.push(t.size, t.hash | 0, t.hash2 | 0);
    },
    equals: (a, b) => a.equals(b),
  };
}

/**
 * The codec of a table whose ids are slots nothing observes (a domain's
 * mapped ranges, a memslot's stage-2 entries, an IOAS's areas): its values
 * as a set, so two tables holding the same values under other ids are
 * equal and hash alike (`PTable.sameValues`, `valuesHash`).
 *
 * @param codec - the codec of the table's values.
 * @returns the codec of the table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setCodec, tableSlice, u64Codec } from "@dmabuf-ref/core";
 *
 * // The same IOVAs under other slot ids: equal as sets, unequal as tables.
 * const empty = tableSlice("iovas", u64Codec).initial;
 * const a = empty.set(1, 0x1000_0000n).set(2, 0x1000_4000n);
 * const b = empty.set(1, 0x1000_4000n).set(2, 0x1000_0000n);
 * assert.equal(setCodec(u64Codec).equals?.(a, b), true);
 * assert.equal(a.equals(b), false);
 * ```
 * @category Drivers
 */
export function setCodec<T>(codec: Codec<T>): Codec<PTable<T>> {
  return {
    seed: codec.seed ^ 0x5e7,
    encode(t, out) {
      out.push(t.size, t.valuesHash | 0, t.valuesHash2 | 0);
    },
    equals: (a, b) => a.sameValues(b),
  };
}

/**
 * A driver's queue of objects in flight: the objects by id (lowest free, so
 * ids repeat) and the order they arrived in, which the kernel's behaviour
 * depends on (who holds a lock, whose continuation runs first). Model
 * state: `order` holds exactly the ids of `byId`.
 *
 * @typeParam T - the queued object.
 *
 * @category Drivers
 */
export interface ArrivalQueue<T> {
  /** The objects, by id. */
  readonly byId: PTable<T>;
  /** Their ids, oldest first. */
  readonly order: readonly number[];
}

/**
 * The codec of an {@link ArrivalQueue}: the table (size, cached hash) and the
 * order; equality compares the tables structurally and the order exactly.
 *
 * @param codec - the codec of one queued object.
 * @returns the queue's codec.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intCodec } from "@dmabuf-ref/core";
 * import { PTable, arrivalQueueCodec, equalWith } from "@dmabuf-ref/core/encoding";
 *
 * // Queues of the same items in another arrival order encode apart.
 * const codec = arrivalQueueCodec(intCodec);
 * const byId = PTable.empty(intCodec).set(1, 10).set(2, 20);
 * assert.equal(equalWith(codec, { byId, order: [1, 2] }, { byId, order: [1, 2] }), true);
 * assert.equal(equalWith(codec, { byId, order: [1, 2] }, { byId, order: [2, 1] }), false);
 * ```
 * @category Codecs
 */
export function arrivalQueueCodec<T>(codec: Codec<T>): Codec<ArrivalQueue<T>> {
  return {
    seed: codec.seed ^ 0x9e0e,
    encode(q, out) {
      out.push(q.byId.size, q.byId.hash | 0, q.byId.hash2 | 0, q.order.length, ...q.order);
    },
    equals: (a, b) =>
      a.byId.equals(b.byId) &&
      a.order.length === b.order.length &&
      a.order.every((id, i) => id === b.order[i]),
  };
}

/**
 * The queue with one more object at its tail.
 *
 * @param q - the queue.
 * @param id - the new object's id (not in the queue yet).
 * @param item - the object.
 * @returns the new queue.
 * @throws when the id is already queued (a driver bug).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrivalOrder, arrivalPush, arrivalQueueSlice, stringCodec } from "@dmabuf-ref/core";
 *
 * // Waiters on a lock, in the order they arrived.
 * const empty = arrivalQueueSlice("waiters", stringCodec).initial;
 * const q = arrivalPush(arrivalPush(empty, 2, "vfio0 FLR"), 1, "gpu move");
 * assert.deepEqual(q.order, [2, 1]);
 * assert.deepEqual(arrivalOrder(q), ["vfio0 FLR", "gpu move"]);
 * assert.throws(() => arrivalPush(q, 1, "again"), /already queued/);
 * ```
 * @category Drivers
 */
export function arrivalPush<T>(q: ArrivalQueue<T>, id: number, item: T): ArrivalQueue<T> {
  if (q.byId.has(id)) throw new Error(`queue: ${String(id)} is already queued`);
  return { byId: q.byId.set(id, item), order: [...q.order, id] };
}

/**
 * The queue without one object (unchanged when it is absent).
 *
 * @param q - the queue.
 * @param id - the object's id.
 * @returns the new queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrivalPush, arrivalQueueSlice, arrivalRemove, stringCodec } from "@dmabuf-ref/core";
 *
 * const empty = arrivalQueueSlice("waiters", stringCodec).initial;
 * const q = arrivalPush(arrivalPush(empty, 1, "vfio0 FLR"), 2, "gpu move");
 * assert.deepEqual(arrivalRemove(q, 1).order, [2]);
 * // Removing what is not queued changes nothing.
 * assert.equal(arrivalRemove(q, 7), q);
 * ```
 * @category Drivers
 */
export function arrivalRemove<T>(q: ArrivalQueue<T>, id: number): ArrivalQueue<T> {
  if (!q.byId.has(id)) return q;
  return { byId: q.byId.delete(id), order: q.order.filter((x) => x !== id) };
}

/**
 * The queued objects, oldest first.
 *
 * @param q - the queue.
 * @returns the objects in arrival order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrivalOrder, arrivalPush, arrivalQueueSlice, intCodec } from "@dmabuf-ref/core";
 *
 * // Fences queued by id 3, then 1: the oldest comes first, whatever its id.
 * const empty = arrivalQueueSlice("fences", intCodec).initial;
 * const q = arrivalPush(arrivalPush(empty, 3, 30), 1, 10);
 * assert.deepEqual(arrivalOrder(q), [30, 10]);
 * ```
 * @category Drivers
 */
export function arrivalOrder<T>(q: ArrivalQueue<T>): T[] {
  return q.order.map((id) => {
    const item = q.byId.get(id);
    if (item === undefined) throw new Error(`queue: ${String(id)} ordered but absent`);
    return item;
  });
}

/**
 * A slice that is an {@link ArrivalQueue} of the driver's objects.
 *
 * @param name - the slice's name.
 * @param codec - how one object encodes.
 * @returns the definition; its initial value is the empty queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrivalQueueSlice, stringCodec } from "@dmabuf-ref/core";
 *
 * const waiters = arrivalQueueSlice("waiters", stringCodec);
 * assert.equal(waiters.name, "waiters");
 * assert.equal(waiters.initial.byId.size, 0);
 * assert.deepEqual(waiters.initial.order, []);
 * ```
 * @category Drivers
 */
export function arrivalQueueSlice<T>(name: string, codec: Codec<T>): SliceDef<ArrivalQueue<T>> {
  return defineSlice(name, arrivalQueueCodec(codec), { byId: PTable.empty(codec), order: [] });
}

/**
 * A driver slice as the World stores it: its definition and value.
 *
 * @category Drivers
 */
export interface DriverSlice {
  /** The slice's definition (identity: it tells the value's type). */
  readonly def: SliceDef<unknown>;
  /** Its value. */
  readonly value: unknown;
}

/**
 * Canonical encoding of a {@link DriverSlice}: the slice's own codec (its table id says whose).
 *
 * @category Codecs
 */
export const driverSliceCodec: Codec<DriverSlice> = {
  seed: 0xd51c,
  encode(s, out) {
    s.def.codec.encode(s.value, out);
  },
  equals(a, b) {
    if (a.def !== b.def) return false;
    const { codec } = a.def;
    if (codec.equals !== undefined) return codec.equals(a.value, b.value);
    const x: number[] = [];
    const y: number[] = [];
    codec.encode(a.value, x);
    codec.encode(b.value, y);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  },
};
