import type { World } from "../world/world.js";
import { regionContaining } from "./regions.js";

/** What a new grant allows (DESIGN §3.5): who may reach which physical range, and why. */
export interface GrantRequest {
  /** The device (or agent, e.g. a guest through KVM's stage-2) allowed to access. */
  readonly device: string;
  /** CPU physical start. */
  readonly phys: bigint;
  /** Length in bytes. */
  readonly len: bigint;
  /** Whether writes are allowed. */
  readonly write: boolean;
  /** The dma-buf attachment whose mapping made it, or null for other paths. */
  readonly att: number | null;
}

/** A grant just made: its id and the world that holds it. */
export interface Granted {
  /** The grant's id (end it with {@link endGrants}). */
  readonly id: number;
  /** The world with the grant. */
  readonly world: World;
}

/**
 * Records in the oracle that `req.device` may reach a physical range, at
 * the region holding it (made stale when the region is reset or freed): whatever legitimately set
 * the access up (a DMA-API map, an IOMMU map of an area, core's converter,
 * KVM installing a stage-2 entry) calls this, and ends it with
 * {@link endGrants} when the access is torn down. Not a kernel object: the
 * check the kernel lacks.
 *
 * @param w - the world.
 * @param req - the device, range, permission and owning attachment.
 * @returns the grant's id and the world, or undefined when no region holds the range.
 */
export function grantAccess(w: World, req: GrantRequest): Granted | undefined {
  const found = regionContaining(w, req.phys, req.len);
  return found === undefined ? undefined : grantIn(w, found[1], req);
}

/**
 * {@link grantAccess} when the caller already holds the region (a map that
 * just looked it up), sparing a second scan of the regions.
 *
 * @param w - the world.
 * @param region - the region holding the range: its id and current epoch.
 * @param req - the device, range, permission and owning attachment.
 * @returns the grant's id and the world.
 */
export function grantIn(w: World, region: { readonly id: string }, req: GrantRequest): Granted {
  const id = w.grants.lowestFreeId();
  return {
    id,
    world: {
      ...w,
      grants: w.grants.set(id, { ...req, region: region.id, stale: false }),
    },
  };
}

/**
 * Ends grants: from here on their devices may not reach that memory.
 *
 * @param w - the world.
 * @param ids - the grant ids (unknown ids are ignored).
 * @returns the new world.
 */
export function endGrants(w: World, ids: readonly number[]): World {
  let grants = w.grants;
  for (const id of ids) {
    const g = grants.get(id);
    if (g === undefined) continue;
    grants = grants.delete(id);
  }
  return grants === w.grants ? w : { ...w, grants };
}
