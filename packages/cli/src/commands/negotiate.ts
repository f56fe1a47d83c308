import {
  describePairOutcome,
  formatKernelError,
  negotiate,
  p2pTopology,
  parseAcceptsDocument,
  parseOffersDocument,
  parseTopologyDocument,
  EMAIL_WIDTH,
  wrapLine,
} from "@dmabuf-ref/core";
import type { AnyMappingType, NegotiationResult, Profile } from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import { markdownTable } from "../io/report-format.js";
import type { ReportFormat } from "../io/report-format.js";
import { loadDocument } from "../io/load-document.js";

/** The files and switches of `dmabuf-ref negotiate`. */
export interface NegotiateOptions {
  /** Path of the offers file (YAML or JSON). */
  readonly offers: string;
  /** Path of the accepts file. */
  readonly accepts: string;
  /** Optional topology file with P2P distances. */
  readonly topology?: string;
  /** The profile to negotiate under. */
  readonly profile: Profile;
  /** Text, a Markdown table of the pairs, or JSON. */
  readonly format: ReportFormat;
  /** Mapping types beyond the built-ins the files may name (the `--load` plugins'). */
  readonly mappingTypes?: readonly AnyMappingType[];
}

/**
 * Runs `dmabuf-ref negotiate`: loads both sides, negotiates, and reports.
 *
 * @param opts - the command's options.
 * @returns the output and the exit status (0 match, 1 no match).
 * @throws UsageError (exit 2) for a bad file.
 */
export function runNegotiate(opts: NegotiateOptions): { output: string; exitCode: 0 | 1 } {
  const types = opts.mappingTypes ?? [];
  const { exporter, offers } = loadDocument(opts.offers, (raw) => parseOffersDocument(raw, types));
  const { importer, accepts } = loadDocument(opts.accepts, (raw) =>
    parseAcceptsDocument(raw, types),
  );
  const distances =
    opts.topology === undefined ? [] : loadDocument(opts.topology, parseTopologyDocument);
  const result = negotiate(offers, accepts, opts.profile, p2pTopology(distances));
  const output =
    opts.format === "json"
      ? toJson(negotiationJson(result, opts.profile.id, exporter, importer))
      : opts.format === "markdown"
        ? negotiationMarkdown(result, opts.profile.id, exporter, importer)
        : negotiationText(result, opts.profile.id, exporter, importer);
  return { output, exitCode: result.ok ? 0 : 1 };
}

/**
 * The JSON form of a negotiation: the chosen pair or the failure, and every pair.
 *
 * @param result - what negotiate returned.
 * @param profile - the profile id.
 * @param exporter - the exporter's name.
 * @param importer - the importer's name.
 * @returns plain data.
 */
export function negotiationJson(
  result: NegotiationResult,
  profile: string,
  exporter: string,
  importer: string,
): Record<string, unknown> {
  const pairs = result.pairs.map((p) => ({
    exporterIndex: p.exporterIndex,
    importerIndex: p.importerIndex,
    exporterType: p.exporterType,
    importerType: p.importerType,
    ...(p.converter === undefined ? {} : { converter: p.converter }),
    outcome: p.outcome.kind,
    ...("error" in p.outcome ? { errno: p.outcome.error.errno } : {}),
    reason: describePairOutcome(p.outcome, profile),
  }));
  const head = { profile, exporter, importer };
  return result.ok
    ? {
        ...head,
        ok: true,
        type: result.match.type.id,
        exporterIndex: result.match.exporterIndex,
        importerIndex: result.match.importerIndex,
        ...(result.match.converter === undefined ? {} : { converter: result.match.converter.id }),
        pairs,
      }
    : {
        ...head,
        ok: false,
        errno: result.error.errno,
        message: result.error.message,
        stage: result.stage,
        pairs,
      };
}

/**
 * The text form of a negotiation, email-safe.
 *
 * @param result - what negotiate returned.
 * @param profile - the profile id.
 * @param exporter - the exporter's name.
 * @param importer - the importer's name.
 * @returns the report.
 */
export function negotiationText(
  result: NegotiationResult,
  profile: string,
  exporter: string,
  importer: string,
): string {
  const headline = result.ok
    ? `match: ${result.match.type.id} (exporter index ${result.match.exporterIndex}, importer index ` +
      `${result.match.importerIndex}` +
      (result.match.converter === undefined ? ")" : `, converter ${result.match.converter.id})`)
    : `no match: ${formatKernelError(result.error)} (stage: ${result.stage})`;
  const pairs = result.pairs.flatMap((p) =>
    wrapLine(
      `  [${p.exporterIndex}] ${p.exporterType} x [${p.importerIndex}] ${p.importerType}: ` +
        describePairOutcome(p.outcome, profile),
      EMAIL_WIDTH,
      6,
    ),
  );
  return (
    [
      ...wrapLine(`${exporter} -> ${importer} under ${profile}`, EMAIL_WIDTH, 4),
      ...wrapLine(headline, EMAIL_WIDTH, 4),
      "pairs:",
      ...pairs,
    ].join("\n") + "\n"
  );
}

/**
 * A negotiation as Markdown for an RFC document: the outcome in one line,
 * then every pair and what became of it as a table.
 *
 * @param result - what negotiate returned.
 * @param profile - the profile id.
 * @param exporter - the exporter's name.
 * @param importer - the importer's name.
 * @returns the Markdown.
 */
export function negotiationMarkdown(
  result: NegotiationResult,
  profile: string,
  exporter: string,
  importer: string,
): string {
  const outcome = result.ok
    ? `match: \`${result.match.type.id}\`` +
      (result.match.converter === undefined ? "" : ` via \`${result.match.converter.id}\``)
    : `no match: ${formatKernelError(result.error)}`;
  return (
    `${exporter} -> ${importer} under ${profile}: ${outcome}\n\n` +
    markdownTable(
      ["offer", "accept", "outcome"],
      result.pairs.map((p) => [
        `[${p.exporterIndex}] ${p.exporterType}`,
        `[${p.importerIndex}] ${p.importerType}`,
        describePairOutcome(p.outcome, profile),
      ]),
    )
  );
}
