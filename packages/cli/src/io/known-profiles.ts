import { PROFILES, findProfile } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { rfcMappingTypesV1Iov } from "@dmabuf-ref/exporters";

/**
 * Every profile the command knows: core's built-ins (DESIGN §3.4), then the
 * profiles drivers define through core's public API for types core does not
 * know (the SR-IOV interconnect of kernel-model §4.1).
 */
export const KNOWN_PROFILES: readonly Profile[] = Object.freeze([
  ...PROFILES,
  rfcMappingTypesV1Iov,
]);

/**
 * Looks a profile up by id among {@link KNOWN_PROFILES}.
 *
 * @param id - e.g. `"linux-7.1"` or `"rfc-mapping-types-v1-iov"`.
 * @returns the profile, or undefined for an unknown id.
 */
export function findKnownProfile(id: string): Profile | undefined {
  return findProfile(id) ?? KNOWN_PROFILES.find((p) => p.id === id);
}
