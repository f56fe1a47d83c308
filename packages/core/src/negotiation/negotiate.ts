import { kernelError } from "../errors/kernel-error.js";
import type { KernelError } from "../errors/kernel-error.js";
import type { AnyMappingType, MatchVerdict } from "../mapping-types/define.js";
import type { MatchContext } from "../mapping-types/match-context.js";
import { p2pTopology } from "../mapping-types/match-context.js";
import type { Profile } from "../profiles/profile.js";
import type { Converter } from "./converter.js";
import type { ExporterOffer, ImporterAccept } from "./offer.js";
import type { PairOutcome } from "./pair-outcome.js";

/**
 * One line of the negotiation report: a pair and what became of it.
 *
 * @category Negotiation
 */
export interface PairReport {
  /** 0-based index into the exporter's offers. */
  readonly exporterIndex: number;
  /** 0-based index into the importer's accepts. */
  readonly importerIndex: number;
  /** The offered type's id. */
  readonly exporterType: string;
  /** The accepted type's id. */
  readonly importerType: string;
  /** The converter tried for this pair, when the types differ and one exists. */
  readonly converter?: string;
  /** What negotiation concluded. */
  readonly outcome: PairOutcome;
}

/**
 * The pair that won: what `finish_match` records in `attach->map_type`.
 *
 * @category Negotiation
 */
export interface NegotiatedMatch {
  /** The type the importer receives (the importer-side type when converted). */
  readonly type: AnyMappingType;
  /** The type the exporter provides (differs from `type` only with a converter). */
  readonly exporterType: AnyMappingType;
  /** 0-based index of the winning offer. */
  readonly exporterIndex: number;
  /** 0-based index of the winning accept. */
  readonly importerIndex: number;
  /** The converter core inserts, if any. */
  readonly converter?: Converter;
  /** The winning offer's exporter data. */
  readonly exporterData: unknown;
  /** The winning accept's importer data. */
  readonly importerData: unknown;
}

/**
 * The result of {@link negotiate}: success with the match, or the errno the
 * attach fails with; either way every pair and its outcome, exporter-major.
 *
 * @category Negotiation
 */
export type NegotiationResult =
  | {
      /** A pair matched. */
      readonly ok: true;
      /** The winning pair. */
      readonly match: NegotiatedMatch;
      /** Every (offer, accept) pair exactly once, exporter-major. */
      readonly pairs: readonly PairReport[];
    }
  | {
      /** Nothing matched, or a `match()` aborted. */
      readonly ok: false;
      /** `EINVAL` when nothing matched; the aborting errno otherwise. */
      readonly error: KernelError;
      /** The stage that refused: always the negotiation itself here. */
      readonly stage: "negotiation";
      /** Every (offer, accept) pair exactly once, exporter-major. */
      readonly pairs: readonly PairReport[];
    };

type Verdict = { kind: "match" } | { kind: "final"; outcome: PairOutcome };

function verdictOf(result: MatchVerdict): Verdict {
  if (result === 0) return { kind: "match" };
  const outcome: PairOutcome =
    result.errno === "EOPNOTSUPP"
      ? { kind: "skipped", error: result }
      : { kind: "aborted", error: result };
  return { kind: "final", outcome };
}

/** The checks common to a direct and a converted pair, before any predicate. */
function profileRefusal(
  profile: Profile,
  offered: AnyMappingType,
  accepted: AnyMappingType,
  module: string,
): PairOutcome | undefined {
  for (const t of [offered, accepted]) {
    if (!profile.mappingTypes.includes(t)) return { kind: "type-absent", typeId: t.id };
  }
  const allowed = accepted.importerModules;
  if (allowed !== undefined && !allowed.includes(module)) {
    return { kind: "not-exported", module, allowed };
  }
  return undefined;
}

/**
 * Chooses the mapping type for an attachment, as `dma_buf_match_mapping()`
 * does (kernel-model §4.2, §7.12–7.14).
 *
 * The outer loop walks the exporter's offers in order and the inner loop the
 * importer's accepts in order, so the exporter's order sets priority. The
 * first same-type pair whose `match()` is absent or returns 0 wins;
 * `EOPNOTSUPP` skips the pair; any other errno aborts and is returned
 * unchanged; nothing matched is `EINVAL`. When the profile has converters, a
 * second pass in the same order tries pairs of different types that a
 * converter joins, so a direct match always beats a converted one.
 *
 * Under a profile without negotiation (linux-6.19, linux-7.1) the same loop
 * runs over the types that exist there, but no `match()` runs: the legacy
 * `dma_buf_attach` / `dma_buf_dynamic_attach` call fixes the type, and P2P
 * reachability is refused later by the exporter's `attach` or first map
 * (kernel-model §1.4, §2.3), which is where the refusal stage reports it.
 *
 * @param offers - the exporter's offers, in priority order.
 * @param accepts - the importer's accepts, in order.
 * @param profile - which types and converters exist.
 * @param ctx - the machine facts `match()` may ask (P2P distances).
 * @returns the match or the errno, with every pair's outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accept, negotiate, offer, pal, rfcMappingTypesV1, sgt } from "@dmabuf-ref/core";
 *
 * const r = negotiate(
 *   [offer(pal, {}), offer(sgt, { requiresP2P: true, p2pDevice: "vfio0" })],
 *   [accept(pal, {}, "iommufd")],
 *   rfcMappingTypesV1,
 * );
 * assert.ok(r.ok);
 * assert.equal(r.match.type, pal);
 * assert.equal(r.match.exporterIndex, 0);
 * ```
 * @kernel dma_buf_match_mapping
 * @category Negotiation
 */
export function negotiate(
  offers: readonly ExporterOffer[],
  accepts: readonly ImporterAccept[],
  profile: Profile,
  ctx: MatchContext = p2pTopology(),
): NegotiationResult {
  const outcomes = new Map<number, PairOutcome>();
  const width = accepts.length;
  const key = (e: number, i: number): number => e * width + i;
  const converterFor = (from: AnyMappingType, to: AnyMappingType): Converter | undefined =>
    profile.converters.find((c) => c.from === from && c.to === to);

  // Written by decide(); an object so the compiler does not narrow it away.
  const found: { winner?: NegotiatedMatch; abort?: KernelError } = {};

  // Settles one pair; returns true when the loop must stop (match or abort).
  const decide = (e: number, i: number, converter: Converter | undefined): boolean => {
    const offered = offers[e];
    const accepted = accepts[i];
    if (offered === undefined || accepted === undefined) throw new Error("pair out of range");
    const refusal = profileRefusal(profile, offered.type, accepted.type, accepted.module);
    // Without negotiation (6.19/7.1) no match() runs: the API the importer
    // called fixes the type, and the exporter's attach/map refuse later.
    const predicates = profile.negotiation === "mapping-types";
    const verdict: Verdict =
      refusal !== undefined
        ? { kind: "final", outcome: refusal }
        : !predicates
          ? { kind: "match" }
          : verdictOf(
              converter !== undefined
                ? (converter.match?.(ctx, offered.data, accepted.data) ?? 0)
                : (offered.type.match?.(ctx, offered.data, accepted.data) ?? 0),
            );
    if (verdict.kind === "match") {
      outcomes.set(key(e, i), { kind: "matched" });
      found.winner = {
        type: accepted.type,
        exporterType: offered.type,
        exporterIndex: e,
        importerIndex: i,
        ...(converter === undefined ? {} : { converter }),
        exporterData: offered.data,
        importerData: accepted.data,
      };
      return true;
    }
    outcomes.set(key(e, i), verdict.outcome);
    if (verdict.outcome.kind === "aborted") found.abort = verdict.outcome.error;
    return verdict.outcome.kind === "aborted";
  };

  // Pass 1: direct pairs, exporter-major. A pair of different types with no
  // converter is settled here; one with a converter waits for pass 2.
  const pending: number[] = [];
  const importerOnly = offers.find((o) => o.type.importerOnly === true);
  if (importerOnly !== undefined) {
    throw new Error(`exporter offered importer-only type ${importerOnly.type.id}`);
  }
  direct: for (const [e, offered] of offers.entries()) {
    for (const [i, accepted] of accepts.entries()) {
      if (offered.type === accepted.type) {
        if (decide(e, i, undefined)) break direct;
      } else if (converterFor(offered.type, accepted.type) === undefined) {
        outcomes.set(key(e, i), { kind: "no-common-type" });
      } else {
        pending.push(key(e, i));
      }
    }
  }
  const directWinner = found.winner !== undefined;

  // Pass 2: converted pairs, in the same order, only if pass 1 found nothing.
  const convertedPassRan = !directWinner && found.abort === undefined;
  if (convertedPassRan) {
    for (const k of pending) {
      const e = Math.floor(k / width);
      const i = k % width;
      const offered = offers[e];
      const accepted = accepts[i];
      if (offered === undefined || accepted === undefined) throw new Error("pair out of range");
      if (decide(e, i, converterFor(offered.type, accepted.type))) break;
    }
  }

  const pairs: PairReport[] = [];
  for (const [e, offered] of offers.entries()) {
    for (const [i, accepted] of accepts.entries()) {
      const converter =
        offered.type === accepted.type ? undefined : converterFor(offered.type, accepted.type);
      const outcome: PairOutcome = outcomes.get(key(e, i)) ?? {
        kind: "not-considered",
        because:
          converter !== undefined && !convertedPassRan
            ? "direct-preferred"
            : found.abort !== undefined
              ? "aborted-earlier"
              : "matched-earlier",
      };
      pairs.push({
        exporterIndex: e,
        importerIndex: i,
        exporterType: offered.type.id,
        importerType: accepted.type.id,
        ...(converter === undefined ? {} : { converter: converter.id }),
        outcome,
      });
    }
  }

  if (found.winner !== undefined) return { ok: true, match: found.winner, pairs };
  if (found.abort !== undefined) {
    return { ok: false, error: found.abort, stage: "negotiation", pairs };
  }
  const why =
    offers.length === 0
      ? "the exporter offered no mapping type"
      : accepts.length === 0
        ? "the importer accepts no mapping type"
        : `no acceptable pair: offers [${offers.map((o) => o.type.id).join(", ")}] x ` +
          `accepts [${accepts.map((a) => a.type.id).join(", ")}]`;
  return { ok: false, error: kernelError("EINVAL", why), stage: "negotiation", pairs };
}
