import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";

/** What a profile says of iommufd (its entry `"iommufd"` in `Profile.drivers`). */
export const iommufdProfileOptionsSchema = z.strictObject({
  /** `iopt_map_dmabuf` calls `dma_buf_pin()` ("iommufd: Add dma_buf_pin()", kernel-facts §3.3). */
  pins: z.boolean(),
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
