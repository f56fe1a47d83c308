import type { Profile, ProfileId } from "./profile.js";
import { linux619 } from "./linux-6.19.js";
import { linux710, linux71, linux72 } from "./linux-7.1.js";
import { proposalConverters } from "./proposal-converters.js";
import { proposalVfioDmabufMmap } from "./proposal-vfio-dmabuf-mmap.js";
import { rfcMappingTypesV1 } from "./rfc-mapping-types-v1.js";

/**
 * The built-in profiles, oldest kernel first, then the proposals.
 *
 * @category Profiles
 */
export const PROFILES: readonly Profile[] = Object.freeze([
  linux619,
  linux710,
  linux71,
  linux72,
  rfcMappingTypesV1,
  proposalConverters,
  proposalVfioDmabufMmap,
]);

/**
 * The profile commands use when none is named: linux-7.1 (7.1.5 and later).
 *
 * @category Profiles
 */
export const DEFAULT_PROFILE_ID: ProfileId = "linux-7.1";

/**
 * Looks a built-in profile up by id.
 *
 * @param id - e.g. `"linux-7.1"`.
 * @returns the profile, or undefined for an unknown id.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_PROFILE_ID, findProfile, linux71 } from "@dmabuf-ref/core";
 *
 * assert.equal(findProfile(DEFAULT_PROFILE_ID), linux71);
 * assert.equal(findProfile("linux-7.1")?.negotiation, "none");
 * assert.equal(findProfile("linux-5.4"), undefined);
 * ```
 * @category Profiles
 */
export function findProfile(id: string): Profile | undefined {
  return PROFILES.find((p) => p.id === id);
}
