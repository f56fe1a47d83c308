import { match } from "ts-pattern";
import { formatKernelError } from "../errors/kernel-error.js";
import type { TraceEvent } from "./event.js";

/**
 * An event reduced to what every renderer draws: who acts, on whom (absent
 * for a note about one actor), and one sentence.
 */
export interface EventLine {
  /** The acting participant. */
  readonly from: string;
  /** The participant acted upon; absent for a self-note. */
  readonly to?: string;
  /** What happened. */
  readonly text: string;
}

/**
 * The one place an event's wording lives, so text, Mermaid and any later
 * renderer say the same thing.
 *
 * @param event - the event.
 * @returns its participants and sentence.
 */
export function describeEvent(event: TraceEvent): EventLine {
  return match(event)
    .returnType<EventLine>()
    .with({ kind: "negotiate" }, (e) => ({
      from: e.importer,
      to: e.exporter,
      text: `attach (${e.profile}): offers [${e.offers.join(", ")}] x accepts [${e.accepts.join(", ")}]`,
    }))
    .with({ kind: "negotiate-pair" }, (e) => ({
      from: e.exporter,
      to: e.importer,
      text:
        `pair ${e.exporterIndex}/${e.importerIndex} ${e.exporterType}` +
        (e.exporterType === e.importerType
          ? ""
          : e.converter === undefined
            ? ` x ${e.importerType}`
            : `->${e.importerType}`) +
        `: ${e.reason}`,
    }))
    .with({ kind: "negotiate-result" }, (e) => ({
      from: e.exporter,
      to: e.importer,
      text: e.result.ok
        ? `map_type = ${e.result.type} (offer ${e.result.exporterIndex}, accept ` +
          `${e.result.importerIndex}${e.result.converter === undefined ? "" : `, via ${e.result.converter}`})`
        : `attach fails: ${formatKernelError(e.result.error)}`,
    }))
    .with({ kind: "ioctl" }, (e) => ({
      from: e.process,
      to: e.target,
      text: `${e.name} = ${e.result.ok ? String(e.result.ret) : `-${formatKernelError(e.result.error)}`}`,
    }))
    .with({ kind: "note" }, (e) => ({ from: e.actor, text: e.text }))
    .exhaustive();
}
