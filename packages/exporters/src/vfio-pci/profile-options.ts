import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { vfioCloseOrderSchema } from "./config.js";
import type { VfioCloseOrder } from "./config.js";

/**
 * What a profile says of vfio-pci (its entry `"vfio-pci"` in
 * `Profile.drivers`): the behaviours that changed between kernel versions
 * or that a series under review adds.
 *
 * @category Profiles
 */
export const vfioProfileOptionsSchema = z.strictObject({
  /**
   * VFIO's `pin`: the 6.19-rc always-failing pin (`-EOPNOTSUPP`), or the 7.1
   * no-op after "vfio: Permit VFIO to work with pinned importers" (kernel-model §2.4).
   */
  pin: z.enum(["eopnotsupp", "noop"]),
  /** `attach` refuses `!dma_buf_attach_revocable()` with `-EOPNOTSUPP` (kernel-model §2.3). */
  refusesNonRevocable: z.boolean(),
  /**
   * The revoke waits for every importer unmap ("vfio: Wait for dma-buf
   * invalidation to complete", kernel-model §1.3, §2.5).
   */
  waitsForUnmap: z.boolean(),
  /** Matt Evans' series: VFIO dma-bufs can be mmap()ed, revoke zaps them (kernel-model §2.6). */
  dmabufMmap: z.boolean(),
  /**
   * The order of `vfio_pci_core_close_device()` (kernel-model §2.5):
   * `"cleanup-then-disable"` since d97708701434 (v7.1, 7.0.10+);
   * `"disable-then-cleanup"` in 6.19.x and 7.0.0–7.0.9, where
   * `vfio_pci_core_disable()` resets the function while importers still map
   * the BAR. A driver config's `closeOrder` overrides it.
   */
  closeOrder: vfioCloseOrderSchema,
  /**
   * c64a647c84f3: a revoke ends by re-arming the kref and completion, the
   * un-revoke has no `kref_init`, and close's cleanup is `move(true)` (which
   * skips revoked buffers) plus the unlink. False models the v7.1-rc kernels
   * before it: cleanup drained every buffer again, so a buffer a revoke had
   * already drained (close after a memory-disable) underflowed its kref and
   * `wait_for_completion()` never returned. A driver config's `krefRearm`
   * overrides it (the bug zoo switches it off).
   */
  krefRearm: z.boolean(),
  /**
   * 702809dabdec with 05f2a68b407a (v7.1, 7.0.11+): the export fails with
   * `-ENODEV` for a BAR whose resources were not claimed (empty, request or
   * iomap failed), before the ranges are read (kernel-model §2.2 step 2).
   */
  barResourceCheck: z.boolean(),
  /**
   * Matt Evans' series: `VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE` (13) revokes a
   * buffer for good (PERM_REVOKED); without it feature 13 is `-ENOTTY`.
   */
  userRevoke: z.boolean(),
  /**
   * Matt Evans' series: `VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR` (14) picks the
   * caching of later mmaps; without it feature 14 is `-ENOTTY`.
   */
  memattr: z.boolean(),
  /**
   * The un-revoke invalidates importers and waits for fences before it
   * clears `revoked` (mainline v7.1); false is Matt Evans' series from v4,
   * which only sets the state back to OK.
   */
  unrevokeInvalidates: z.boolean(),
});

/**
 * vfio-pci's options under a profile (see {@link vfioProfileOptionsSchema}).
 *
 * @category Profiles
 */
export type VfioProfileOptions = z.output<typeof vfioProfileOptionsSchema>;

/**
 * vfio-pci's options under a profile.
 *
 * @param profile - the profile in force.
 * @returns the options.
 * @throws when the profile states none for vfio-pci.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux619, linux71 } from "@dmabuf-ref/core";
 * import { vfioProfileOptions } from "@dmabuf-ref/exporters";
 *
 * // 6.19's VFIO pin always fails; 7.1 made it a no-op for pinned importers.
 * assert.equal(vfioProfileOptions(linux619).pin, "eopnotsupp");
 * assert.equal(vfioProfileOptions(linux71).pin, "noop");
 * assert.equal(vfioProfileOptions(linux71).closeOrder, "cleanup-then-disable");
 * ```
 * @category Profiles
 */
export function vfioProfileOptions(profile: Profile): VfioProfileOptions {
  return driverOptions(profile, "vfio-pci", vfioProfileOptionsSchema);
}

/**
 * The options in force for one vfio-pci driver: the profile's, with the
 * driver config's `closeOrder` and `krefRearm` overriding when set (a
 * scenario comparing both close orders, or the bug zoo's kref underflow).
 *
 * @param profile - the profile in force.
 * @param config - the driver's overrides.
 * @returns the options.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux71 } from "@dmabuf-ref/core";
 * import { vfioOptionsFor } from "@dmabuf-ref/exporters";
 *
 * // A scenario replaying 7.0.9's close order under linux-7.1's other rules.
 * const o = vfioOptionsFor(linux71, { closeOrder: "disable-then-cleanup" });
 * assert.equal(o.closeOrder, "disable-then-cleanup");
 * assert.equal(o.krefRearm, true);
 * assert.equal(vfioOptionsFor(linux71, {}).closeOrder, "cleanup-then-disable");
 * ```
 * @category Profiles
 */
export function vfioOptionsFor(
  profile: Profile,
  config: {
    readonly closeOrder?: VfioCloseOrder | undefined;
    readonly krefRearm?: boolean | undefined;
  },
): VfioProfileOptions {
  const base = vfioProfileOptions(profile);
  return {
    ...base,
    closeOrder: config.closeOrder ?? base.closeOrder,
    krefRearm: config.krefRearm ?? base.krefRearm,
  };
}
