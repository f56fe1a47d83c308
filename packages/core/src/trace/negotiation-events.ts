import { describePairOutcome } from "../negotiation/pair-outcome.js";
import type { NegotiationResult } from "../negotiation/negotiate.js";
import type { ExporterOffer, ImporterAccept } from "../negotiation/offer.js";
import type { TraceEvent } from "./event.js";

/**
 * The trace of one negotiation: the attach request, every pair the loop
 * settled (not the pairs it never reached), and the answer.
 *
 * @param who - the exporter and importer names to show.
 * @param offers - the exporter's offers.
 * @param accepts - the importer's accepts.
 * @param profileId - the active profile.
 * @param result - what {@link negotiate} returned.
 * @returns the events, in order.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   accept,
 *   negotiate,
 *   negotiationEvents,
 *   offer,
 *   pal,
 *   rfcMappingTypesV1,
 *   sgt,
 * } from "@dmabuf-ref/core";
 *
 * const offers = [offer(pal, {}), offer(sgt, { requiresP2P: true, p2pDevice: "vfio0" })];
 * const accepts = [accept(pal, {}, "iommufd")];
 * const result = negotiate(offers, accepts, rfcMappingTypesV1);
 * const who = { exporter: "vfio0", importer: "iommufd" };
 * const events = negotiationEvents(who, offers, accepts, rfcMappingTypesV1.id, result);
 * assert.deepEqual(
 *   events.map((e) => e.kind),
 *   ["negotiate", "negotiate-pair", "negotiate-result"],
 * );
 * ```
 * @category Tracing
 */
export function negotiationEvents(
  who: { readonly exporter: string; readonly importer: string },
  offers: readonly ExporterOffer[],
  accepts: readonly ImporterAccept[],
  profileId: string,
  result: NegotiationResult,
): TraceEvent[] {
  const events: TraceEvent[] = [
    {
      kind: "negotiate",
      ...who,
      profile: profileId,
      offers: offers.map((o) => o.type.id),
      accepts: accepts.map((a) => a.type.id),
    },
  ];
  for (const p of result.pairs) {
    if (p.outcome.kind === "not-considered") continue;
    events.push({
      kind: "negotiate-pair",
      ...who,
      exporterIndex: p.exporterIndex,
      importerIndex: p.importerIndex,
      exporterType: p.exporterType,
      importerType: p.importerType,
      ...(p.converter === undefined ? {} : { converter: p.converter }),
      outcome: p.outcome,
      reason: describePairOutcome(p.outcome, profileId),
    });
  }
  events.push({
    kind: "negotiate-result",
    ...who,
    result: result.ok
      ? {
          ok: true,
          type: result.match.type.id,
          exporterIndex: result.match.exporterIndex,
          importerIndex: result.match.importerIndex,
          ...(result.match.converter === undefined ? {} : { converter: result.match.converter.id }),
        }
      : { ok: false, error: result.error },
  });
  return events;
}
