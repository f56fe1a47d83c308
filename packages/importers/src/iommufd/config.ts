import * as z from "zod";
import type { ImporterDriver, Machine } from "@dmabuf-ref/core";
import { IOMMUFD, IOMMUFD_DEFAULT_PGSIZE_BITMAP } from "./constants.js";

/** zod schema of the options of {@link iommufdImporter}. */
export const iommufdConfigSchema = z
  .object({
    /**
     * Unused: `IOMMU_IOAS_MAP` now pins the calling process's own memory
     * (core's mm, `pinUserPages`) instead of aliasing user addresses into a
     * RAM region. Still accepted so that existing callers parse.
     */
    ramRegion: z.string().min(1).optional(),
    /**
     * `domain->pgsize_bitmap` of every IOMMU domain iommufd allocates
     * (default 4 KiB | 2 MiB | 1 GiB). Bit n set: the domain maps 2^n-byte
     * pages; the lowest set bit is the alignment an attach raises the IOAS to.
     */
    pgsizeBitmap: z.bigint().positive().optional(),
    /** Per device (topology id): the page sizes of the domains allocated for it, overriding `pgsizeBitmap`. */
    devicePgsizeBitmaps: z.record(z.string().min(1), z.bigint().positive()).optional(),
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

/**
 * `domain->pgsize_bitmap` of a domain allocated for a device
 * (`iommu_paging_domain_alloc(dev)`): the device's own setting, else the
 * driver's, else 4 KiB | 2 MiB | 1 GiB.
 *
 * @param m - the machine.
 * @param device - the device the domain is for.
 * @returns the bitmap.
 */
export function domainPgsizeBitmap(m: Machine, device: string): bigint {
  const c = configOf(m);
  return c.devicePgsizeBitmaps?.[device] ?? c.pgsizeBitmap ?? IOMMUFD_DEFAULT_PGSIZE_BITMAP;
}
