import type { DmaDirection } from "../world/job.js";

/**
 * One atomic operation on the World: the alphabet of `step` (DESIGN §2a).
 * Each member names the kernel call or event it models. Holders name who
 * claims to hold a buffer's reservation lock (a task or an actor).
 *
 * @category Lifetime
 */
export type Op =
  /** `dma_buf_export()` by an exporter driver; `args` are the driver's. */
  | {
      /** Discriminant. */
      readonly kind: "export";
      /** The exporter driver. */
      readonly exporter: string;
      /** The exporting device or instance name. */
      readonly owner: string;
      /** Driver-specific export arguments. */
      readonly args: unknown;
    }
  /** `dma_buf_dynamic_attach()` (dynamic) or `dma_buf_attach()` (static). */
  | {
      /** Discriminant. */
      readonly kind: "attach";
      /** The dma-buf id. */
      readonly buf: number;
      /** The importer driver. */
      readonly importer: string;
      /** The importing DMA device, or null (KVM). */
      readonly device: string | null;
      /** Dynamic (importer ops) or static. */
      readonly dynamic: boolean;
    }
  /** `dma_buf_detach()`. */
  | {
      /** Discriminant. */
      readonly kind: "detach";
      /** The attachment id. */
      readonly att: number;
    }
  /** `dma_resv_lock()` / `dma_resv_unlock()`. */
  | {
      /** Discriminant. */
      readonly kind: "lock" | "unlock";
      /** The dma-buf id. */
      readonly buf: number;
      /** Who takes or drops the lock. */
      readonly holder: string;
    }
  /**
   * `dma_buf_map_attachment()` / `dma_buf_unmap_attachment()` with resv held
   * by `holder`, or the `_unlocked` variants (static importers) when
   * `holder` is null.
   */
  | {
      /** Discriminant. */
      readonly kind: "map" | "unmap";
      /** The attachment id. */
      readonly att: number;
      /** The resv holder, or null for the `_unlocked` variant. */
      readonly holder: string | null;
      /** The importer's arguments for a map through a converter (map only). */
      readonly args?: unknown;
    }
  /** `dma_buf_pin()` / `dma_buf_unpin()` (resv held by `holder`). */
  | {
      /** Discriminant. */
      readonly kind: "pin" | "unpin";
      /** The attachment id. */
      readonly att: number;
      /** The resv holder. */
      readonly holder: string;
    }
  /** A device starts DMA through a mapping and adds its fence (resv held). */
  | {
      /** Discriminant. */
      readonly kind: "dma-submit";
      /** The attachment whose mapping the job uses. */
      readonly att: number;
      /** The DMA address the job accesses. */
      readonly addr: bigint;
      /** Bytes per access. */
      readonly len: bigint;
      /** Read or write. */
      readonly dir: DmaDirection;
      /** The resv holder adding the fence. */
      readonly holder: string;
    }
  /** A submitted job performs its access. */
  | {
      /** Discriminant. */
      readonly kind: "dma-access";
      /** The job id. */
      readonly job: number;
    }
  /** The device signals a job's fence. */
  | {
      /** Discriminant. */
      readonly kind: "signal";
      /** The job id. */
      readonly job: number;
    }
  /** A device accesses an address once, with no fence (e.g. a guest's device through iommufd). */
  | {
      /** Discriminant. */
      readonly kind: "dma";
      /** The device. */
      readonly device: string;
      /** The address it issues. */
      readonly addr: bigint;
      /** Bytes. */
      readonly len: bigint;
      /** Read or write. */
      readonly dir: DmaDirection;
    }
  /** The exporter starts its revoke sequence (kernel-model §1.3). */
  | {
      /** Discriminant. */
      readonly kind: "revoke";
      /** The dma-buf id. */
      readonly buf: number;
      /** Permanent (close, unbind) or temporary (reset, memory off). */
      readonly permanent: boolean;
      /** Who revokes, as traces name it. */
      readonly by: string;
    }
  /** The exporter starts its un-revoke sequence (kernel-model §2.5). */
  | {
      /** Discriminant. */
      readonly kind: "unrevoke";
      /** The dma-buf id. */
      readonly buf: number;
      /** Who un-revokes. */
      readonly by: string;
    }
  /** Advances a task by one step, if it is not blocked. */
  | {
      /** Discriminant. */
      readonly kind: "task";
      /** The task id. */
      readonly task: number;
    }
  /** `fput()` of one file reference; the last one releases the buffer. */
  | {
      /** Discriminant. */
      readonly kind: "close";
      /** The dma-buf id. */
      readonly buf: number;
    }
  /** Memory of a region goes away (reset, disable, free) or comes back. */
  | {
      /** Discriminant. */
      readonly kind: "region";
      /** The region id (name). */
      readonly region: string;
      /** The new state; going inaccessible makes the region's grants stale. */
      readonly status: "live" | "inaccessible";
      /** Who does it. */
      readonly by: string;
    }
  /** A driver-specific action (FLR, a config write, an importer's own work). */
  | {
      /** Discriminant. */
      readonly kind: "driver";
      /** The driver's name. */
      readonly driver: string;
      /**
       * The driver op: `{ op: NAME, ...fields }`, NAME one of the driver's
       * registered `ops`, whose schema `step` checks the fields against.
       */
      readonly action: unknown;
    };

/**
 * The `kind` of every {@link Op}.
 *
 * @category Lifetime
 */
export type OpKind = Op["kind"];

/** Every core op kind, once: a `Record` so the compiler checks none is missing. */
const CORE_KIND_SET: Readonly<Record<OpKind, true>> = {
  export: true,
  attach: true,
  detach: true,
  lock: true,
  unlock: true,
  map: true,
  unmap: true,
  pin: true,
  unpin: true,
  "dma-submit": true,
  "dma-access": true,
  signal: true,
  dma: true,
  revoke: true,
  unrevoke: true,
  task: true,
  close: true,
  region: true,
  driver: true,
};

/**
 * Every core op's `kind`, the names a driver op may not take (a plain op
 * `{ op: NAME }` with one of these is core's).
 *
 * @category Lifetime
 */
export const CORE_OP_KINDS: readonly OpKind[] = Object.keys(CORE_KIND_SET).filter(
  (k): k is OpKind => k in CORE_KIND_SET,
);
