import type { ImporterAccept } from "../negotiation/offer.js";
import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import type { World } from "../world/world.js";
import type { DriverStep } from "./exporter.js";

/** What an importer is asked to accept for: one attach call. */
export interface AttachRequest {
  /** The importing DMA device (null for KVM). */
  readonly device: string | null;
  /** `dma_buf_dynamic_attach` (true) or `dma_buf_attach` (false). */
  readonly dynamic: boolean;
  /** `attach->peer2peer`: `allow_peer2peer` when dynamic, false when static. */
  readonly peer2peer: boolean;
}

/**
 * An importer driver: the model of `struct dma_buf_attach_ops`
 * (kernel-facts §1.2) plus what the importer accepts and the work it owes.
 */
export interface ImporterDriver {
  /** The driver's name, e.g. "iommufd" (also the module checked by allow-lists). */
  readonly name: string;
  /** `allow_peer2peer`: copes with peer memory that has no struct page. */
  readonly allowPeer2peer: boolean;
  /**
   * The importer's accept list for one attach, in order. A legacy importer
   * returns one SGT accept whose `acceptsP2P` is the attachment's `peer2peer`.
   *
   * @param world - the current world.
   * @param request - the importing device and the attach's kind.
   */
  accepts(world: World, request: AttachRequest): readonly ImporterAccept[];
  /**
   * `invalidate_mappings` (`move_notify` before 7.1). Called with the
   * buffer's resv held, after core marked the mapping invalidated. Absent:
   * the importer is not revocable (a pinned importer).
   *
   * @param world - the current world.
   * @param att - the attachment id.
   */
  invalidateMappings?(world: World, att: number): DriverStep;
  /**
   * The next operations the importer performs on its own, for example the
   * unmap it owes after an invalidate (kernel-facts §7.15). The scheduler
   * runs them; the explorer interleaves them.
   *
   * @param world - the current world.
   */
  pending?(world: World): readonly Op[];
  /**
   * A driver-specific action requested by a `driver` op.
   * It returns what a step does: done, an errno with the world unchanged,
   * or blocked when the kernel would sleep (on resv, fences or unmaps), so
   * the scheduler and the explorer retry it instead of seeing an errno the
   * kernel never returns.
   *
   * @param world - the current world.
   * @param action - the action, validated by the driver.
   */
  act?(world: World, action: unknown): StepOutcome;
}
