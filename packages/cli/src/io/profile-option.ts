import { DEFAULT_PROFILE_ID } from "@dmabuf-ref/core";
import { KNOWN_PROFILES, findKnownProfile } from "./known-profiles.js";
import type { Profile } from "@dmabuf-ref/core";
import { UsageError } from "./usage-error.js";

/**
 * Resolves a `--profile` value (default linux-7.1).
 *
 * @param id - the value given, or undefined.
 * @returns the profile.
 * @throws {@link UsageError} for an unknown id, listing the known ones.
 */
export function resolveProfile(id: string | undefined): Profile {
  const profile = findKnownProfile(id ?? DEFAULT_PROFILE_ID);
  if (profile === undefined) {
    throw new UsageError(
      `--profile: unknown profile "${id ?? ""}" (known: ${KNOWN_PROFILES.map((p) => p.id).join(", ")})`,
    );
  }
  return profile;
}
