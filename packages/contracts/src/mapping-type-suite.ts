/*
 * The mapping-type suite's cases (`mappingTypeContract`): a type's schemas
 * and `match()` (kernel-model §4.2), negotiation with the type against the
 * kernel's loop, and converters to or from it.
 */
import * as z from "zod";
import fc from "fast-check";
import {
  ERRNO_NAMES,
  defineMappingType,
  defineProfile,
  kernelError,
  linux71,
  negotiate,
  p2pTopology,
  recordCodec,
  intCodec,
} from "@dmabuf-ref/core";
import type {
  AnyMappingType,
  ExporterOffer,
  ImporterAccept,
  MatchContext,
  MatchVerdict,
} from "@dmabuf-ref/core";
import type { ContractCase } from "./case.js";
import { PASS, broken } from "./case.js";
import type { ContractOptions, MappingTypeFixtures } from "./harness.js";
import { DEFAULT_SEED } from "./harness.js";

/** The fixtures a schema accepts, parsed (the rest fail type/schemas-accept-fixtures). */
function accepted<T>(schema: z.ZodType<T>, fixtures: readonly unknown[]): T[] {
  return fixtures.flatMap((d) => {
    const r = schema.safeParse(d);
    return r.success ? [r.data] : [];
  });
}

/** What the mapping-type cases run on. */
export interface MappingTypeContext {
  /** The type under test. */
  readonly type: AnyMappingType;
  /** Its fixtures. */
  readonly fixtures: MappingTypeFixtures;
  /** The suite's options. */
  readonly options: ContractOptions;
}

/**
 * A value of another kind than `v`, for a mutated fixture: for a number a
 * string that is no number (a u64 schema accepts "7" and "0x7", as YAML
 * and JSON spell u64s).
 */
function otherKind(v: unknown): unknown {
  if (typeof v === "string") return 7;
  if (typeof v === "number" || typeof v === "bigint") return "not a number";
  if (typeof v === "boolean") return "true";
  if (Array.isArray(v)) return "[]";
  if (typeof v === "object" && v !== null) return 7;
  return { unexpected: true };
}

/**
 * The mutations of a fixture each schema must refuse: every field (also
 * nested ones) replaced by a value of another JavaScript type, and the
 * whole value replaced by one.
 *
 * @param v - a valid fixture.
 * @returns mutated copies, each with the path it changed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mutationsOf } from "@dmabuf-ref/contracts";
 *
 * // Every field replaced by a value of another kind, and the whole value too.
 * assert.deepEqual(mutationsOf({ device: "dev1", acceptsP2P: true }), [
 *   { path: "(the value)", value: 7 },
 *   { path: "device", value: { device: 7, acceptsP2P: true } },
 *   { path: "acceptsP2P", value: { device: "dev1", acceptsP2P: "true" } },
 * ]);
 * ```
 * @category Contract suites
 */
export function mutationsOf(v: unknown): Mutation[] {
  const out: Mutation[] = [{ path: "(the value)", value: otherKind(v) }];
  if (typeof v !== "object" || v === null) return out;
  // An array stays an array: element k replaced, the others kept.
  const replaced = (k: string, x: unknown): unknown =>
    Array.isArray(v) ? v.map((e: unknown, i) => (String(i) === k ? x : e)) : { ...v, [k]: x };
  for (const [k, x] of Object.entries(v)) {
    out.push({ path: k, value: replaced(k, otherKind(x)) });
    for (const inner of mutationsOf(x).slice(1))
      out.push({ path: `${k}.${inner.path}`, value: replaced(k, inner.value) });
  }
  return out;
}

const SIDES = ["exporterData", "importerData", "payloads"] as const;

function schemaOf(type: AnyMappingType, side: (typeof SIDES)[number]): z.ZodType {
  return side === "exporterData"
    ? type.exporterData
    : side === "importerData"
      ? type.importerData
      : type.payload;
}

/** A verdict as comparable text: `0` or the errno. */
function verdictText(v: MatchVerdict): string {
  return v === 0 ? "0" : v.errno;
}

/**
 * A stand-in type for negotiation properties: matches when the tags are
 * equal, skips (EOPNOTSUPP) otherwise.
 */
const otherType = defineMappingType({
  id: "contract-other",
  name: "contract suite stand-in type",
  kernelModel: "§4.2",
  summary: "a second type the suite negotiates against: same tag matches, else EOPNOTSUPP",
  exporterData: z.strictObject({ tag: z.number().int() }),
  importerData: z.strictObject({ tag: z.number().int() }),
  payload: z.strictObject({ tag: z.number().int() }),
  importerDataCodec: recordCodec("contract-other-accept", { tag: intCodec }),
  payloadCodec: recordCodec("contract-other-payload", { tag: intCodec }),
  match: (_ctx, e, i) =>
    e.tag === i.tag ? 0 : kernelError("EOPNOTSUPP", "the stand-in's tags differ"),
  describe: (p) => `tag ${p.tag}`,
});

/** A stand-in type whose match aborts (EPERM) on odd tags and skips otherwise. */
const abortingType = defineMappingType({
  id: "contract-aborting",
  name: "contract suite aborting stand-in type",
  kernelModel: "§4.2",
  summary: "a type whose match() aborts the negotiation (EPERM) for odd importer tags",
  exporterData: z.strictObject({ tag: z.number().int() }),
  importerData: z.strictObject({ tag: z.number().int() }),
  payload: z.strictObject({ tag: z.number().int() }),
  importerDataCodec: recordCodec("contract-aborting-accept", { tag: intCodec }),
  payloadCodec: recordCodec("contract-aborting-payload", { tag: intCodec }),
  match: (_ctx, _e, i) =>
    i.tag % 2 === 1
      ? kernelError("EPERM", "the aborting stand-in refuses odd tags")
      : kernelError("EOPNOTSUPP", "the aborting stand-in skips even tags"),
  describe: (p) => `tag ${p.tag}`,
});

/**
 * The kernel loop's winner: offer and accept indices.
 *
 * @category Contract suites
 */
export interface LoopMatch {
  /** The offer's index. */
  readonly e: number;
  /** The accept's index. */
  readonly i: number;
}

/**
 * The kernel loop's failure.
 *
 * @category Contract suites
 */
export interface LoopError {
  /** The errno (`EINVAL` when nothing matched, else the aborting one). */
  readonly errno: string;
}

/**
 * A mutated fixture and the field it changed.
 *
 * @category Contract suites
 */
export interface Mutation {
  /** The field's path, or `(the value)`. */
  readonly path: string;
  /** The mutated value. */
  readonly value: unknown;
}

/**
 * The kernel's negotiation loop written from kernel-model §4.2 alone, as
 * the property's oracle: exporter offers outer, importer accepts inner;
 * a pair of different types is not considered; a pair whose `match()` is
 * absent or 0 wins; EOPNOTSUPP skips it; any other errno aborts with that
 * errno; nothing matched is EINVAL.
 *
 * @param offers - the exporter's offers.
 * @param accepts - the importer's accepts.
 * @param ctx - the machine the match callbacks see.
 * @returns the winning pair's indices, or the errno.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accept, offer, p2pTopology, pal, sgt } from "@dmabuf-ref/core";
 * import { kernelNegotiationRule } from "@dmabuf-ref/contracts";
 *
 * // vfio0 offers PAL then an SGT needing P2P; the NIC accepts only an SGT.
 * const offers = [offer(pal, {}), offer(sgt, { requiresP2P: true, p2pDevice: "vfio0" })];
 * const accepts = [accept(sgt, { device: "nic0", acceptsP2P: true }, "rdma-odp")];
 * const near = p2pTopology([{ provider: "vfio0", client: "nic0", distance: 2 }]);
 * assert.deepEqual(kernelNegotiationRule(offers, accepts, near), { e: 1, i: 0 });
 * // No P2P path: sgt's match() says EOPNOTSUPP, the pair is skipped, nothing is left: EINVAL.
 * assert.deepEqual(kernelNegotiationRule(offers, accepts, p2pTopology()), { errno: "EINVAL" });
 * ```
 * @category Contract suites
 */
export function kernelNegotiationRule(
  offers: readonly ExporterOffer[],
  accepts: readonly ImporterAccept[],
  ctx: MatchContext,
): LoopMatch | LoopError {
  for (let e = 0; e < offers.length; e++) {
    for (let i = 0; i < accepts.length; i++) {
      const o = offers[e];
      const a = accepts[i];
      if (o === undefined || a === undefined || o.type !== a.type) continue;
      const v = o.type.match?.(ctx, o.data, a.data) ?? 0;
      if (v === 0) return { e, i };
      if (v.errno !== "EOPNOTSUPP") return { errno: v.errno };
    }
  }
  return { errno: "EINVAL" };
}

/** The mapping-type suite's cases. */
export const MAPPING_TYPE_CASES: readonly ContractCase<MappingTypeContext>[] = [
  {
    id: "type/schemas-accept-fixtures",
    rule: "the type's exporter, importer and payload schemas accept every valid fixture",
    check({ type, fixtures }) {
      for (const side of SIDES)
        for (const [n, v] of fixtures[side].entries()) {
          const r = schemaOf(type, side).safeParse(v);
          if (!r.success)
            return broken(
              `${side}[${n}] is valid for ${type.id}: ${r.error.issues[0]?.message ?? ""}`,
            );
        }
      return PASS;
    },
  },
  {
    id: "type/schemas-reject-mutations",
    rule:
      "the type's schemas refuse a fixture with any field of the wrong kind, and the fixtures' " +
      "invalid examples (zod at the boundary: nothing malformed reaches match() or map)",
    check({ type, fixtures }) {
      for (const side of SIDES) {
        const schema = schemaOf(type, side);
        for (const [n, v] of fixtures[side].entries())
          for (const mutation of mutationsOf(v))
            if (schema.safeParse(mutation.value).success)
              return broken(
                `${type.id} ${side} refuses ${side}[${n}] with ${mutation.path} of the wrong kind`,
              );
        for (const [n, v] of (fixtures.invalid?.[side] ?? []).entries())
          if (schema.safeParse(v).success)
            return broken(`${type.id} ${side} refuses invalid.${side}[${n}]`);
      }
      return PASS;
    },
  },
  {
    id: "type/match-deterministic",
    rule:
      "match() is a function of its arguments and returns 0, EOPNOTSUPP (skip) or another " +
      "kernel errno (abort), nothing else (kernel-model §4.2)",
    check({ type, fixtures }) {
      const contexts = fixtures.contexts ?? [p2pTopology()];
      if (type.match === undefined) return PASS;
      // On the fixtures the schemas accept: type/schemas-accept-fixtures
      // reports the others, and one bad fixture must not abort the suite.
      for (const ctx of contexts)
        for (const ed of accepted(type.exporterData, fixtures.exporterData))
          for (const id of accepted(type.importerData, fixtures.importerData)) {
            const first = type.match(ctx, ed, id);
            const again = type.match(ctx, ed, id);
            if (verdictText(first) !== verdictText(again))
              return broken(
                `match() answers the same twice (${verdictText(first)}, then ${verdictText(again)})`,
              );
            if (first !== 0 && !(ERRNO_NAMES as readonly string[]).includes(first.errno))
              return broken(`match() returns a kernel errno (got ${first.errno})`);
          }
      return PASS;
    },
  },
  {
    id: "type/negotiation-kernel-rule",
    rule:
      "negotiation with the type follows the kernel's loop: exporter order outer, importer " +
      "order inner, EOPNOTSUPP skips, any other errno aborts, nothing matched is EINVAL",
    check({ type, fixtures, options }) {
      const profile = defineProfile({
        ...linux71,
        id: `contract-${type.id}`,
        negotiation: "mapping-types",
        mappingTypes: [type, otherType, abortingType],
        converters: [],
      });
      const ctx = fixtures.contexts?.[0] ?? p2pTopology();
      const module = type.importerModules?.[0] ?? "contract-importer";
      // An importer-only type (iommu_domain) is never offered: only a converter reaches it.
      const exporterData = accepted(type.exporterData, fixtures.exporterData);
      const importerData = accepted(type.importerData, fixtures.importerData);
      if (importerData.length === 0)
        return {
          status: "not-applicable",
          reason: "no importer fixture the type's schema accepts (type/schemas-accept-fixtures)",
        };
      const offered =
        type.importerOnly === true || exporterData.length === 0
          ? []
          : [fc.constantFrom(...exporterData).map((data): ExporterOffer => ({ type, data }))];
      const offerArb = fc.oneof(
        ...offered,
        fc.record({ tag: fc.integer({ min: 0, max: 3 }) }).map((d): ExporterOffer => ({
          type: otherType,
          data: d,
        })),
        fc.record({ tag: fc.integer({ min: 0, max: 3 }) }).map((d): ExporterOffer => ({
          type: abortingType,
          data: d,
        })),
      );
      const acceptArb = fc.oneof(
        fc.constantFrom(...importerData).map((data): ImporterAccept => ({
          type,
          data,
          module,
        })),
        fc.record({ tag: fc.integer({ min: 0, max: 3 }) }).map((d): ImporterAccept => ({
          type: otherType,
          data: d,
          module,
        })),
        fc.record({ tag: fc.integer({ min: 0, max: 3 }) }).map((d): ImporterAccept => ({
          type: abortingType,
          data: d,
          module,
        })),
      );
      if (fixtures.importerData.length === 0)
        return broken("the fixtures hold at least one importer datum");
      let counter: string | undefined;
      const details = fc.check(
        fc.property(
          fc.array(offerArb, { maxLength: 4 }),
          fc.array(acceptArb, { maxLength: 4 }),
          (offers, accepts) => {
            const got = negotiate(offers, accepts, profile, ctx);
            const want = kernelNegotiationRule(offers, accepts, ctx);
            const same =
              "errno" in want
                ? !got.ok && got.error.errno === want.errno
                : got.ok &&
                  got.match.exporterIndex === want.e &&
                  got.match.importerIndex === want.i;
            if (!same)
              counter =
                `offers [${offers.map((o) => o.type.id).join(", ")}] x accepts ` +
                `[${accepts.map((a) => a.type.id).join(", ")}]: negotiate gave ` +
                `${got.ok ? `pair ${got.match.exporterIndex}/${got.match.importerIndex}` : got.error.errno}, ` +
                `the kernel's loop ${"errno" in want ? want.errno : `pair ${want.e}/${want.i}`}`;
            return same;
          },
        ),
        { numRuns: (options.runs ?? 30) * 4, seed: options.seed ?? DEFAULT_SEED },
      );
      if (details.failed)
        return broken(
          "negotiation follows the kernel's loop (exporter outer, EOPNOTSUPP skips, other errnos abort, none = EINVAL)",
          [],
          counter ??
            (details.errorInstance instanceof Error
              ? `negotiate threw: ${details.errorInstance.message}`
              : undefined),
        );
      return PASS;
    },
  },
  {
    id: "type/converter-preserves-memory",
    rule:
      "a converter to or from the type hands the importer a payload describing exactly the " +
      "memory the exporter's payload describes (kernel-model §4.4)",
    check({ fixtures }) {
      const converters = fixtures.converters ?? [];
      if (converters.length === 0)
        return { status: "not-applicable", reason: "the fixtures name no converter" };
      for (const c of converters) {
        const run = c.mapped();
        const from = normalise(c.memory("from", run.from, run.m, run.w));
        const to = normalise(c.memory("to", run.to, run.m, run.w));
        if (from !== to)
          return broken(
            `${c.converter.id} preserves the memory it describes`,
            [],
            `the exporter's payload describes ${from}, the importer's ${to}`,
          );
      }
      return PASS;
    },
  },
];

/** Byte ranges as sorted, merged text: two descriptions of the same memory compare equal. */
function normalise(ranges: readonly { readonly phys: bigint; readonly len: bigint }[]): string {
  const sorted = [...ranges]
    .filter((r) => r.len > 0n)
    .sort((a, b) => (a.phys < b.phys ? -1 : a.phys > b.phys ? 1 : 0));
  const merged: { phys: bigint; end: bigint }[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.phys <= last.end)
      last.end = r.phys + r.len > last.end ? r.phys + r.len : last.end;
    else merged.push({ phys: r.phys, end: r.phys + r.len });
  }
  return merged.map((r) => `[0x${r.phys.toString(16)}, 0x${r.end.toString(16)})`).join(" ");
}
