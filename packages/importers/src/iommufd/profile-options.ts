import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";

/**
 * What a profile says of iommufd (its entry `"iommufd"` in `Profile.drivers`).
 *
 * @category Profiles
 */
export const iommufdProfileOptionsSchema = z.strictObject({
  /** `iopt_map_dmabuf` calls `dma_buf_pin()` ("iommufd: Add dma_buf_pin()", kernel-model §3.3). */
  pins: z.boolean(),
  /**
   * `iopt_release_pages` takes the resv lock around `dma_buf_unpin()`
   * (e745cd2c749e, v7.2 and 7.1.5). False models 7.1.0-7.1.4, which
   * unpinned without it: `dma_buf_unpin`'s lock assertion fires on every
   * IOAS destroy or unmap that drops a dma-buf area's last reference.
   */
  releaseUnpinsUnderResv: z.boolean(),
  /**
   * `iopt_release_pages` detaches (`dma_buf_detach`, `dma_buf_put`) before it
   * destroys the pages state (f2d70dbd3dce, v7.2 and 7.1.5). False models
   * 6.19.0-7.1.4, which destroyed `pages->mutex` first while the exporter
   * could still call `iopt_revoke_notify`: the detach becomes a later
   * `release-detach` continuation, and an invalidate before it is recorded
   * as a use-after-destroy violation.
   */
  releaseDetachesFirst: z.boolean(),
});

/**
 * iommufd's options under a profile (see {@link iommufdProfileOptionsSchema}).
 *
 * @category Profiles
 */
export type IommufdProfileOptions = z.output<typeof iommufdProfileOptionsSchema>;

/**
 * iommufd's options under a profile.
 *
 * @param profile - the profile in force.
 * @returns the options.
 * @throws when the profile states none for iommufd.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux619, linux71, linux710 } from "@dmabuf-ref/core";
 * import { iommufdProfileOptions } from "@dmabuf-ref/importers";
 *
 * // 6.19 does not pin. 7.1.0-7.1.4 unpin without resv and destroy the pages before detaching.
 * assert.equal(iommufdProfileOptions(linux619).pins, false);
 * const fixed = { pins: true, releaseUnpinsUnderResv: true, releaseDetachesFirst: true };
 * assert.deepEqual(iommufdProfileOptions(linux71), fixed);
 * const early = { pins: true, releaseUnpinsUnderResv: false, releaseDetachesFirst: false };
 * assert.deepEqual(iommufdProfileOptions(linux710), early);
 * ```
 * @category Profiles
 */
export function iommufdProfileOptions(profile: Profile): IommufdProfileOptions {
  return driverOptions(profile, "iommufd", iommufdProfileOptionsSchema);
}
