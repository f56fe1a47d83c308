/**
 * Generated negotiation worlds for the property tests: a pool of test types
 * whose match() answers from a generated verdict table, offer/accept lists
 * over them, and an independent reference of the kernel loop.
 *
 * Pool: pool-0..pool-3 exist in the profile (pool-3 may be accepted only by
 * "iommufd", like PAL); pool-4 is defined but absent from the profile;
 * pool-5 exists but no generated accept names it (a type to append).
 * With converters: pool-0 -> pool-1 (predicate from a table), pool-2 -> pool-3
 * (no predicate).
 */
import fc from "fast-check";
import * as z from "zod";
import {
  defineConverter,
  defineMappingType,
  intCodec,
  kernelError,
  recordCodec,
} from "@dmabuf-ref/core";
import type {
  AnyMappingType,
  Errno,
  ExporterOffer,
  ImporterAccept,
  MatchVerdict,
  Profile,
} from "@dmabuf-ref/core";
import { accept, offer } from "@dmabuf-ref/core";
import { at, testProfile } from "./helpers.js";

/** What a generated match() answers for one (exporter v, importer v) cell. */
export type Verdict = "ok" | "EOPNOTSUPP" | "ENODEV" | "EBUSY";
/** One predicate: absent (always match) or a 3x3 table indexed by exporter v, importer v. */
export interface PredicateSpec {
  readonly hasMatch: boolean;
  readonly table: readonly (readonly Verdict[])[];
}
export interface WorldSpec {
  /** Predicates of pool-0..pool-3 (pool-4 and pool-5 have none). */
  readonly types: readonly PredicateSpec[];
  /** Predicate of the pool-0 -> pool-1 converter. */
  readonly conv: PredicateSpec;
}
export interface OfferSpec {
  readonly t: number;
  readonly v: number;
}
export interface AcceptSpec extends OfferSpec {
  readonly module: string;
}

export const ABSENT = 4;
export const SPARE = 5;
const GUARDED = 3;

const verdictArb = fc.oneof(
  { arbitrary: fc.constant<Verdict>("ok"), weight: 4 },
  { arbitrary: fc.constant<Verdict>("EOPNOTSUPP"), weight: 4 },
  { arbitrary: fc.constantFrom<Verdict>("ENODEV", "EBUSY"), weight: 2 },
);
const row = fc.array(verdictArb, { minLength: 3, maxLength: 3 });
const predicateArb: fc.Arbitrary<PredicateSpec> = fc.record({
  hasMatch: fc.boolean(),
  table: fc.array(row, { minLength: 3, maxLength: 3 }),
});
export const worldArb: fc.Arbitrary<WorldSpec> = fc.record({
  types: fc.array(predicateArb, { minLength: 4, maxLength: 4 }),
  conv: predicateArb,
});
const v = fc.integer({ min: 0, max: 2 });
/** Lists of 1..5 entries, and now and then an empty one. */
function listOf<T>(entry: fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc.oneof(
    { arbitrary: fc.array(entry, { minLength: 1, maxLength: 5 }), weight: 15 },
    { arbitrary: fc.constant<T[]>([]), weight: 1 },
  );
}
const t = fc.integer({ min: 0, max: 4 });
export const offersArb = listOf(fc.record({ t, v }));
export const acceptsArb = listOf(fc.record({ t, v, module: fc.constantFrom("iommufd", "rdma") }));

/** The message a generated match() returns, so tests can check it comes back unchanged. */
export const messageOf = (who: string, ev: number, iv: number): string =>
  `${who} judged ${ev}/${iv}`;

function cell(p: PredicateSpec, ev: number, iv: number): Verdict {
  return p.hasMatch ? at(at(p.table, ev), iv) : "ok";
}

function answer(p: PredicateSpec, who: string, ev: number, iv: number): MatchVerdict {
  const verdict = cell(p, ev, iv);
  return verdict === "ok" ? 0 : kernelError(verdict, messageOf(who, ev, iv));
}

const vData = z.object({ v: z.number().int().min(0).max(2) });
const noPredicate: PredicateSpec = { hasMatch: false, table: [] };

/** The live types, profile and list builders of one generated world. */
export interface World {
  readonly types: readonly AnyMappingType[];
  readonly profile: Profile;
  offers(specs: readonly OfferSpec[]): ExporterOffer[];
  accepts(specs: readonly AcceptSpec[]): ImporterAccept[];
}

export function buildWorld(spec: WorldSpec, withConverters: boolean): World {
  const types = [0, 1, 2, 3, 4, 5].map((n) => {
    const id = `pool-${n}`;
    const p = spec.types[n] ?? noPredicate;
    return defineMappingType({
      id,
      name: id,
      kernelModel: "§4.2",
      summary: `generated test type ${id}`,
      exporterData: vData,
      importerDataCodec: recordCodec("pool-accept", { v: intCodec }),
      payloadCodec: recordCodec("pool-payload", {}),
      importerData: vData,
      payload: z.object({}),
      ...(n === GUARDED ? { importerModules: ["iommufd"] } : {}),
      match: (_ctx, e, i) => answer(p, id, e.v, i.v),
      describe: () => id,
    });
  });
  const converters = withConverters
    ? [
        defineConverter({
          from: at(types, 0),
          to: at(types, 1),
          kernelModel: "§7.14",
          summary: "test converter with a generated predicate",
          match: (_ctx, e, i) => answer(spec.conv, "pool-0->pool-1", e.v, i.v),
        }),
        defineConverter({
          from: at(types, 2),
          to: at(types, 3),
          kernelModel: "§7.14",
          summary: "test",
        }),
      ]
    : [];
  const inProfile = types.filter((_, n) => n !== ABSENT);
  const profile = testProfile(withConverters ? "pool-conv" : "pool", inProfile, converters);
  return {
    types,
    profile,
    offers: (specs) => specs.map((s) => offer(at(types, s.t), { v: s.v })),
    accepts: (specs) => specs.map((s) => accept(at(types, s.t), { v: s.v }, s.module)),
  };
}

/** True when the world's converters join exporter type `from` to importer type `to`. */
export function converts(withConverters: boolean, from: number, to: number): boolean {
  return withConverters && ((from === 0 && to === 1) || (from === 2 && to === 3));
}

export type Expected =
  | { readonly ok: true; readonly e: number; readonly i: number; readonly converted: boolean }
  | { readonly ok: false; readonly errno: Errno; readonly message?: string };

/**
 * The rule, written as plainly as possible: walk the direct pairs exporter-
 * major; the first acceptable one wins, an aborting errno ends it. Only if
 * nothing was decided, walk the converter-joined pairs the same way.
 */
export function reference(
  spec: WorldSpec,
  offers: readonly OfferSpec[],
  accepts: readonly AcceptSpec[],
  withConverters: boolean,
): Expected {
  for (const converted of withConverters ? [false, true] : [false]) {
    for (const [e, o] of offers.entries()) {
      for (const [i, a] of accepts.entries()) {
        const joined = converted ? converts(true, o.t, a.t) : o.t === a.t;
        if (!joined || o.t === ABSENT || a.t === ABSENT) continue;
        if (a.t === GUARDED && a.module !== "iommufd") continue;
        const who = converted ? "pool-0->pool-1" : `pool-${o.t}`;
        const p = converted
          ? o.t === 0
            ? spec.conv
            : noPredicate
          : (spec.types[o.t] ?? noPredicate);
        const verdict = cell(p, o.v, a.v);
        if (verdict === "ok") return { ok: true, e, i, converted };
        if (verdict !== "EOPNOTSUPP")
          return { ok: false, errno: verdict, message: messageOf(who, o.v, a.v) };
      }
    }
  }
  return { ok: false, errno: "EINVAL" };
}
