import * as z from "zod";
import {
  driverConfigs,
  iommuAperture,
  iommuPgsizeBitmap,
  iommuReservedRegions,
} from "@dmabuf-ref/core";
import type { ImporterDriver, Machine } from "@dmabuf-ref/core";
import { IOMMUFD } from "./constants.js";
import type { IovaInterval } from "./constants.js";

/** zod schema of an inclusive IOVA interval in the options. */
const intervalSchema = z.strictObject({
  /** First IOVA. */
  start: z.bigint().nonnegative(),
  /** Last IOVA (inclusive). */
  last: z.bigint().nonnegative(),
});

/**
 * zod schema of the options of {@link iommufdImporter}.
 *
 * @category Drivers
 */
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
    /**
     * Per device: the aperture (`domain->geometry`, inclusive) of the
     * domains allocated for it; default 0 .. 2^48 - 1. `iopt_table_add_domain`
     * reserves the IOVA outside it.
     */
    deviceApertures: z.record(z.string().min(1), intervalSchema).optional(),
    /**
     * Per device: its reserved regions (`iommu_get_resv_regions`), which
     * attaching it reserves in the IOAS; default the x86 MSI window
     * 0xfee00000-0xfeefffff.
     */
    deviceReservedRegions: z.record(z.string().min(1), z.array(intervalSchema)).optional(),
  })
  .strict();

/**
 * Options of {@link iommufdImporter} (see {@link iommufdConfigSchema}).
 *
 * @category Drivers
 */
export type IommufdConfig = z.output<typeof iommufdConfigSchema>;

const CONFIGS = driverConfigs<IommufdConfig>(IOMMUFD, {});

/**
 * Remembers the options a driver object was made with, so the free
 * functions that take only a World can find them.
 *
 * @param driver - the driver object.
 * @param config - its options.
 */
export function rememberConfig(driver: ImporterDriver, config: IommufdConfig): void {
  CONFIGS.remember(driver, config);
}

/**
 * The options of the iommufd driver bound to a machine.
 *
 * @param m - the machine.
 * @returns the options (defaults when the driver is not ours).
 */
export function configOf(m: Machine): IommufdConfig {
  return CONFIGS.of(m);
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
  return iommuPgsizeBitmap(configOf(m), device);
}

/**
 * The aperture of a domain allocated for a device (`domain->geometry`):
 * the device's own setting, else 0 .. 2^48 - 1.
 *
 * @param m - the machine.
 * @param device - the device the domain is for.
 * @returns the inclusive interval the domain translates.
 */
export function domainAperture(m: Machine, device: string): IovaInterval {
  return iommuAperture(configOf(m), device);
}

/**
 * A device's reserved regions (`iommu_get_resv_regions`): its own setting,
 * else the x86 MSI window.
 *
 * @param m - the machine.
 * @param device - the device.
 * @returns the regions, inclusive.
 */
export function deviceReservedRegions(m: Machine, device: string): readonly IovaInterval[] {
  return iommuReservedRegions(configOf(m), device);
}

/** What `iopt_table_add_domain` reads of a new domain: its page sizes and aperture. */
export interface DomainGeometry {
  /** `domain->pgsize_bitmap`. */
  readonly pgsizeBitmap: bigint;
  /** `domain->geometry`, inclusive. */
  readonly aperture: IovaInterval;
}

/**
 * The page sizes and aperture of a domain allocated for a device
 * ({@link domainPgsizeBitmap}, {@link domainAperture}).
 *
 * @param m - the machine.
 * @param device - the device the domain is for.
 * @returns the geometry.
 */
export function domainGeometry(m: Machine, device: string): DomainGeometry {
  return { pgsizeBitmap: domainPgsizeBitmap(m, device), aperture: domainAperture(m, device) };
}
