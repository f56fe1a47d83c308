import { grantAccess } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { areaChunks, mustPages } from "./pages.js";
import type { IommufdArea } from "./types.js";

/**
 * Grants the oracle a record that `devices` may reach what an area maps
 * (DESIGN §3.5): one grant per device and physical piece, tied to the
 * dma-buf attachment for dma-buf pages (so the oracle connects device DMA
 * to that attachment) and to nothing for user memory. A revoked area
 * grants nothing.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param area - the area.
 * @param devices - the devices attached to the area's IOAS.
 * @returns the world with the grants and their ids.
 */
export function grantArea(
  m: Machine,
  w: World,
  area: IommufdArea,
  devices: readonly string[],
): { readonly world: World; readonly grants: readonly number[] } {
  const pages = mustPages(m, w, area.pages);
  const att = match(pages)
    .with({ kind: "dmabuf" }, (p) => p.att)
    .with({ kind: "user" }, { kind: "file" }, () => null)
    .exhaustive();
  let world = w;
  const grants: number[] = [];
  for (const device of devices) {
    for (const c of areaChunks(area, pages)) {
      const granted = grantAccess(world, {
        device,
        phys: c.phys,
        len: c.len,
        write: area.write,
        att,
      });
      if (granted === undefined) {
        throw new Error(`iommufd: no memory region holds 0x${c.phys.toString(16)}`);
      }
      world = granted.world;
      grants.push(granted.id);
    }
  }
  return { world, grants };
}
