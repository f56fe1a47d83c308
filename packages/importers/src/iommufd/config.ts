import * as z from "zod";
import type { ImporterDriver, Machine } from "@dmabuf-ref/core";
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
 * The options of the iommufd driver bound to a machine.
 *
 * @param m - the machine.
 * @returns the options (defaults when the driver is not ours).
 */
export function configOf(m: Machine): IommufdConfig {
  const driver = m.importers.get(IOMMUFD);
  return (driver === undefined ? undefined : CONFIGS.get(driver)) ?? {};
}
