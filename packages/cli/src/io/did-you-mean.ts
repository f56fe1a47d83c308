/*
 * "Unrecognized key" errors with a suggestion: the field names a schema
 * knows (walked once through zod's definitions), and the closest one to a
 * misspelt key (`args` -> `arg`, `lenght` -> `length`).
 */
import type * as z from "zod";

/** The parts of a zod definition the walk follows. */
interface DefLike {
  readonly type?: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly options?: readonly z.ZodType[];
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly out?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly left?: z.ZodType;
  readonly right?: z.ZodType;
}

function defOf(schema: z.ZodType): DefLike {
  // zod 4 keeps every schema's definition in `_zod.def` (its documented
  // core API for tools that walk schemas).
  return schema._zod.def;
}

/**
 * Every object key a schema (and the schemas inside it) declares.
 *
 * @param schemas - the schemas.
 * @returns the keys.
 */
export function fieldNames(schemas: readonly z.ZodType[]): Set<string> {
  const out = new Set<string>();
  const seen = new Set<z.ZodType>();
  const visit = (s: z.ZodType | undefined): void => {
    if (s === undefined || seen.has(s)) return;
    seen.add(s);
    const d = defOf(s);
    for (const [k, v] of Object.entries(d.shape ?? {})) {
      out.add(k);
      visit(v);
    }
    for (const o of d.options ?? []) visit(o);
    for (const x of [d.element, d.innerType, d.in, d.out, d.valueType, d.left, d.right]) visit(x);
  };
  schemas.forEach(visit);
  return out;
}

/** Edit distance, for suggestions (short strings only). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j] ?? 0;
      row[j] = Math.min(here + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length] ?? 0;
}

/**
 * The known name closest to `key`, when one is close (at most two edits,
 * and fewer than half the key's letters).
 *
 * @param key - the misspelt key.
 * @param known - the names the schema knows.
 * @returns the suggestion, or undefined.
 */
export function closestName(key: string, known: ReadonlySet<string>): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = distance(key, name);
    if (d <= 2 && d * 2 < Math.max(key.length, 2) && (best === undefined || d < best.d))
      best = { name, d };
  }
  return best?.name;
}

/**
 * An "Unrecognized key(s)" message with a did-you-mean for each key a
 * known name is close to.
 *
 * @param message - zod's message.
 * @param known - the names the schema knows.
 * @returns the message, with suggestions.
 */
export function withSuggestions(message: string, known: ReadonlySet<string>): string {
  const keys = [...message.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? "");
  if (!/^Unrecognized keys?:/.test(message) || keys.length === 0) return message;
  const hints = keys.flatMap((k) => {
    const s = closestName(k, known);
    // A name some other entry takes (`fd` of an ioctl, on an event) is no typo.
    if (s === k) return [`"${k}" is a field of other entries, not of this one`];
    return s === undefined ? [] : [`"${k}": did you mean "${s}"?`];
  });
  return hints.length === 0 ? message : `${message} (${hints.join("; ")})`;
}
