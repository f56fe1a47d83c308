import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";

/** What a profile says of iommufd (its entry `"iommufd"` in `Profile.drivers`). */
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

/** iommufd's options under a profile (see {@link iommufdProfileOptionsSchema}). */
export type IommufdProfileOptions = z.output<typeof iommufdProfileOptionsSchema>;

/**
 * iommufd's options under a profile.
 *
 * @param profile - the profile in force.
 * @returns the options.
 * @throws when the profile states none for iommufd.
 */
export function iommufdProfileOptions(profile: Profile): IommufdProfileOptions {
  return driverOptions(profile, "iommufd", iommufdProfileOptionsSchema);
}
