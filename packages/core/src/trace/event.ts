import type { KernelError } from "../errors/kernel-error.js";
import type { PairOutcome } from "../negotiation/pair-outcome.js";

/**
 * Every observable step of the model, as one discriminated union on `kind`
 * (DESIGN §3.8). Renderers consume it with an exhaustive match, so a new
 * event kind fails to compile until every renderer handles it.
 */
export type TraceEvent =
  /** `dma_buf_mapping_attach()` starts: the exporter's offers meet the importer's accepts. */
  | {
      /** Discriminant. */
      readonly kind: "negotiate";
      /** The exporter (driver or device name). */
      readonly exporter: string;
      /** The importer (module or device name). */
      readonly importer: string;
      /** The active profile. */
      readonly profile: string;
      /** Offered type ids, in priority order. */
      readonly offers: readonly string[];
      /** Accepted type ids, in order. */
      readonly accepts: readonly string[];
    }
  /** One pair the negotiation looked at and its outcome (kernel-facts §4.2). */
  | {
      /** Discriminant. */
      readonly kind: "negotiate-pair";
      /** The exporter. */
      readonly exporter: string;
      /** The importer. */
      readonly importer: string;
      /** 0-based offer index. */
      readonly exporterIndex: number;
      /** 0-based accept index. */
      readonly importerIndex: number;
      /** Offered type id. */
      readonly exporterType: string;
      /** Accepted type id. */
      readonly importerType: string;
      /** The converter tried, if any. */
      readonly converter?: string;
      /** What became of the pair. */
      readonly outcome: PairOutcome;
      /** The outcome in one sentence. */
      readonly reason: string;
    }
  /** The negotiation's answer: `attach->map_type`, or the errno the attach fails with. */
  | {
      /** Discriminant. */
      readonly kind: "negotiate-result";
      /** The exporter. */
      readonly exporter: string;
      /** The importer. */
      readonly importer: string;
      /** The match, or the failure. */
      readonly result:
        | {
            /** The attach gets a mapping type. */
            readonly ok: true;
            /** The importer-side type id. */
            readonly type: string;
            /** 0-based offer index. */
            readonly exporterIndex: number;
            /** 0-based accept index. */
            readonly importerIndex: number;
            /** The converter core inserted, if any. */
            readonly converter?: string;
          }
        | {
            /** The attach fails. */
            readonly ok: false;
            /** The errno and the failed check. */
            readonly error: KernelError;
          };
    }
  /** A process issues an ioctl on an fd and gets its return value. */
  | {
      /** Discriminant. */
      readonly kind: "ioctl";
      /** The calling process, e.g. "qemu". */
      readonly process: string;
      /** What the fd refers to, e.g. "vfio0" or "iommufd". */
      readonly target: string;
      /** The ioctl macro, e.g. "IOMMU_IOAS_MAP_FILE". */
      readonly name: string;
      /** The return value (>= 0) or the errno. */
      readonly result:
        | {
            /** The ioctl returned >= 0. */
            readonly ok: true;
            /** The return value (a new fd, or 0). */
            readonly ret: number;
          }
        | {
            /** The ioctl returned -errno. */
            readonly ok: false;
            /** The errno and the failed check. */
            readonly error: KernelError;
          };
    }
  /** A free-text remark attached to an actor (a scenario's commentary). */
  | {
      /** Discriminant. */
      readonly kind: "note";
      /** The actor the note is about. */
      readonly actor: string;
      /** The remark. */
      readonly text: string;
    };

/** The `kind` of every {@link TraceEvent}. */
export type TraceEventKind = TraceEvent["kind"];
