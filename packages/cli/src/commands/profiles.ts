import type { Profile } from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import { KNOWN_PROFILES } from "../io/known-profiles.js";

/**
 * A profile as `dmabuf-ref profiles --json` prints it.
 *
 * @param p - the profile.
 * @returns plain data: ids instead of objects.
 */
export function profileSummary(p: Profile): Record<string, unknown> {
  return {
    id: p.id,
    title: p.title,
    summary: p.summary,
    kernelModel: p.kernelModel,
    commits: p.commits,
    negotiation: p.negotiation,
    mappingTypes: p.mappingTypes.map((t) => t.id),
    converters: p.converters.map((c) => c.id),
    rules: p.rules,
    drivers: p.drivers,
    notes: p.notes,
  };
}

/**
 * Renders `dmabuf-ref profiles`: every profile, the kernel commits it
 * encodes, its types, converters, core rules and what it says of each driver.
 *
 * @param json - print JSON instead of text.
 * @param extra - profiles loaded with `--load`, listed after the built-in ones.
 * @returns the output.
 */
export function profilesOutput(json: boolean, extra: readonly Profile[] = []): string {
  const profiles = [...KNOWN_PROFILES, ...extra];
  if (json) return toJson(profiles.map(profileSummary));
  return (
    profiles
      .map((p) => {
        const rules = Object.entries(p.rules).map(([k, v]) => `    ${k}: ${String(v)}`);
        const drivers = Object.entries(p.drivers).flatMap(([d, o]) =>
          Object.entries(o).map(([k, v]) => `    ${d}.${k}: ${String(v)}`),
        );
        return [
          `${p.id} - ${p.title}`,
          `  ${p.summary}`,
          `  kernel-model: ${p.kernelModel.join(", ")}`,
          // A kernel older than every fix the model distinguishes lists none.
          `  commits: ${p.commits.length === 0 ? "none" : p.commits.join(", ")}`,
          `  negotiation: ${p.negotiation}`,
          `  mapping types: ${p.mappingTypes.map((t) => t.id).join(", ")}`,
          `  converters: ${p.converters.length === 0 ? "none" : p.converters.map((c) => c.id).join(", ")}`,
          "  rules:",
          ...rules,
          "  drivers:",
          ...drivers,
          ...p.notes.map((n) => `  - ${n}`),
        ].join("\n");
      })
      .join("\n\n") + "\n"
  );
}
