/*
 * "This record with some fields replaced", the copy every op makes of the
 * World and of a `struct dma_buf`'s state: one mechanism for both.
 *
 * Why generated code: V8 (Node 20) builds `{ ...w, bufs }` or a copy by
 * keyed writes of a 12-field record through its slow path (a one-off probe
 * of the World: 23 ns for one object literal naming every field, 292 ns
 * for a spread then keyed writes, 577 ns for keyed writes into `{}`), and
 * the keyed copy leaves most fields out of line. The copier below is that
 * one literal, written once per record type from its field list, so it
 * costs what the hand-written literal did (24 ns in the same probe) and no
 * field list is written out twice.
 */

/**
 * Every key of `T`, once: a field list that leaves one out does not type-check
 * (the copier would silently drop that field).
 */
export type AllKeys<T, K extends readonly (keyof T)[]> =
  Exclude<keyof T, K[number]> extends never ? K : readonly [never];

/**
 * The copier of a record type: `(record, change)` gives a new record with
 * the fields `change` defines replaced (`null` is a value; only an
 * undefined field keeps the old one) and every other field shared.
 *
 * @param fields - every field of `T` (checked by {@link AllKeys}); plain
 *   identifiers, as they are written into the copier's source.
 * @returns the copier.
 */
export function recordWith<T extends object, const K extends readonly (keyof T & string)[]>(
  fields: AllKeys<T, K>,
): (record: T, change: Partial<T>) => T {
  for (const f of fields) {
    if (!/^[A-Za-z_$][\w$]*$/.test(f)) throw new Error(`recordWith: not an identifier: ${f}`);
  }
  const body = fields.map((f) => `${f}: c.${f} !== undefined ? c.${f} : r.${f}`).join(", ");
  // The one literal naming every field (see the file comment): generated
  // from a list of identifiers checked above, never from input.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function("r", "c", `return { ${body} };`) as (record: T, change: Partial<T>) => T;
}

/**
 * A new object with `base`'s fields and then `extra`'s (added, or
 * replacing `base`'s of the same name), in that order: what
 * `{ ...base, ...extra }` means, built by `Object.assign`. Models no kernel
 * object: it is how code on a step's path adds fields to a copy. V8
 * (Node 20) takes a slow path for an object literal that starts with a
 * spread and then adds a field the spread object lacks, and for a spread
 * copy that is then given one: a probe timed one added field at 1,079 ns,
 * two at 1,793, against 55 ns this way. Every driver op step re-adds its
 * `op` field this way before its schema parses it.
 *
 * @param base - the fields copied first.
 * @param extra - the fields copied over them.
 * @returns the new object (neither argument is changed).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withFields } from "@dmabuf-ref/core/encoding";
 *
 * const fields = { number: 0x3b80, process: "vmm" };
 * const action = withFields(fields, { op: "ioctl" });
 * assert.deepEqual(Object.keys(action), ["number", "process", "op"]); // the spread's order
 * assert.equal(action.op, "ioctl");
 * assert.equal("op" in fields, false);
 * ```
 * @category Tables and indexes
 */
export function withFields<T extends object, U extends object>(
  base: T,
  extra: U,
): Omit<T, keyof U> & U {
  return Object.assign({}, base, extra);
}
