import { DEFAULT_PROFILE_ID } from "@dmabuf-ref/core";
import { KNOWN_PROFILES, findKnownProfile } from "./known-profiles.js";
import type { Profile } from "@dmabuf-ref/core";
import type { PluginSet } from "./load-plugin.js";
import { UsageError } from "./usage-error.js";

/**
 * Resolves a `--profile` value (default linux-7.1) among the built-in
 * profiles and those the `--load` plugins define.
 *
 * @param id - the value given, or undefined.
 * @param plugins - the loaded plugins, whose profiles are known too.
 * @returns the profile.
 * @throws {@link UsageError} for an unknown id, listing the known ones.
 */
export function resolveProfile(id: string | undefined, plugins?: PluginSet): Profile {
  const wanted = id ?? DEFAULT_PROFILE_ID;
  const loaded = plugins?.profiles ?? [];
  const profile = findKnownProfile(wanted) ?? loaded.find((p) => p.id === wanted);
  if (profile === undefined) {
    const known = [...KNOWN_PROFILES, ...loaded].map((p) => p.id);
    // Escaped and cut short: the value may come from a file, and a control
    // character or a page of text must not reach the terminal as it is.
    const shown = JSON.stringify(wanted.length > 64 ? `${wanted.slice(0, 64)}...` : wanted);
    throw new UsageError(`--profile: unknown profile ${shown} (known: ${known.join(", ")})`);
  }
  return profile;
}
