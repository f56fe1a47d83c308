import * as z from "zod";
import { driverOptions } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";

/**
 * What a profile says of the RDMA umem importers (entry `"rdma"` in `Profile.drivers`).
 *
 * @category Profiles
 */
export const rdmaProfileOptionsSchema = z.strictObject({
  /** Jacob Moroni's pinned-revocable import interface exists (kernel-model §5.2). */
  pinnedRevocable: z.boolean(),
});

/**
 * RDMA's options under a profile (see {@link rdmaProfileOptionsSchema}).
 *
 * @category Profiles
 */
export type RdmaProfileOptions = z.output<typeof rdmaProfileOptionsSchema>;

/**
 * The RDMA importers' options under a profile.
 *
 * @param profile - the profile in force.
 * @returns the options.
 * @throws when the profile states none for RDMA.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linux71, proposalConverters } from "@dmabuf-ref/core";
 * import { rdmaProfileOptions } from "@dmabuf-ref/importers";
 *
 * // Jacob Moroni's pinned revocable umems are under review: not in 7.1.
 * assert.deepEqual(rdmaProfileOptions(linux71), { pinnedRevocable: false });
 * assert.deepEqual(rdmaProfileOptions(proposalConverters), { pinnedRevocable: true });
 * ```
 * @category Profiles
 */
export function rdmaProfileOptions(profile: Profile): RdmaProfileOptions {
  return driverOptions(profile, "rdma", rdmaProfileOptionsSchema);
}
