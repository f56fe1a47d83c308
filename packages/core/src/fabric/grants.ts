import type { World } from "../world/world.js";
import { regionContaining } from "./regions.js";
import { worldWith } from "../world/world.js";

/**
 * What a new grant allows (DESIGN §3.5): who may reach which physical range, and why.
 *
 * @category Fabric and oracle
 */
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

/**
 * A grant just made: its id and the world that holds it.
 *
 * @category Fabric and oracle
 */
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { access, boot, grantAccess, referenceMachine } from "@dmabuf-ref/core";
 *
 * // KVM-style: something legitimate lets dev2 reach one page of ram0.
 * const m = referenceMachine();
 * const req = { device: "dev2", phys: 0x1_0000_0000n, len: 0x1000n, write: false, att: null };
 * const granted = grantAccess(boot(m), req);
 * assert.ok(granted);
 * assert.equal(granted.world.grants.get(granted.id)?.region, "ram0");
 * assert.equal(access(m, granted.world, "dev2", 0x1_0000_0000n, 0x40n, "read").outcome, "ok");
 * // No memory at 0x8000_0000: nothing to grant.
 * assert.equal(grantAccess(boot(m), { ...req, phys: 0x8000_0000n }), undefined);
 * ```
 * @category Fabric and oracle
 */
export function grantAccess(w: World, req: GrantRequest): Granted | undefined {
  const found = regionContaining(w, req.phys, req.len);
  return found === undefined ? undefined : grantIn(w, found, req);
}

/**
 * {@link grantAccess} when the caller already holds the region (a map that
 * just looked it up), sparing a second scan of the regions.
 *
 * @param w - the world.
 * @param region - the region holding the range, as {@link regionContaining}
 *   and {@link regionNamed} give it: its id in `World.regions` and its state.
 * @param req - the device, range, permission and owning attachment.
 * @returns the grant's id and the world.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, grantIn, referenceMachine, regionNamed } from "@dmabuf-ref/core";
 *
 * // A map that already looked the region up grants in it directly.
 * const w = boot(referenceMachine());
 * const ram = regionNamed(w, "ram0");
 * assert.ok(ram);
 * const req = { device: "dev0", phys: 0x1_0000_0000n, len: 0x4000n, write: true, att: null };
 * const { id, world } = grantIn(w, ram, req);
 * assert.equal(id, 1);
 * assert.deepEqual(world.grants.get(id), {
 *   ...req,
 *   region: "ram0",
 *   regionId: ram[0],
 *   stale: false,
 * });
 * ```
 * @category Fabric and oracle
 */
export function grantIn(
  w: World,
  region: readonly [regionId: number, state: { readonly id: string }],
  req: GrantRequest,
): Granted {
  const id = w.grants.lowestFreeId();
  return {
    id,
    // Field by field: a spread that adds fields (`{ ...req, region }`) costs
    // V8 a new hidden class per object, about a microsecond each.
    world: worldWith(w, {
      grants: w.grants.set(id, {
        device: req.device,
        region: region[1].id,
        regionId: region[0],
        phys: req.phys,
        len: req.len,
        write: req.write,
        stale: false,
        att: req.att,
      }),
    }),
  };
}

/**
 * Ends grants: from here on their devices may not reach that memory.
 *
 * @param w - the world.
 * @param ids - the grant ids (unknown ids are ignored).
 * @returns the new world.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { access, boot, endGrants, grantAccess, referenceMachine } from "@dmabuf-ref/core";
 *
 * // After the unmap ends the grant, dev2 touching the page is a use after unmap.
 * const m = referenceMachine();
 * const req = { device: "dev2", phys: 0x1_0000_0000n, len: 0x1000n, write: true, att: null };
 * const granted = grantAccess(boot(m), req);
 * assert.ok(granted);
 * const w = endGrants(granted.world, [granted.id]);
 * assert.equal(w.grants.size, 0);
 * assert.equal(access(m, w, "dev2", 0x1_0000_0000n, 0x40n, "write").outcome, "violation");
 * ```
 * @category Fabric and oracle
 */
export function endGrants(w: World, ids: readonly number[]): World {
  let grants = w.grants;
  for (const id of ids) {
    const g = grants.get(id);
    if (g === undefined) continue;
    grants = grants.delete(id);
  }
  return grants === w.grants ? w : worldWith(w, { grants });
}
