import type * as z from "zod";
import type { AnyMappingType, MappingType } from "../mapping-types/define.js";

/**
 * One entry of an exporter's offer list: a `struct dma_buf_mapping_match`
 * built by the exporter's `match_mapping` (kernel-model §4.2), i.e. a type
 * plus the exporter's data for it. Order in the list is priority.
 *
 * @kernel dma_buf_mapping_match
 * @category Negotiation
 */
export interface ExporterOffer {
  /** The mapping type offered (compared by identity). */
  readonly type: AnyMappingType;
  /** The exporter's data, already validated by `type.exporterData`. */
  readonly data: unknown;
}

/**
 * One entry of an importer's accept list (`imp_matches[]` of
 * `dma_buf_mapping_attach`, kernel-model §4.2). Order breaks ties only
 * within one exporter offer: the exporter's order comes first.
 *
 * @kernel dma_buf_mapping_match
 * @category Negotiation
 */
export interface ImporterAccept {
  /** The mapping type accepted (compared by identity). */
  readonly type: AnyMappingType;
  /** The importer's data, already validated by `type.importerData`. */
  readonly data: unknown;
  /**
   * The importing module's name (e.g. "iommufd"), checked against a type's
   * `importerModules` allow-list (`EXPORT_SYMBOL_FOR_MODULES`).
   */
  readonly module: string;
}

/**
 * Builds a validated exporter offer.
 *
 * @param type - the mapping type; an importer-only type cannot be offered.
 * @param data - the exporter data, parsed with `type.exporterData`.
 * @returns the offer.
 * @throws when the data does not fit the schema or the type is importer-only:
 *   that is a bug in the exporter model, not a kernel error.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuDomain, offer, sgt } from "@dmabuf-ref/core";
 *
 * // VFIO offers an SGT that needs a P2P path from its BAR (vfio0).
 * const o = offer(sgt, { requiresP2P: true, p2pDevice: "vfio0" });
 * assert.equal(o.type, sgt);
 * assert.deepEqual(o.data, { requiresP2P: true, p2pDevice: "vfio0" });
 * assert.throws(() => offer(sgt, { requiresP2P: true }));
 * assert.throws(() => offer(iommuDomain, {}), /importer-only/);
 * ```
 * @category Negotiation
 */
export function offer<E extends z.ZodType, I extends z.ZodType, P extends z.ZodType>(
  type: MappingType<E, I, P>,
  data: z.input<E>,
): ExporterOffer {
  if (type.importerOnly === true) {
    throw new Error(`mapping type ${type.id} is importer-only: exporters cannot offer it`);
  }
  return Object.freeze({ type, data: type.exporterData.parse(data) });
}

/**
 * Builds a validated importer accept.
 *
 * @param type - the mapping type.
 * @param data - the importer data, parsed with `type.importerData`.
 * @param module - the importing module's name.
 * @returns the accept.
 * @throws when the data does not fit the schema (a bug in the importer model).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accept, iommuDomain } from "@dmabuf-ref/core";
 *
 * // iommufd accepts the memory mapped into IOAS 2 at IOVA 1 MiB.
 * const a = accept(
 *   iommuDomain,
 *   { domain: "ioas2", iova: 0x100000n, offset: 0n, size: 0x10000n },
 *   "iommufd",
 * );
 * assert.equal(a.module, "iommufd");
 * assert.deepEqual(a.data, {
 *   domain: "ioas2",
 *   iova: 0x100000n,
 *   offset: 0n,
 *   size: 0x10000n,
 *   read: true,
 *   write: true,
 * });
 * assert.throws(() =>
 *   accept(iommuDomain, { domain: "ioas2", iova: 0n, offset: 0n, size: 0n }, "iommufd"),
 * );
 * ```
 * @category Negotiation
 */
export function accept<E extends z.ZodType, I extends z.ZodType, P extends z.ZodType>(
  type: MappingType<E, I, P>,
  data: z.input<I>,
  module: string,
): ImporterAccept {
  return Object.freeze({ type, data: type.importerData.parse(data), module });
}
