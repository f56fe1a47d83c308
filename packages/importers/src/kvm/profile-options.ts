import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";

/** What a profile says of KVM (its entry `"kvm"` in `Profile.drivers`). */
export const kvmProfileOptionsSchema = z.strictObject({
  /** Xu Yilun's series: memslots backed by a dma-buf, `KVM_MEM_VFIO_DMABUF` (kernel-model §5.1). */
  dmabufImport: z.boolean(),
});

/** KVM's options under a profile (see {@link kvmProfileOptionsSchema}). */
export type KvmProfileOptions = z.output<typeof kvmProfileOptionsSchema>;

/**
 * KVM's options under a profile.
 *
 * @param profile - the profile in force.
 * @returns the options.
 * @throws when the profile states none for KVM.
 */
export function kvmProfileOptions(profile: Profile): KvmProfileOptions {
  return driverOptions(profile, "kvm", kvmProfileOptionsSchema);
}
