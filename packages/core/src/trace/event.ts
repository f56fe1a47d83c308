import type { KernelError } from "../errors/kernel-error.js";
import type { PairOutcome } from "../negotiation/pair-outcome.js";
import type { Violation } from "../world/violation.js";

/**
 * What a sleeping kernel path waits for: a dma-buf's reservation lock, its
 * unsignalled fences, the importers' unmaps after a revoke, or a driver's
 * own lock (VFIO's `memory_lock`).
 *
 * @category Tracing
 */
export type WaitFor = "resv" | "fences" | "unmaps" | "lock";

/**
 * Every observable step of the model, as one discriminated union on `kind`
 * (DESIGN §3.8). Renderers consume it with an exhaustive match, so a new
 * event kind fails to compile until every renderer handles it.
 *
 * @category Tracing
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
  /** One pair the negotiation looked at and its outcome (kernel-model §4.2). */
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
  /** `dma_buf_export()`: a new dma-buf and its first file reference. */
  | {
      /** Discriminant. */
      readonly kind: "export";
      /** The exporting device or instance. */
      readonly owner: string;
      /** The new dma-buf's id. */
      readonly buf: number;
      /** `dmabuf->size`. */
      readonly size: bigint;
    }
  /** An attachment was made (`dma_buf_dynamic_attach` / `dma_buf_attach`). */
  | {
      /** Discriminant. */
      readonly kind: "attach";
      /** The importer. */
      readonly importer: string;
      /** The exporting owner. */
      readonly owner: string;
      /** The new attachment's id. */
      readonly att: number;
      /** Dynamic (with importer ops) or static. */
      readonly dynamic: boolean;
      /** `dma_buf_attach_revocable()`. */
      readonly revocable: boolean;
      /** The negotiated type. */
      readonly mapType: string;
    }
  /** `dma_buf_detach()`. */
  | {
      /** Discriminant. */
      readonly kind: "detach";
      /** The importer. */
      readonly importer: string;
      /** The exporting owner. */
      readonly owner: string;
      /** The attachment's id. */
      readonly att: number;
    }
  /** `dma_resv_lock()` / `dma_resv_unlock()` on a buffer's reservation object. */
  | {
      /** Discriminant. */
      readonly kind: "resv";
      /** Who takes or drops it. */
      readonly holder: string;
      /** The exporting owner (names the buffer in traces). */
      readonly owner: string;
      /** The dma-buf id. */
      readonly buf: number;
      /** Taken or dropped. */
      readonly action: "lock" | "unlock";
    }
  /** `dma_buf_map_attachment()` or `dma_buf_unmap_attachment()` returned. */
  | {
      /** Discriminant. */
      readonly kind: "map" | "unmap";
      /** The importer. */
      readonly importer: string;
      /** The exporting owner. */
      readonly owner: string;
      /** The attachment. */
      readonly att: number;
      /** The payload, described by its mapping type (map only). */
      readonly detail: string;
    }
  /** `dma_buf_pin()` or `dma_buf_unpin()` returned. */
  | {
      /** Discriminant. */
      readonly kind: "pin" | "unpin";
      /** The importer. */
      readonly importer: string;
      /** The exporting owner. */
      readonly owner: string;
      /** The attachment. */
      readonly att: number;
      /** Pinned on behalf of map (pin-on-map, kernel-model §1.2). */
      readonly implicit: boolean;
    }
  /** A buffer's revoked state changed (only under resv, kernel-model §2.5). */
  | {
      /** Discriminant. */
      readonly kind: "revoked";
      /** The exporting owner. */
      readonly owner: string;
      /** The dma-buf id. */
      readonly buf: number;
      /** The new state. */
      readonly state: "usable" | "temporary" | "permanent";
    }
  /** `dma_buf_invalidate_mappings()` called one importer's callback. */
  | {
      /** Discriminant. */
      readonly kind: "invalidate";
      /** The exporting owner. */
      readonly owner: string;
      /** The importer told. */
      readonly importer: string;
      /** The attachment. */
      readonly att: number;
      /** The callback's name under the profile. */
      readonly callback: string;
    }
  /** A device's DMA job added a BOOKKEEP fence, or signalled it. */
  | {
      /** Discriminant. */
      readonly kind: "fence-add" | "fence-signal";
      /** The device. */
      readonly device: string;
      /** The exporting owner. */
      readonly owner: string;
      /** The dma-buf whose resv holds the fence. */
      readonly buf: number;
      /** The job (fence) id. */
      readonly job: number;
    }
  /** A task waits for a condition, or the condition came true. */
  | {
      /** Discriminant. */
      readonly kind: "wait";
      /** The operation that waits (a task's name, e.g. "FLR"). */
      readonly by: string;
      /** The exporting owner, who runs the operation. */
      readonly owner: string;
      /** The dma-buf waited on. */
      readonly buf: number;
      /** What it waits for. */
      readonly what: WaitFor;
      /** `blocked`: it must wait; `done`: the wait is over. */
      readonly state: "blocked" | "done";
      /** How many fences or mappings are outstanding when blocked. */
      readonly outstanding: number;
    }
  /** A kernel operation (revoke, un-revoke) started or finished. */
  | {
      /** Discriminant. */
      readonly kind: "task";
      /** Why it runs (e.g. "FLR", "close"). */
      readonly by: string;
      /** The exporting owner, who runs it. */
      readonly owner: string;
      /** The dma-buf. */
      readonly buf: number;
      /** Which operation. */
      readonly task: "revoke" | "unrevoke";
      /** Started or complete. */
      readonly phase: "start" | "complete";
      /** For a revoke: permanent or temporary. */
      readonly permanent: boolean;
    }
  /** A device accessed memory; the oracle's verdict. */
  | {
      /** Discriminant. */
      readonly kind: "dma";
      /** The device. */
      readonly device: string;
      /** The address the device issued. */
      readonly addr: bigint;
      /** Bytes. */
      readonly len: bigint;
      /** Read or write. */
      readonly dir: "read" | "write";
      /** ok, an IOMMU fault, or a violation. */
      readonly outcome: "ok" | "fault" | "violation";
      /** Where it landed or why it did not. */
      readonly detail: string;
      /** The region the access reached and the offset in it (absent for a fault). */
      readonly landed?: {
        /** The region's id (`ram0`, `vfio0.bar0`, `vmm.anon`). */
        readonly region: string;
        /** Bytes from the region's base to the first byte accessed. */
        readonly offset: bigint;
      };
    }
  /**
   * A process's CPU load or store through a user mapping of a dma-buf (a
   * VMA an exporter's `mmap` op set up, e.g. VFIO's with Matt Evans'
   * series): it reached memory, faulted (`VM_FAULT_SIGBUS` from the
   * exporter's fault handler once the buffer is revoked and its PTEs are
   * zapped, or SIGSEGV with no VMA at the address), or reached memory that
   * no longer decodes (a violation the oracle also records).
   */
  | {
      /** Discriminant. */
      readonly kind: "cpu";
      /**
       * Who answers the access: the exporting device whose VMA covers the
       * address, or the process itself when no VMA does.
       */
      readonly actor: string;
      /** The process whose thread issued the load or store. */
      readonly process: string;
      /** The user virtual address. */
      readonly addr: bigint;
      /** Bytes. */
      readonly len: bigint;
      /** A load (read) or a store (write). */
      readonly dir: "read" | "write";
      /** ok, a fault (SIGBUS or SIGSEGV), or a violation. */
      readonly outcome: "ok" | "fault" | "violation";
      /** Where it landed, or which signal and why. */
      readonly detail: string;
    }
  /** The oracle caught a violation. */
  | {
      /** Discriminant. */
      readonly kind: "violation";
      /** What was broken. */
      readonly violation: Violation;
    }
  /** A region's memory went away (reset, disable, free) or came back. */
  | {
      /** Discriminant. */
      readonly kind: "region";
      /** Who did it. */
      readonly actor: string;
      /** The region. */
      readonly region: string;
      /** The new state. */
      readonly status: "live" | "inaccessible";
    }
  /** The last file reference went away: `ops->release`. */
  | {
      /** Discriminant. */
      readonly kind: "release";
      /** The exporting owner. */
      readonly owner: string;
      /** The dma-buf id. */
      readonly buf: number;
    }
  /** An operation failed with an errno; the world is unchanged. */
  | {
      /** Discriminant. */
      readonly kind: "error";
      /** Who called. */
      readonly actor: string;
      /** The call, e.g. "dma_buf_map_attachment". */
      readonly call: string;
      /** The errno and the failed check. */
      readonly error: KernelError;
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

/**
 * The `kind` of every {@link TraceEvent}.
 *
 * @category Tracing
 */
export type TraceEventKind = TraceEvent["kind"];
