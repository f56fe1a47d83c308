import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";

/**
 * What a profile says of KVM (its entry `"kvm"` in `Profile.drivers`).
 *
 * @category Profiles
 */
export const kvmProfileOptionsSchema = z.strictObject({
  /** Xu Yilun's series: memslots backed by a dma-buf, `KVM_MEM_VFIO_DMABUF` (kernel-model §5.1). */
  dmabufImport: z.boolean(),
});

/**
 * KVM's options under a profile (see {@link kvmProfileOptionsSchema}).
 *
 * @category Profiles
 */
export type KvmProfileOptions = z.output<typeof kvmProfileOptionsSchema>;

/**
 * KVM's options under a profile.
 *
 * @param profile - the profile in force.
 * @returns the options.
 * @throws when the profile states none for KVM.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux71, rfcMappingTypesV1 } from "@dmabuf-ref/core";
 * import { kvmProfileOptions } from "@dmabuf-ref/importers";
 *
 * // KVM_MEM_VFIO_DMABUF exists only with Xu Yilun's series.
 * assert.deepEqual(kvmProfileOptions(linux71), { dmabufImport: false });
 * assert.deepEqual(kvmProfileOptions(rfcMappingTypesV1), { dmabufImport: true });
 * ```
 * @category Profiles
 */
export function kvmProfileOptions(profile: Profile): KvmProfileOptions {
  return driverOptions(profile, "kvm", kvmProfileOptionsSchema);
}
