import { EMAIL_WIDTH, wrapLine } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import { markdownTable } from "../io/report-format.js";
import type { ReportFormat } from "../io/report-format.js";
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
 * @param format - text, a Markdown table (one row per profile), or JSON.
 * @param extra - profiles loaded with `--load`, listed after the built-in ones.
 * @returns the output.
 */
export function profilesOutput(format: ReportFormat, extra: readonly Profile[] = []): string {
  const profiles = [...KNOWN_PROFILES, ...extra];
  if (format === "json") return toJson(profiles.map(profileSummary));
  if (format === "markdown")
    return markdownTable(
      ["profile", "title", "negotiation", "mapping types", "converters"],
      profiles.map((p) => [
        p.id,
        p.title,
        p.negotiation,
        p.mappingTypes.map((t) => t.id).join(", "),
        p.converters.length === 0 ? "none" : p.converters.map((c) => c.id).join(", "),
      ]),
    );
  return (
    profiles
      .map((p) => {
        const rules = Object.entries(p.rules).map(([k, v]) => `    ${k}: ${String(v)}`);
        const drivers = Object.entries(p.drivers).flatMap(([d, o]) =>
          Object.entries(o).map(([k, v]) => `    ${d}.${k}: ${String(v)}`),
        );
        // Every line wrapped at 72 columns, continuations indented under
        // their first word, so the listing pastes into an email.
        const wrap = (line: string, indent: number): string[] =>
          wrapLine(line, EMAIL_WIDTH, indent);
        return [
          ...wrap(`${p.id} - ${p.title}`, 4),
          ...wrap(`  ${p.summary}`, 2),
          ...wrap(`  kernel-model: ${p.kernelModel.join(", ")}`, 4),
          // A kernel older than every fix the model distinguishes lists none.
          ...wrap(`  commits: ${p.commits.length === 0 ? "none" : p.commits.join(", ")}`, 4),
          `  negotiation: ${p.negotiation}`,
          ...wrap(`  mapping types: ${p.mappingTypes.map((t) => t.id).join(", ")}`, 4),
          ...wrap(
            `  converters: ${p.converters.length === 0 ? "none" : p.converters.map((c) => c.id).join(", ")}`,
            4,
          ),
          "  rules:",
          ...rules.flatMap((r) => wrap(r, 6)),
          "  drivers:",
          ...drivers.flatMap((d) => wrap(d, 6)),
          ...p.notes.flatMap((n) => wrap(`  - ${n}`, 4)),
        ].join("\n");
      })
      .join("\n\n") + "\n"
  );
}
