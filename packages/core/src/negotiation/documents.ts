import * as z from "zod";
import { findMappingType } from "../mapping-types/builtins.js";
import type { AnyMappingType } from "../mapping-types/define.js";
import { deviceIdSchema } from "../schemas.js";
import type { P2PDistance } from "../mapping-types/match-context.js";
import type { ExporterOffer, ImporterAccept } from "./offer.js";

/**
 * One problem found in an input document: where (a dotted path) and what.
 *
 * @category Negotiation
 */
export interface DocumentIssue {
  /** Path of the offending field, e.g. `"offers[1].data.p2pDevice"`; empty for the root. */
  readonly path: string;
  /** What is wrong with it. */
  readonly message: string;
}

/**
 * The outcome of parsing a document: the typed value, or every issue found.
 *
 * @category Negotiation
 */
export type DocumentResult<T> =
  | {
      /** The document is valid. */
      readonly ok: true;
      /** The typed value. */
      readonly value: T;
    }
  | {
      /** The document is invalid. */
      readonly ok: false;
      /** Every problem found, each with its path. */
      readonly issues: readonly DocumentIssue[];
    };

/**
 * A validated offers document.
 *
 * @category Negotiation
 */
export interface OffersDocument {
  /** The exporter's name in reports (default `"exporter"`). */
  readonly exporter: string;
  /** The offers, in priority order. */
  readonly offers: ExporterOffer[];
}

/**
 * A validated accepts document.
 *
 * @category Negotiation
 */
export interface AcceptsDocument {
  /** The importer's name in reports (default `"importer"`). */
  readonly importer: string;
  /** The accepts, in order, each carrying the importing module. */
  readonly accepts: ImporterAccept[];
}

const entrySchema = z.object({
  /** A mapping type id, e.g. `"pal"`. */
  type: z.string().min(1),
  /** The side's data for that type; `{}` when omitted. */
  data: z.unknown().optional(),
});

/**
 * zod schema of an offers file: a list of `{type, data}` entries, or
 * `{exporter, offers: [...]}` to name the exporter in reports.
 *
 * @category Negotiation
 */
export const offersDocumentSchema = z.union([
  z.array(entrySchema),
  z.object({
    /** The exporter's name in reports and traces. */
    exporter: z.string().min(1).optional(),
    /** The offers, in the exporter's priority order. */
    offers: z.array(entrySchema),
  }),
]);

/**
 * zod schema of an accepts file: a list of `{type, data}` entries, or
 * `{importer, module, accepts: [...]}`. `module` (default: the importer's
 * name) is checked against a type's importer allow-list.
 *
 * @category Negotiation
 */
export const acceptsDocumentSchema = z.union([
  z.array(entrySchema),
  z.object({
    /** The importer's name in reports and traces. */
    importer: z.string().min(1).optional(),
    /** The importing kernel module, e.g. `"iommufd"`. */
    module: z.string().min(1).optional(),
    /** The accepts, in the importer's order. */
    accepts: z.array(entrySchema),
  }),
]);

/**
 * The most entries an offers or accepts list may hold. A driver's
 * `match_mapping` and an importer's `imp_matches[]` are short fixed lists
 * (a handful of types); a file with more is refused before it is
 * validated entry by entry, so a huge file costs a length check, not
 * minutes of validation.
 *
 * @category Negotiation
 */
export const MAX_MATCH_ENTRIES = 65_536;

/** The issue of a list longer than {@link MAX_MATCH_ENTRIES}, before any entry is parsed. */
function tooManyEntries(
  raw: unknown,
  key: "offers" | "accepts",
): { ok: false; issues: DocumentIssue[] } | undefined {
  const list: unknown =
    Array.isArray(raw) || typeof raw !== "object" || raw === null
      ? raw
      : (raw as Record<string, unknown>)[key];
  if (!Array.isArray(list) || list.length <= MAX_MATCH_ENTRIES) return undefined;
  return {
    ok: false,
    issues: [
      {
        path: Array.isArray(raw) ? "" : key,
        message: `${list.length} entries: at most ${MAX_MATCH_ENTRIES} (a match list is a handful of types)`,
      },
    ],
  };
}

/**
 * zod schema of a topology file: the P2P distances `pci_p2pdma_distance()` would report.
 *
 * @category Negotiation
 */
export const topologyDocumentSchema = z.object({
  /** Measured (provider, client) pairs; unlisted pairs are unreachable. */
  distances: z
    .array(
      z.object({
        /** The device whose MMIO is exported. */
        provider: deviceIdSchema,
        /** The device that would DMA to it. */
        client: deviceIdSchema,
        /** >= 0 reachable, < 0 unreachable. */
        distance: z.number().int(),
      }),
    )
    // pci_p2pdma_distance() has one answer per pair: a pair listed twice
    // with two distances contradicts itself.
    .superRefine((ds, ctx) => {
      const seen = new Map<string, number>();
      ds.forEach((d, i) => {
        const key = `${d.provider}\u0000${d.client}`;
        const before = seen.get(key);
        if (before === undefined) seen.set(key, i);
        else if (ds[before]?.distance !== d.distance)
          ctx.addIssue({
            code: "custom",
            path: [i, "distance"],
            message:
              `${d.provider} -> ${d.client} is listed twice with different distances ` +
              `(distances[${before}] says ${ds[before]?.distance ?? "?"}, this says ${d.distance})`,
          });
      });
    }),
});

function zodIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): DocumentIssue[] {
  return error.issues.map((i) => ({
    path: formatPath([...prefix, ...i.path]),
    message: i.message,
  }));
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
    .join("");
}

function parseEntries<T>(
  entries: readonly z.output<typeof entrySchema>[],
  listName: string,
  extraTypes: readonly AnyMappingType[],
  build: (type: AnyMappingType, data: unknown, at: readonly PropertyKey[]) => T | DocumentIssue[],
): DocumentResult<T[]> {
  const issues: DocumentIssue[] = [];
  const values: T[] = [];
  entries.forEach((entry, index) => {
    const at = [listName, index];
    const type = findMappingType(entry.type, extraTypes);
    if (type === undefined) {
      issues.push({
        path: formatPath([...at, "type"]),
        message: `unknown mapping type "${entry.type}"`,
      });
      return;
    }
    const built = build(type, entry.data ?? {}, at);
    if (Array.isArray(built)) issues.push(...built);
    else values.push(built);
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value: values };
}

/**
 * Validates an offers document (parsed YAML or JSON) into exporter offers.
 *
 * @param raw - the parsed document.
 * @param extraTypes - mapping types beyond the built-ins.
 * @returns the exporter name and offers, or every issue with its path.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOffersDocument, sgt } from "@dmabuf-ref/core";
 *
 * const good = parseOffersDocument({
 *   exporter: "vfio0",
 *   offers: [{ type: "sgt", data: { requiresP2P: true, p2pDevice: "vfio0" } }],
 * });
 * assert.ok(good.ok);
 * assert.equal(good.value.offers[0]?.type, sgt);
 * const bad = parseOffersDocument([{ type: "sgt", data: { requiresP2P: true } }]);
 * assert.deepEqual(bad.ok ? [] : bad.issues.map((i) => i.path), ["offers[0].data.p2pDevice"]);
 * ```
 * @category Negotiation
 */
export function parseOffersDocument(
  raw: unknown,
  extraTypes: readonly AnyMappingType[] = [],
): DocumentResult<OffersDocument> {
  const crowded = tooManyEntries(raw, "offers");
  if (crowded !== undefined) return crowded;
  const doc = offersDocumentSchema.safeParse(raw);
  if (!doc.success) return { ok: false, issues: zodIssues(doc.error) };
  const { exporter, offers } = Array.isArray(doc.data)
    ? { exporter: undefined, offers: doc.data }
    : doc.data;
  const parsed = parseEntries(offers, "offers", extraTypes, (type, data, at) => {
    if (type.importerOnly === true) {
      return [
        {
          path: formatPath([...at, "type"]),
          message: `${type.id} is importer-only: exporters cannot offer it`,
        },
      ];
    }
    const r = type.exporterData.safeParse(data);
    return r.success ? { type, data: r.data } : zodIssues(r.error, [...at, "data"]);
  });
  return parsed.ok
    ? { ok: true, value: { exporter: exporter ?? "exporter", offers: parsed.value } }
    : parsed;
}

/**
 * Validates an accepts document into importer accepts.
 *
 * @param raw - the parsed document.
 * @param extraTypes - mapping types beyond the built-ins.
 * @returns the importer name and accepts, or every issue with its path.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAcceptsDocument, pal } from "@dmabuf-ref/core";
 *
 * const r = parseAcceptsDocument({ importer: "iommufd", accepts: [{ type: "pal" }] });
 * assert.ok(r.ok);
 * assert.equal(r.value.accepts[0]?.type, pal);
 * assert.equal(r.value.accepts[0]?.module, "iommufd");
 * const bad = parseAcceptsDocument([{ type: "ualink" }]);
 * assert.deepEqual(bad.ok ? [] : bad.issues, [
 *   { path: "accepts[0].type", message: 'unknown mapping type "ualink"' },
 * ]);
 * ```
 * @category Negotiation
 */
export function parseAcceptsDocument(
  raw: unknown,
  extraTypes: readonly AnyMappingType[] = [],
): DocumentResult<AcceptsDocument> {
  const crowded = tooManyEntries(raw, "accepts");
  if (crowded !== undefined) return crowded;
  const doc = acceptsDocumentSchema.safeParse(raw);
  if (!doc.success) return { ok: false, issues: zodIssues(doc.error) };
  const { importer, module, accepts } = Array.isArray(doc.data)
    ? { importer: undefined, module: undefined, accepts: doc.data }
    : doc.data;
  const name = importer ?? "importer";
  const parsed = parseEntries(accepts, "accepts", extraTypes, (type, data, at) => {
    const r = type.importerData.safeParse(data);
    return r.success
      ? { type, data: r.data, module: module ?? name }
      : zodIssues(r.error, [...at, "data"]);
  });
  return parsed.ok ? { ok: true, value: { importer: name, accepts: parsed.value } } : parsed;
}

/**
 * Validates a topology document.
 *
 * @param raw - the parsed document.
 * @returns the distances, or every issue with its path.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { p2pTopology, parseTopologyDocument } from "@dmabuf-ref/core";
 *
 * const r = parseTopologyDocument({
 *   distances: [{ provider: "vfio0", client: "nic0", distance: 2 }],
 * });
 * assert.ok(r.ok);
 * assert.equal(p2pTopology(r.value).p2pDistance("vfio0", "nic0"), 2);
 * const twice = parseTopologyDocument({
 *   distances: [
 *     { provider: "vfio0", client: "nic0", distance: 2 },
 *     { provider: "vfio0", client: "nic0", distance: -1 },
 *   ],
 * });
 * assert.equal(twice.ok ? "" : twice.issues[0]?.path, "distances[1].distance");
 * ```
 * @category Negotiation
 */
export function parseTopologyDocument(raw: unknown): DocumentResult<P2PDistance[]> {
  const doc = topologyDocumentSchema.safeParse(raw);
  return doc.success
    ? { ok: true, value: doc.data.distances }
    : { ok: false, issues: zodIssues(doc.error) };
}
