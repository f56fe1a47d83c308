/**
 * What an IOMMU driver reports for the paging domains it allocates for a
 * device, the values both of VFIO's IOMMU backends read (iommufd's
 * `iopt_table_add_domain`, type1's `vfio_iommu_type1_attach_group`): the
 * page sizes (`domain->pgsize_bitmap`), the aperture (`domain->geometry`)
 * and the device's reserved regions (`iommu_get_resv_regions`). Hardware,
 * so it lives with the fabric; each backend's configuration says what a
 * machine's devices report.
 */

/**
 * An inclusive IOVA interval `[start, last]` (`struct iommu_iova_range`, interval trees).
 *
 * @category Fabric and oracle
 */
export interface IovaInterval {
  /** First IOVA. */
  readonly start: bigint;
  /** Last IOVA (inclusive, so an interval can end at `ULONG_MAX`). */
  readonly last: bigint;
}

/**
 * The page sizes the model's IOMMU domains map by default
 * (`domain->pgsize_bitmap`: 4 KiB | 2 MiB | 1 GiB, as x86 second-level tables).
 *
 * @category Fabric and oracle
 */
export const IOMMU_DEFAULT_PGSIZE_BITMAP = 0x1000n | 0x20_0000n | 0x4000_0000n;

/**
 * Last IOVA of the modelled domains' default aperture (a 48-bit IOVA space).
 *
 * @category Fabric and oracle
 */
export const IOMMU_DEFAULT_APERTURE_LAST = (1n << 48n) - 1n;

/**
 * The x86 MSI window `0xfee00000-0xfeefffff`, the `IOMMU_RESV_MSI` region
 * every device reports by default.
 *
 * @category Fabric and oracle
 */
export const IOMMU_MSI_WINDOW: IovaInterval = Object.freeze({
  start: 0xfee0_0000n,
  last: 0xfeef_ffffn,
});

/**
 * Per-device IOMMU geometry a machine gives a VFIO IOMMU backend (absent: the defaults).
 *
 * @category Fabric and oracle
 */
export interface IommuGeometryConfig {
  /** `domain->pgsize_bitmap` for every device without its own. */
  readonly pgsizeBitmap?: bigint | undefined;
  /** `domain->pgsize_bitmap` by device. */
  readonly devicePgsizeBitmaps?: Readonly<Record<string, bigint>> | undefined;
  /** `domain->geometry` by device, inclusive. */
  readonly deviceApertures?: Readonly<Record<string, IovaInterval>> | undefined;
  /** Reserved regions by device, inclusive; `[]` reserves none. */
  readonly deviceReservedRegions?: Readonly<Record<string, readonly IovaInterval[]>> | undefined;
}

/**
 * `domain->pgsize_bitmap` of a domain allocated for a device: its own
 * setting, else the configuration's, else 4 KiB | 2 MiB | 1 GiB.
 *
 * @param c - the backend's configuration.
 * @param device - the device.
 * @returns the bitmap of page sizes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuPgsizeBitmap } from "@dmabuf-ref/core";
 *
 * // A device whose IOMMU maps 4 KiB pages only; every other device: 4K | 2M | 1G.
 * const config = { devicePgsizeBitmaps: { vfio0: 0x1000n } };
 * assert.equal(iommuPgsizeBitmap(config, "vfio0"), 0x1000n);
 * assert.equal(iommuPgsizeBitmap(config, "nic0"), 0x4020_1000n);
 * ```
 * @category Fabric and oracle
 */
export function iommuPgsizeBitmap(c: IommuGeometryConfig, device: string): bigint {
  return c.devicePgsizeBitmaps?.[device] ?? c.pgsizeBitmap ?? IOMMU_DEFAULT_PGSIZE_BITMAP;
}

/**
 * The aperture of a domain allocated for a device (`domain->geometry`).
 *
 * @param c - the backend's configuration.
 * @param device - the device.
 * @returns the inclusive interval the domain translates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuAperture } from "@dmabuf-ref/core";
 *
 * // The default aperture is a 48-bit IOVA space; a 39-bit IOMMU is configured per device.
 * assert.deepEqual(iommuAperture({}, "vfio0"), { start: 0n, last: (1n << 48n) - 1n });
 * const config = { deviceApertures: { vfio0: { start: 0n, last: (1n << 39n) - 1n } } };
 * assert.equal(iommuAperture(config, "vfio0").last, 0x7f_ffff_ffffn);
 * ```
 * @category Fabric and oracle
 */
export function iommuAperture(c: IommuGeometryConfig, device: string): IovaInterval {
  return c.deviceApertures?.[device] ?? { start: 0n, last: IOMMU_DEFAULT_APERTURE_LAST };
}

/**
 * A device's reserved regions (`iommu_get_resv_regions`): its own
 * setting, else the x86 MSI window.
 *
 * @param c - the backend's configuration.
 * @param device - the device.
 * @returns the regions, inclusive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuReservedRegions } from "@dmabuf-ref/core";
 *
 * // By default every device reserves the x86 MSI window; `[]` reserves none.
 * assert.deepEqual(iommuReservedRegions({}, "vfio0"), [
 *   { start: 0xfee0_0000n, last: 0xfeef_ffffn },
 * ]);
 * assert.deepEqual(iommuReservedRegions({ deviceReservedRegions: { vfio0: [] } }, "vfio0"), []);
 * ```
 * @category Fabric and oracle
 */
export function iommuReservedRegions(
  c: IommuGeometryConfig,
  device: string,
): readonly IovaInterval[] {
  return c.deviceReservedRegions?.[device] ?? [IOMMU_MSI_WINDOW];
}
