import type { Result } from "../errors/result.js";
import type { PhysVec } from "../schemas.js";
import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import type { ExporterOffer } from "../negotiation/offer.js";
import type { Effect } from "../world/effect.js";
import type { MappingState } from "../world/attachment-state.js";
import type { World } from "../world/world.js";

/** What an exporter or importer callback returns on success: the new world and what it did. */
export type DriverStep = Effect;

/** What an exporter's export path returns: the change and the new buffer's id. */
export interface ExportStep extends Effect {
  /** The new dma-buf's id. */
  readonly buf: number;
}

/** What an exporter's map returns: the payload and the grants it created. */
export interface MapStep extends DriverStep {
  /** The mapping handed to the importer. */
  readonly mapping: MappingState;
}

/**
 * An exporter driver: the model of `struct dma_buf_ops` (kernel-facts §1.1)
 * as pure functions over the World. Exporters meet importers only through
 * these callbacks and core, never directly (DESIGN §2).
 */
export interface ExporterDriver {
  /** The driver's name, e.g. "vfio-pci" (the key in the world's config). */
  readonly name: string;
  /**
   * Creates a buffer from driver-specific arguments (the driver's export
   * path ending in `dma_buf_export()`), for an `export` op.
   *
   * @param world - the current world.
   * @param owner - the exporting device or instance name.
   * @param args - driver-specific arguments, validated by the driver.
   */
  export?(world: World, owner: string, args: unknown): Result<ExportStep>;
  /**
   * Whether the revoke sequence ends by waiting for every importer to unmap
   * (the completion of "vfio: Wait for dma-buf invalidation to complete",
   * kernel-facts §1.3). Absent: it waits.
   *
   * @param world - the current world.
   */
  revokeWaitsForUnmap?(world: World): boolean;
  /**
   * `match_mapping`: the offers for one buffer, in priority order. A legacy
   * exporter returns one SGT offer (`map_dma_buf`).
   *
   * @param world - the current world.
   * @param buf - the dma-buf id.
   */
  offers(world: World, buf: number): readonly ExporterOffer[];
  /**
   * `ops->attach`: may refuse the new attachment (already in the world) with
   * an errno, e.g. VFIO's `-EOPNOTSUPP` without P2P or `-ENODEV` when revoked.
   *
   * @param world - the world with the attachment added.
   * @param att - the attachment id.
   */
  attach?(world: World, att: number): Result<DriverStep>;
  /**
   * `ops->detach`.
   *
   * @param world - the current world.
   * @param att - the attachment id.
   */
  detach?(world: World, att: number): DriverStep;
  /**
   * `ops->pin`; absent means pinning is supported and a no-op
   * (`dma_buf_pin()` returns 0, kernel-facts §1.1).
   *
   * @param world - the current world.
   * @param att - the attachment id.
   */
  pin?(world: World, att: number): Result<DriverStep>;
  /**
   * `ops->unpin`.
   *
   * @param world - the current world.
   * @param att - the attachment id.
   */
  unpin?(world: World, att: number): DriverStep;
  /**
   * `map_dma_buf` (or the negotiated type's map op): builds the payload of
   * `attach.mapType` for the attachment's device.
   *
   * @param world - the current world.
   * @param att - the attachment id.
   */
  map(world: World, att: number): Result<MapStep>;
  /**
   * `unmap_dma_buf`: tears down what map built (IOMMU mappings, grants).
   *
   * @param world - the current world.
   * @param att - the attachment id.
   * @param mapping - the mapping being torn down.
   */
  unmap(world: World, att: number, mapping: MappingState): DriverStep;
  /**
   * A private physical-address interconnect, the model of
   * `vfio_pci_dma_buf_iommufd_map(attach, *phys)` (kernel-facts §2.7, §3.3)
   * and of the iommufd selftest mock's hook (§3.6): resv held, no mapping is
   * counted (the exporter's wait for unmaps is not affected). Absent: the
   * exporter has no such interconnect.
   *
   * @param world - the current world.
   * @param att - the attachment id.
   */
  privatePhys?(world: World, att: number): Result<readonly PhysVec[]>;
  /**
   * `ops->release`: the last file reference is gone.
   *
   * @param world - the current world.
   * @param buf - the dma-buf id.
   */
  release(world: World, buf: number): DriverStep;
  /**
   * The next operations the exporter performs on its own: the continuation
   * of a multi-stage driver operation (an FLR resets the function only after
   * its revokes completed, then un-revokes). The scheduler runs them after
   * task steps; the explorer interleaves them.
   *
   * @param world - the current world.
   */
  pending?(world: World): readonly Op[];
  /**
   * A driver-specific action (an FLR, a memory-disable write, freeing
   * memory) requested by a `driver` op.
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
