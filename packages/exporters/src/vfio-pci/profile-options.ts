import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";

/**
 * What a profile says of vfio-pci (its entry `"vfio-pci"` in
 * `Profile.drivers`): the behaviours that changed between kernel versions
 * or that a series under review adds.
 */
export const vfioProfileOptionsSchema = z.strictObject({
  /**
   * VFIO's `pin`: the 6.19-rc always-failing pin (`-EOPNOTSUPP`), or the 7.1
   * no-op after "vfio: Permit VFIO to work with pinned importers" (kernel-facts §2.4).
   */
  pin: z.enum(["eopnotsupp", "noop"]),
  /** `attach` refuses `!dma_buf_attach_revocable()` with `-EOPNOTSUPP` (kernel-facts §2.3). */
  refusesNonRevocable: z.boolean(),
  /**
   * The revoke waits for every importer unmap ("vfio: Wait for dma-buf
   * invalidation to complete", kernel-facts §1.3, §2.5).
   */
  waitsForUnmap: z.boolean(),
  /** Matt Evans' series: VFIO dma-bufs can be mmap()ed, revoke zaps them (kernel-facts §2.6). */
  dmabufMmap: z.boolean(),
});

/** vfio-pci's options under a profile (see {@link vfioProfileOptionsSchema}). */
export type VfioProfileOptions = z.output<typeof vfioProfileOptionsSchema>;

/**
 * vfio-pci's options under a profile.
 *
 * @param profile - the profile in force.
 * @returns the options.
 * @throws when the profile states none for vfio-pci.
 */
export function vfioProfileOptions(profile: Profile): VfioProfileOptions {
  return driverOptions(profile, "vfio-pci", vfioProfileOptionsSchema);
}
