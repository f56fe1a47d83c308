/**
 * Small helpers shared by the negotiation tests: narrowing a result and
 * picking one pair out of the report, without non-null assertions.
 */
import * as z from "zod";
import {
  defineMappingType,
  defineProfile,
  formatKernelError,
  linux71,
  recordCodec,
  stringCodec,
} from "@dmabuf-ref/core";
import type {
  AnyMappingType,
  Converter,
  KernelError,
  MappingType,
  MatchContext,
  MatchVerdict,
  NegotiatedMatch,
  NegotiationResult,
  PairReport,
  Profile,
} from "@dmabuf-ref/core";

/** The winning pair of a successful negotiation; throws (failing the test) otherwise. */
export function expectMatch(r: NegotiationResult): NegotiatedMatch {
  if (!r.ok) throw new Error(`expected a match, got ${formatKernelError(r.error)}`);
  return r.match;
}

/** The error of a failed negotiation; throws (failing the test) on a match. */
export function expectFailure(r: NegotiationResult): { error: KernelError; stage: string } {
  if (r.ok) {
    throw new Error(
      `expected a failure, got a match at (${r.match.exporterIndex}, ${r.match.importerIndex})`,
    );
  }
  return { error: r.error, stage: r.stage };
}

/** The report line of pair (exporterIndex, importerIndex). */
export function pairAt(r: NegotiationResult, e: number, i: number): PairReport {
  const found = r.pairs.find((p) => p.exporterIndex === e && p.importerIndex === i);
  if (found === undefined) throw new Error(`pair (${e}, ${i}) missing from the report`);
  return found;
}

/** `xs[i]`, failing loudly instead of returning undefined. */
export function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`index ${i} out of range (length ${xs.length})`);
  return x;
}

const tagSchema = z.object({ tag: z.string().default("") });
const emptyPayload = z.object({});
/** Exporter and importer data of a test type: an optional tag. */
export type Tagged = z.output<typeof tagSchema>;
/** What {@link testType} returns. */
export type TestType = MappingType<typeof tagSchema, typeof tagSchema, typeof emptyPayload>;

/**
 * A test mapping type in the style of st-dma-mapping.c: data is an optional
 * tag, and `match()` is present only when given.
 */
export function testType(id: string, match?: (exp: Tagged, imp: Tagged) => MatchVerdict): TestType {
  const judge = (_ctx: MatchContext, exp: Tagged, imp: Tagged) =>
    match === undefined ? 0 : match(exp, imp);
  return defineMappingType({
    id,
    name: `kunit test type ${id}`,
    kernelModel: "§4.2",
    summary: `test type ${id}`,
    exporterData: tagSchema,
    importerData: tagSchema,
    importerDataCodec: recordCodec("test-accept", { tag: stringCodec }),
    payloadCodec: recordCodec("test-payload", {}),
    payload: emptyPayload,
    ...(match === undefined ? {} : { match: judge }),
    describe: () => id,
  });
}

/** A mapping-types profile holding the given test types, with linux-7.1 rules. */
export function testProfile(
  id: string,
  mappingTypes: readonly AnyMappingType[],
  converters: readonly Converter[] = [],
): Profile {
  return defineProfile({
    id,
    title: `test profile ${id}`,
    summary: "test types only",
    kernelModel: ["§4.2"],
    negotiation: "mapping-types",
    mappingTypes,
    converters,
    rules: linux71.rules,
    drivers: linux71.drivers,
    notes: [],
  });
}
