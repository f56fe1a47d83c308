import { P, match } from "ts-pattern";
import { formatKernelError } from "../errors/kernel-error.js";
import type { TraceEvent } from "./event.js";
import { holderActor } from "../lifetime/resv.js";

/**
 * An event reduced to what every renderer draws: who acts, on whom (absent
 * for a note about one actor), and one sentence.
 *
 * @category Tracing
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeEvent, kernelError } from "@dmabuf-ref/core";
 *
 * const line = describeEvent({
 *   kind: "ioctl",
 *   process: "qemu",
 *   target: "iommufd",
 *   name: "IOMMU_IOAS_MAP_FILE",
 *   result: { ok: false, error: kernelError("ENODEV", "the VFIO dma-buf is revoked") },
 * });
 * assert.deepEqual(line, {
 *   from: "qemu",
 *   to: "iommufd",
 *   text: "IOMMU_IOAS_MAP_FILE = -ENODEV: the VFIO dma-buf is revoked",
 * });
 * ```
 * @category Tracing
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
    .with({ kind: "export" }, (e) => ({
      from: e.owner,
      text: `dma_buf_export: buf ${e.buf}, size 0x${e.size.toString(16)}`,
    }))
    .with({ kind: "attach" }, (e) => ({
      from: e.importer,
      to: e.owner,
      text:
        `${e.dynamic ? "dynamic" : "static"} attach ${e.att}: ${e.mapType}` +
        (e.revocable ? ", revocable" : ", not revocable"),
    }))
    .with({ kind: "detach" }, (e) => ({
      from: e.importer,
      to: e.owner,
      text: `detach attach ${e.att}`,
    }))
    .with({ kind: "resv" }, (e) => {
      const context = e.holder.slice(holderActor(e.holder).length + 1);
      return {
        from: holderActor(e.holder),
        to: `buf ${e.buf}`,
        text: `dma_resv_${e.action}${context === "" ? "" : ` (${context})`}`,
      };
    })
    .with({ kind: P.union("map", "unmap") }, (e) => ({
      from: e.importer,
      to: e.owner,
      text: `${e.kind} attach ${e.att}${e.detail === "" ? "" : `: ${e.detail}`}`,
    }))
    .with({ kind: P.union("pin", "unpin") }, (e) => ({
      from: e.importer,
      to: e.owner,
      text: `${e.kind} attach ${e.att}${e.implicit ? ` (${e.kind}-on-${e.kind === "pin" ? "map" : "unmap"})` : ""}`,
    }))
    .with({ kind: "revoked" }, (e) => ({
      from: e.owner,
      text: `buf ${e.buf} revoked = ${e.state}`,
    }))
    .with({ kind: "invalidate" }, (e) => ({
      from: e.owner,
      to: e.importer,
      text: `${e.callback}(attach ${e.att})`,
    }))
    .with({ kind: P.union("fence-add", "fence-signal") }, (e) => ({
      from: e.device,
      to: `buf ${e.buf}`,
      text: `${e.kind === "fence-add" ? "adds" : "signals"} fence ${e.job}`,
    }))
    .with({ kind: "wait" }, (e) => ({
      from: e.owner,
      to: `buf ${e.buf}`,
      text:
        e.state === "blocked"
          ? `${e.by} blocked: waits for ${e.what}` +
            (e.outstanding > 0 ? ` (${e.outstanding} outstanding)` : "")
          : `${e.by}: wait for ${e.what} done`,
    }))
    .with({ kind: "task" }, (e) => ({
      from: e.owner,
      text:
        `${e.by}: ${e.task}${e.task === "revoke" ? (e.permanent ? " (permanent)" : " (temporary)") : ""} ` +
        `of buf ${e.buf} ${e.phase === "start" ? "starts" : "complete"}`,
    }))
    .with({ kind: "dma" }, (e) => ({
      from: e.device,
      text:
        `DMA ${e.dir} 0x${e.addr.toString(16)}+0x${e.len.toString(16)}: ` +
        `${e.outcome.toUpperCase()}${e.detail === "" ? "" : ` (${e.detail})`}`,
    }))
    .with({ kind: "cpu" }, (e) => ({
      from: e.process,
      ...(e.actor === e.process ? {} : { to: e.actor }),
      text:
        `CPU ${e.dir === "read" ? "load" : "store"} 0x${e.addr.toString(16)}+0x${e.len.toString(16)}: ` +
        `${e.outcome.toUpperCase()}${e.detail === "" ? "" : ` (${e.detail})`}`,
    }))
    .with({ kind: "violation" }, (e) => ({
      from: e.violation.actor,
      text: `VIOLATION ${e.violation.kind}: ${e.violation.rule}: ${e.violation.message}`,
    }))
    .with({ kind: "region" }, (e) => ({ from: e.actor, text: `region ${e.region} ${e.status}` }))
    .with({ kind: "release" }, (e) => ({ from: e.owner, text: `release buf ${e.buf}` }))
    .with({ kind: "error" }, (e) => ({
      from: e.actor,
      text: `${e.call} = -${formatKernelError(e.error)}`,
    }))
    .with({ kind: "note" }, (e) => ({ from: e.actor, text: e.text }))
    .exhaustive();
}
