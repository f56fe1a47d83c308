import type { Machine } from "../machine/machine.js";
import { endGrants, grantAccess } from "../fabric/grants.js";
import { mustAtt } from "../world/access.js";
import { mappingAt } from "../world/domain-state.js";
import type { World } from "../world/world.js";
import { worldWith } from "../world/world.js";

/** One (device, physical piece) the oracle should allow. */
interface Wanted {
  readonly device: string;
  readonly phys: bigint;
  readonly len: bigint;
  readonly write: boolean;
}

/**
 * Makes the oracle's grants of a mapping that core made into an
 * `iommu_domain` (the PAL->iommu-domain converter, kernel-model §4.4)
 * follow the devices attached to that domain *now*: a device that joined
 * the domain after the map gains a grant, one that left loses it.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - an attachment mapped through the converter.
 * @returns the world with the mapping's grants brought up to date
 *   (unchanged when the attachment is not mapped).
 *
 * @remarks
 * Not a kernel call: grants are the oracle's record (DESIGN §3.5). In the
 * kernel a device attached to a filled domain simply translates through it;
 * the model has to say who may reach the memory. This lives in core because
 * only core knows the physical addresses behind the importer's IOVA: the
 * importer (iommufd) asks after it attaches or detaches a device and never
 * sees them. Grants of the mapping that are not on its IOVA ranges (the
 * exporter's own) are kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript, syncDomainGrants } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "map", att: 1, holder: null },
 * ]);
 * // dev0 is still the only device in its domain: its grant is already right
 * assert.equal(syncDomainGrants(m, world, 1), world);
 * ```
 *
 * @category Fabric and oracle
 */
export function syncDomainGrants(m: Machine, w: World, att: number): World {
  const a = mustAtt(w, att);
  const mapping = a.mapping;
  if (mapping === null) return w;
  const wanted: Wanted[] = [];
  for (const r of mapping.iova) {
    const domain = w.domains.get(r.domain);
    if (domain === undefined) continue;
    const im = mappingAt(domain, r.iova);
    if (im === undefined || im.len !== r.len) continue;
    const t = { phys: im.phys };
    for (const [index, d] of w.deviceDomains.entries()) {
      const device = m.topology.devices[index]?.id;
      if (d === r.domain && device !== undefined)
        wanted.push({ device, phys: t.phys, len: r.len, write: im.write });
    }
  }
  const onRanges = (phys: bigint, len: bigint): boolean =>
    mapping.iova.some((r) => {
      const domain = w.domains.get(r.domain);
      const m = domain === undefined ? undefined : mappingAt(domain, r.iova);
      return m !== undefined && m.phys === phys && r.len === len;
    });
  const kept: number[] = [];
  const ended: number[] = [];
  const have: Wanted[] = [];
  for (const id of mapping.grants) {
    const g = w.grants.get(id);
    if (g === undefined) continue;
    const still = wanted.some((x) => x.device === g.device && x.phys === g.phys && x.len === g.len);
    if (still || !onRanges(g.phys, g.len)) {
      kept.push(id);
      have.push({ device: g.device, phys: g.phys, len: g.len, write: g.write });
    } else ended.push(id);
  }
  let world = endGrants(w, ended);
  for (const x of wanted) {
    if (have.some((h) => h.device === x.device && h.phys === x.phys && h.len === x.len)) continue;
    const granted = grantAccess(world, {
      device: x.device,
      phys: x.phys,
      len: x.len,
      write: x.write,
      att,
    });
    if (granted === undefined) throw new Error(`no memory region holds 0x${x.phys.toString(16)}`);
    world = granted.world;
    kept.push(granted.id);
  }
  const unchanged =
    kept.length === mapping.grants.length && kept.every((g, i) => g === mapping.grants[i]);
  if (unchanged) return w;
  return worldWith(world, {
    atts: world.atts.set(att, { ...a, mapping: { ...mapping, grants: kept } }),
  });
}
