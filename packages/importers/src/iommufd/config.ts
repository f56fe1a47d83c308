import type { Machine } from "@dmabuf-ref/core";
import * as z from "zod";
import type { ImporterDriver, World } from "@dmabuf-ref/core";
import { IOMMUFD } from "./constants.js";

/** zod schema of the options of {@link iommufdImporter}. */
export const iommufdConfigSchema = z
  .object({
    /**
     * The RAM region (a topology region id) that backs the VMM memory
     * `IOMMU_IOAS_MAP` maps; default: the topology's first RAM region.
     */
    ramRegion: z.string().min(1).optional(),
  })
  .strict();

/** Options of {@link iommufdImporter} (see {@link iommufdConfigSchema}). */
export type IommufdConfig = z.output<typeof iommufdConfigSchema>;

const CONFIGS = new WeakMap<ImporterDriver, IommufdConfig>();

/**
 * Remembers the options a driver object was made with, so the free
 * functions that take only a World can find them.
 *
 * @param driver - the driver object.
 * @param config - its options.
 */
export function rememberConfig(driver: ImporterDriver, config: IommufdConfig): void {
  CONFIGS.set(driver, config);
}

/**
 * The options of the iommufd driver configured in a world.
 *
 * @param w - the world.
 * @returns the options (defaults when the driver is not ours).
 */
export function configOf(m: Machine, _w: World): IommufdConfig {
  const driver = m.importers.get(IOMMUFD);
  return (driver === undefined ? undefined : CONFIGS.get(driver)) ?? {};
}
