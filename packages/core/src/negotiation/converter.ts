import type { Encoded } from "../encoding/codecs.js";
import { payloadAs } from "../mapping-types/define.js";
import type { Hardware } from "../fabric/topology.js";
import type * as z from "zod";
import type { AnyMappingType, MappingType, MatchVerdict } from "../mapping-types/define.js";
import type { MatchContext } from "../mapping-types/match-context.js";
import type { Result } from "../errors/result.js";
import type { IovaRange } from "../world/attachment-state.js";
import type { World } from "../world/world.js";

/**
 * The definition of a converter: dma-buf core bridging an exporter's type to
 * a different importer type (Jason Gunthorpe's Apr 2026 proposal,
 * kernel-model §4.4 and §7.14), e.g. PAL->SGT so exporters need only PAL.
 *
 * @category Negotiation
 */
export interface ConverterSpec<
  FE extends z.ZodType,
  FI extends z.ZodType,
  FP extends z.ZodType,
  TE extends z.ZodType,
  TI extends z.ZodType,
  TP extends z.ZodType,
> {
  /** The exporter-side type the converter consumes. */
  readonly from: MappingType<FE, FI, FP>;
  /** The importer-side type the converter produces. */
  readonly to: MappingType<TE, TI, TP>;
  /** The kernel-model section(s) describing it. */
  readonly kernelModel: string;
  /** One sentence: what core does to convert. */
  readonly summary: string;
  /**
   * Optional predicate over the exporter's `from` data and the importer's
   * `to` data, with the same verdict rules as a type's `match()`.
   *
   * @param ctx - what the predicate may ask about the machine.
   * @param exp - the exporter's data for `from`.
   * @param imp - the importer's data for `to`.
   */
  match?(ctx: MatchContext, exp: z.output<FE>, imp: z.output<TI>): MatchVerdict;
  /**
   * Turns what the exporter mapped (a `from` payload) into the importer's
   * `to` payload, as core does at map time. Absent: the converter can be
   * negotiated but not mapped through.
   *
   * @param hw - the machine's hardware.
   * @param world - the world after the exporter's map.
   * @param att - the attachment id.
   * @param payload - the exporter's `from` payload.
   * @param request - the importer's `to` data for this map.
   */
  convert?(
    hw: Hardware,
    world: World,
    att: number,
    payload: z.output<FP>,
    request: z.output<TI>,
  ): Result<Converted>;
}

/**
 * What a converter's map produced: the importer-side payload and what it set up.
 *
 * @category Negotiation
 */
export interface Converted {
  /** The world with the converter's IOMMU mappings and grants. */
  readonly world: World;
  /** The importer-side payload (`mappingPayload(to, ...)`). */
  readonly payload: Encoded<unknown>;
  /** Grants the conversion created. */
  readonly grants: readonly number[];
  /** IOVA the conversion mapped (undone with the mapping). */
  readonly iova: readonly IovaRange[];
}

/**
 * A converter; its id is `"<from>-><to>"`, e.g. `"pal->sgt"`.
 *
 * @category Negotiation
 */
export interface Converter {
  /** `"<from.id>-><to.id>"`. */
  readonly id: string;
  /** The exporter-side type. */
  readonly from: AnyMappingType;
  /** The importer-side type. */
  readonly to: AnyMappingType;
  /** The kernel-model section(s) describing it. */
  readonly kernelModel: string;
  /** One sentence: what core does to convert. */
  readonly summary: string;
  /**
   * Optional predicate (see {@link ConverterSpec.match}).
   *
   * @param ctx - what the predicate may ask about the machine.
   * @param exp - the exporter's data for `from`.
   * @param imp - the importer's data for `to`.
   */
  match?(ctx: MatchContext, exp: unknown, imp: unknown): MatchVerdict;
  /**
   * Core's map through the converter (see {@link ConverterSpec.convert}).
   *
   * @param hw - the machine's hardware.
   * @param world - the world after the exporter's map.
   * @param att - the attachment id.
   * @param payload - the exporter's payload, stored with the `from` type's codec.
   * @param request - the importer's data for this map.
   */
  convert?(
    hw: Hardware,
    world: World,
    att: number,
    payload: Encoded<unknown>,
    request: unknown,
  ): Result<Converted>;
}

/**
 * Defines a converter between two distinct mapping types.
 *
 * @param spec - source and target types, documentation and optional predicate.
 * @returns the frozen converter.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accept, defineConverter, defineProfile, negotiate, offer } from "@dmabuf-ref/core";
 * import { pal, proposalConverters, sgt } from "@dmabuf-ref/core";
 *
 * // SGT -> PAL, negotiable only (no convert()): a PAL importer reaches an SGT exporter.
 * const sgtToPal = defineConverter({
 *   from: sgt,
 *   to: pal,
 *   kernelModel: "§4.4",
 *   summary: "core hands over the SGT's bus addresses as a physical list",
 * });
 * assert.equal(sgtToPal.id, "sgt->pal");
 * const profile = defineProfile({ ...proposalConverters, id: "example", converters: [sgtToPal] });
 * const r = negotiate([offer(sgt, { requiresP2P: false })], [accept(pal, {}, "iommufd")], profile);
 * assert.ok(r.ok);
 * assert.equal(r.match.converter, sgtToPal);
 * ```
 * @category Negotiation
 */
export function defineConverter<
  FE extends z.ZodType,
  FI extends z.ZodType,
  FP extends z.ZodType,
  TE extends z.ZodType,
  TI extends z.ZodType,
  TP extends z.ZodType,
>(spec: ConverterSpec<FE, FI, FP, TE, TI, TP>): Converter {
  if ((spec.from as AnyMappingType) === (spec.to as AnyMappingType)) {
    throw new Error(`a converter joins two different types, not ${spec.from.id} to itself`);
  }
  if (spec.from.importerOnly === true) {
    throw new Error(`${spec.from.id} is importer-only and cannot be a converter's source`);
  }
  const predicate = spec.match?.bind(spec);
  const conversion = spec.convert?.bind(spec);
  const converter: Converter = {
    id: `${spec.from.id}->${spec.to.id}`,
    from: spec.from,
    to: spec.to,
    kernelModel: spec.kernelModel,
    summary: spec.summary,
    ...(predicate === undefined
      ? {}
      : {
          match: (ctx: MatchContext, exp: unknown, imp: unknown) =>
            predicate(ctx, spec.from.exporterData.parse(exp), spec.to.importerData.parse(imp)),
        }),
    ...(conversion === undefined
      ? {}
      : {
          convert: (
            hw: Hardware,
            world: World,
            att: number,
            payload: Encoded<unknown>,
            request: unknown,
          ) =>
            conversion(
              hw,
              world,
              att,
              payloadAs(spec.from, payload),
              spec.to.importerData.parse(request),
            ),
        }),
  };
  return Object.freeze(converter);
}
