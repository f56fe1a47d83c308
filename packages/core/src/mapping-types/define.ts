import * as z from "zod";
import type { KernelError } from "../errors/kernel-error.js";
import type { MatchContext } from "./match-context.js";
import type { Codec } from "../encoding/codec.js";
import type { Encoded } from "../encoding/codecs.js";
import { encodedWith, isEncodedWith } from "../encoding/codecs.js";

/**
 * What a mapping type's `match()` returns: `0` for a match, or an error.
 *
 * @remarks
 * kernel-model §4.2: `-EOPNOTSUPP` means "skip this pair and keep looking";
 * any other errno aborts the whole negotiation and is returned to the caller
 * of `dma_buf_mapping_attach()` unchanged.
 * @category Mapping types
 */
export type MatchVerdict = 0 | KernelError;

/**
 * The definition of a mapping type: the model of one
 * `struct dma_buf_mapping_type` singleton (kernel-model §4.2) plus zod
 * schemas for what each side states in a `struct dma_buf_mapping_match` and
 * for the payload the exporter hands over after map.
 *
 * @typeParam E - schema of the exporter's per-offer data.
 * @typeParam I - schema of the importer's per-accept data.
 * @typeParam P - schema of the mapped payload.
 * @kernel dma_buf_mapping_type
 * @category Mapping types
 */
export interface MappingTypeSpec<E extends z.ZodType, I extends z.ZodType, P extends z.ZodType> {
  /** Stable id used by profiles, files and the CLI, e.g. `"sgt"` (DESIGN §3.1). */
  readonly id: string;
  /** The kernel's `name` string for the type, e.g. "DMA Mapped Scatter Gather Table". */
  readonly name: string;
  /** The kernel-model section(s) this type models, e.g. `"§4.3"`. */
  readonly kernelModel: string;
  /** One sentence: what the importer receives and what revoke means for it. */
  readonly summary: string;
  /** What the exporter states in its offer (the per-type union member of the match). */
  readonly exporterData: E;
  /** What the importer states in its accept. */
  readonly importerData: I;
  /** What map hands to the importer. */
  readonly payload: P;
  /**
   * How an accept's data is stored in an attachment (the World encodes it
   * with this codec: field by field, no reflection; `encoding/codecs.ts`).
   */
  readonly importerDataCodec: Codec<z.output<I>>;
  /** How a mapped payload is stored in an attachment's mapping. */
  readonly payloadCodec: Codec<z.output<P>>;
  /**
   * True for a type only importers name (the Apr 2026 `iommu_domain` type):
   * exporters never offer it; only a converter reaches it.
   */
  readonly importerOnly?: boolean;
  /**
   * Modules allowed to accept this type, modelling `EXPORT_SYMBOL_FOR_MODULES`
   * on the type's map helper (PAL's `dma_buf_pal_map_phys` is exported only
   * to "iommufd"). Absent: any importer may accept it.
   */
  readonly importerModules?: readonly string[];
  /**
   * The optional `match(dmabuf, exp, imp)` callback. Absent means every
   * same-type pair matches.
   *
   * @param ctx - what the callback may ask about the machine.
   * @param exp - the exporter's offer data.
   * @param imp - the importer's accept data.
   */
  match?(ctx: MatchContext, exp: z.output<E>, imp: z.output<I>): MatchVerdict;
  /**
   * Describes a payload in one line for traces.
   *
   * @param payload - a mapped payload of this type.
   */
  describe(payload: z.output<P>): string;
}

/**
 * A mapping type: a frozen {@link MappingTypeSpec}. Types are compared by
 * identity, as the kernel compares the singleton's address.
 *
 * @category Mapping types
 */
export type MappingType<
  E extends z.ZodType = z.ZodType,
  I extends z.ZodType = z.ZodType,
  P extends z.ZodType = z.ZodType,
> = Readonly<MappingTypeSpec<E, I, P>>;

/**
 * Any mapping type, whatever its schemas (what negotiation and profiles hold).
 *
 * @category Mapping types
 */
export type AnyMappingType = MappingType;

/**
 * Defines a mapping type: the one way built-in and third-party types are
 * made, so a new type (UALink, an SR-IOV interconnect) needs no change to
 * core (DESIGN §3.1).
 *
 * @param spec - the type's id, kernel name, schemas, optional match and describe.
 * @returns the frozen type; keep the returned object, it is the type's identity.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import { defineMappingType, findMappingType, kernelError, p2pTopology } from "@dmabuf-ref/core";
 * import { recordCodec, stringCodec, u64Codec } from "@dmabuf-ref/core";
 *
 * const ualink = defineMappingType({
 *   id: "ualink",
 *   name: "UALink fabric address",
 *   kernelModel: "§4.1",
 *   summary: "a fabric address the importer's UALink port can reach",
 *   exporterData: z.object({ fabric: z.string() }),
 *   importerData: z.object({ fabric: z.string() }),
 *   payload: z.object({ fabricAddr: z.bigint() }),
 *   importerDataCodec: recordCodec("ualink-accept", { fabric: stringCodec }),
 *   payloadCodec: recordCodec("ualink-payload", { fabricAddr: u64Codec }),
 *   match: (_ctx, exp, imp) =>
 *     exp.fabric === imp.fabric ? 0 : kernelError("EOPNOTSUPP", "different UALink fabrics"),
 *   describe: (p) => `fabric address 0x${p.fabricAddr.toString(16)}`,
 * });
 * const verdict = ualink.match?.(p2pTopology(), { fabric: "pod0" }, { fabric: "pod1" });
 * assert.equal(verdict === 0 ? "match" : verdict?.errno, "EOPNOTSUPP");
 * assert.equal(findMappingType("ualink", [ualink]), ualink);
 * ```
 * @category Mapping types
 */
export function defineMappingType<E extends z.ZodType, I extends z.ZodType, P extends z.ZodType>(
  spec: MappingTypeSpec<E, I, P>,
): MappingType<E, I, P> {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.id)) {
    throw new Error(`mapping type id "${spec.id}" must be lower-case words joined by dashes`);
  }
  return Object.freeze({ ...spec });
}

/**
 * A value with every array and field read-only (what drivers hold).
 *
 * @category Mapping types
 */
export type ReadonlyDeep<T> = T extends readonly (infer U)[]
  ? readonly ReadonlyDeep<U>[]
  : T extends object
    ? { readonly [K in keyof T]: ReadonlyDeep<T[K]> }
    : T;

/**
 * A mapped payload of a type, as an exporter's map (or a converter) hands
 * it over: stored with the type's `payloadCodec`, so the World encodes it
 * field by field and a reader holding the type gets it back typed
 * ({@link payloadAs}). It is not checked against the type's schema here:
 * a wrong exporter may hand over what the type forbids (write-back MMIO),
 * and it is the importer that must refuse it, as in the kernel.
 *
 * @param type - the mapping type.
 * @param payload - the payload (the schema's output type).
 * @returns the stored payload.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mappingPayload, payloadAs, sgt } from "@dmabuf-ref/core";
 *
 * // What an SGT exporter's map hands over: one 64 KiB entry at IOVA 1 MiB.
 * const stored = mappingPayload(sgt, { entries: [{ dmaAddress: 0x100000n, length: 0x10000n }] });
 * assert.deepEqual(payloadAs(sgt, stored).entries, [{ dmaAddress: 0x100000n, length: 0x10000n }]);
 * ```
 * @category Mapping types
 */
export function mappingPayload<E extends z.ZodType, I extends z.ZodType, P extends z.ZodType>(
  type: MappingType<E, I, P>,
  payload: ReadonlyDeep<z.output<P>>,
): Encoded<unknown> {
  // Stored as unknown: the codec's identity, not the static type, says what it holds.
  const codec: Codec<unknown> = type.payloadCodec;
  return encodedWith(codec, payload);
}

/**
 * Whether a stored payload is one of `type`'s.
 *
 * @param type - the mapping type.
 * @param payload - a stored payload (or undefined: not mapped).
 * @returns true when it was stored with the type's codec.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPayloadOf, mappingPayload, pal, sgt } from "@dmabuf-ref/core";
 *
 * const stored = mappingPayload(pal, { phys: [{ paddr: 0x4000000000n, len: 0x10000n }] });
 * assert.ok(isPayloadOf(pal, stored));
 * assert.equal(isPayloadOf(sgt, stored), false);
 * assert.equal(isPayloadOf(pal, undefined), false);
 * ```
 * @category Mapping types
 */
export function isPayloadOf<E extends z.ZodType, I extends z.ZodType, P extends z.ZodType>(
  type: MappingType<E, I, P>,
  payload: Encoded<unknown> | undefined,
): payload is Encoded<z.output<P>> {
  return payload !== undefined && isEncodedWith(payload, type.payloadCodec);
}

/**
 * A stored payload read back as `type`'s. A payload of another type (or
 * none) is a model bug: the reader names the type the attachment negotiated.
 *
 * @param type - the mapping type.
 * @param payload - the stored payload.
 * @returns the payload, typed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mappingPayload, pal, payloadAs, sgt } from "@dmabuf-ref/core";
 *
 * // A PAL payload: BAR 0 of vfio0 at 256 GiB, 64 KiB.
 * const stored = mappingPayload(pal, { phys: [{ paddr: 0x4000000000n, len: 0x10000n }] });
 * assert.equal(payloadAs(pal, stored).phys[0]?.paddr, 0x4000000000n);
 * assert.throws(() => payloadAs(sgt, stored), /does not hold a sgt payload/);
 * ```
 * @category Mapping types
 */
export function payloadAs<E extends z.ZodType, I extends z.ZodType, P extends z.ZodType>(
  type: MappingType<E, I, P>,
  payload: Encoded<unknown> | undefined,
): z.output<P> {
  if (!isPayloadOf(type, payload))
    throw new Error(`the mapping does not hold a ${type.id} payload`);
  return payload.value;
}
