import type { Hardware } from "./topology.js";
import type { DomainState, IommuMapping } from "../world/domain-state.js";
import { IOVA_PAGE } from "../world/domain-state.js";
import type { World } from "../world/world.js";
import { deviceIndex } from "../world/access.js";
import { worldWith } from "../world/world.js";

export { IOVA_PAGE };

/**
 * The IOMMU domain a device's DMA is translated by, if it is behind an IOMMU.
 *
 * @param m - the machine's hardware.
 * @param w - the world.
 * @param device - the device name.
 * @returns the domain id, or undefined (no IOMMU: addresses are physical).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, domainOf, referenceMachine } from "@dmabuf-ref/core";
 *
 * // At boot each device behind the IOMMU has its own DMA-API domain; dev2 has no IOMMU.
 * const m = referenceMachine();
 * const w = boot(m);
 * assert.equal(domainOf(m, w, "dev0"), 1);
 * assert.equal(domainOf(m, w, "dev1"), 2);
 * assert.equal(domainOf(m, w, "dev2"), undefined);
 * ```
 * @category Fabric and oracle
 */
export function domainOf(m: Hardware, w: World, device: string): number | undefined {
  const i = deviceIndex(m, device);
  return i < 0 ? undefined : w.deviceDomains.get(i);
}

/**
 * `iommu_map()`: adds a mapping to a domain. Overlapping an existing
 * mapping is a model bug (the IOVA allocator or the caller is wrong).
 *
 * @param w - the world.
 * @param domain - the domain id.
 * @param m - the mapping.
 * @returns the new world.
 * @kernel drivers/iommu/iommu.c iommu_map
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, iommuMap, referenceMachine, translate } from "@dmabuf-ref/core";
 *
 * // Map IOVA 0x1000_0000 -> RAM 0x1_0000_0000 (8 KiB, read-only) in dev0's domain.
 * const w = iommuMap(boot(referenceMachine()), 1, {
 *   iova: 0x1000_0000n,
 *   len: 0x2000n,
 *   phys: 0x1_0000_0000n,
 *   read: true,
 *   write: false,
 * });
 * const d = w.domains.get(1);
 * assert.ok(d);
 * assert.deepEqual(translate(d, 0x1000_1000n, 0x100n, false), { phys: 0x1_0000_1000n });
 * ```
 * @category Fabric and oracle
 */
export function iommuMap(w: World, domain: number, m: IommuMapping): World {
  return worldWith(w, {
    domains: w.domains.update(domain, (d) => {
      if (d.mappings.overlapping(m.iova, m.len) !== undefined) {
        throw new Error(`iommu_map overlaps in domain ${domain} at 0x${m.iova.toString(16)}`);
      }
      return { mappings: d.mappings.add(m), iovaBase: d.iovaBase };
    }),
  });
}

/**
 * `iommu_unmap()` of exactly one earlier mapping.
 *
 * @param w - the world.
 * @param domain - the domain id.
 * @param iova - the mapping's first IOVA.
 * @param len - its length.
 * @returns the new world.
 * @kernel drivers/iommu/iommu.c iommu_unmap
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, iommuMap, iommuUnmap, referenceMachine } from "@dmabuf-ref/core";
 *
 * const w0 = boot(referenceMachine());
 * const mapping = {
 *   iova: 0x1000_0000n,
 *   len: 0x2000n,
 *   phys: 0x1_0000_0000n,
 *   read: true,
 *   write: true,
 * };
 * const w1 = iommuMap(w0, 1, mapping);
 * assert.equal(w1.domains.get(1)?.mappings.size, 1);
 * // Only an unmap of exactly that range removes it.
 * assert.equal(iommuUnmap(w1, 1, 0x1000_0000n, 0x1000n).domains.get(1)?.mappings.size, 1);
 * assert.equal(iommuUnmap(w1, 1, 0x1000_0000n, 0x2000n).domains.get(1)?.mappings.size, 0);
 * ```
 * @category Fabric and oracle
 */
export function iommuUnmap(w: World, domain: number, iova: bigint, len: bigint): World {
  return worldWith(w, {
    domains: w.domains.update(domain, (d) => {
      const mappings = d.mappings.removeExact(iova, len);
      return mappings === d.mappings ? d : { mappings, iovaBase: d.iovaBase };
    }),
  });
}

/**
 * Allocates IOVA space from a domain's DMA-API allocator (page aligned):
 * first fit over the holes between the mapped ranges, from the domain's
 * base up. (The kernel's iommu-dma allocator searches top-down from the
 * DMA limit; the model searches bottom-up so that its addresses read
 * small. Both hand a freed range out again.)
 *
 * @param w - the world.
 * @param domain - the domain id.
 * @param len - bytes needed.
 * @returns the lowest free IOVA from the domain's base that fits, and the
 *   world (unchanged: the map that follows takes the hole).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allocIova, boot, iommuMap, referenceMachine } from "@dmabuf-ref/core";
 *
 * // dev0's domain hands IOVA out from 0x1000_0000, page aligned, first fit.
 * const w0 = boot(referenceMachine());
 * const [iova, w1] = allocIova(w0, 1, 0x1800n);
 * assert.equal(iova, 0x1000_0000n);
 * const w2 = iommuMap(w1, 1, {
 *   iova,
 *   len: 0x2000n,
 *   phys: 0x1_0000_0000n,
 *   read: true,
 *   write: true,
 * });
 * assert.equal(allocIova(w2, 1, 0x1000n)[0], 0x1000_2000n);
 * ```
 * @category Fabric and oracle
 */
export function allocIova(w: World, domain: number, len: bigint): [bigint, World] {
  const d: DomainState | undefined = w.domains.get(domain);
  if (d === undefined) throw new Error(`no domain ${domain}`);
  const size = ((len + IOVA_PAGE - 1n) / IOVA_PAGE) * IOVA_PAGE;
  return [d.mappings.firstFit(d.iovaBase, size), w];
}

/**
 * Where a translated access lands, or why the IOMMU faulted it.
 *
 * @category Fabric and oracle
 */
export type Translated =
  | {
      /** The CPU physical address reached. */
      readonly phys: bigint;
    }
  | {
      /** The IOMMU fault, in words. */
      readonly fault: string;
    };

/**
 * Translates one access through a domain: the mapping that covers it, or
 * why it faults.
 *
 * @param d - the domain.
 * @param iova - the address issued.
 * @param len - bytes.
 * @param write - whether it writes.
 * @returns the physical address, or the fault reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyDomain, translate } from "@dmabuf-ref/core";
 *
 * // Nothing mapped: an IOMMU fault, never a physical address.
 * const r = translate(emptyDomain(), 0x1000_0000n, 0x1000n, true);
 * assert.ok("fault" in r);
 * assert.match(r.fault, /IOVA 0x10000000 not mapped/);
 * ```
 * @category Fabric and oracle
 */
export function translate(d: DomainState, iova: bigint, len: bigint, write: boolean): Translated {
  const m = d.mappings.covering(iova, len);
  if (m === undefined) return { fault: `IOMMU fault: IOVA 0x${iova.toString(16)} not mapped` };
  if (write ? !m.write : !m.read)
    return { fault: `IOMMU fault: no ${write ? "write" : "read"} permission` };
  return { phys: m.phys + (iova - m.iova) };
}
