import { EMAIL_WIDTH, boot, wrapLine } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import { UsageError } from "../io/usage-error.js";
import { loadDocument, validateWith } from "../io/load-document.js";
import { resolveProfile } from "../io/profile-option.js";
import { replay } from "../replay/run.js";
import type { ReplayRun } from "../replay/run.js";
import { replayFileSchema } from "../replay/schema.js";
import type { ReplayFile } from "../replay/schema.js";
import { DEFAULT_MACHINE } from "../replay/machine.js";
import { buildMachine } from "../scenarios/machine.js";
import { NO_PLUGINS } from "../io/load-plugin.js";
import type { PluginSet } from "../io/load-plugin.js";

/**
 * Replays a parsed file on its machine (`machine:` absent or `default`:
 * the default machine) under `profileId`, the file's profile, or linux-7.1.
 *
 * @param doc - the validated file.
 * @param profileId - `--profile`, if given.
 * @param plugins - the `--load` plugins: their profiles, hardware and drivers.
 * @returns the run.
 * @throws UsageError (exit 2) for an unknown profile or a structurally wrong call.
 */
export function runReplay(
  doc: ReplayFile,
  profileId?: string,
  plugins: PluginSet = NO_PLUGINS,
): ReplayRun {
  let profile: Profile;
  try {
    profile = resolveProfile(profileId ?? doc.profile, plugins);
  } catch (e) {
    // The file's own profile is a field of the file (replayOutput names the file).
    if (!(e instanceof UsageError) || profileId !== undefined) throw e;
    throw new UsageError(`profile: ${e.message.replace(/^--profile: /, "")}`);
  }
  const d = doc.machine === undefined || doc.machine === "default" ? DEFAULT_MACHINE : doc.machine;
  // The description's vfio-pci options override the profile's.
  const m = buildMachine(profile, d, {
    ...(d.vfio.krefRearm === undefined ? {} : { krefRearm: d.vfio.krefRearm }),
    ...(d.vfio.closeOrder === undefined ? {} : { closeOrder: d.vfio.closeOrder }),
    plugins,
  });
  return replay(m, boot(m), doc);
}

/**
 * Runs `dmabuf-ref replay FILE`: replays the calls on the file's machine
 * (`machine:` absent or `default`: the default machine) under `--profile`,
 * the file's profile, or linux-7.1.
 *
 * @param file - the YAML or JSON file.
 * @param profileId - `--profile`, if given.
 * @param json - print JSON.
 * @param plugins - the `--load` plugins: their profiles, hardware and drivers.
 * @returns the output (exit status 0: the file replayed, whatever errnos came back).
 * @throws UsageError (exit 2) for an unparsable or structurally wrong file.
 */
export function replayOutput(
  file: string,
  profileId: string | undefined,
  json: boolean,
  plugins: PluginSet = NO_PLUGINS,
): string {
  const parsed = loadDocument(file, validateWith(replayFileSchema));
  let run: ReturnType<typeof runReplay>;
  try {
    run = runReplay(parsed, profileId, plugins);
  } catch (e) {
    // An error found while replaying (a value that does not fit, a name
    // bound by no call) names the file as the user gave it, as parse errors do.
    if (
      e instanceof UsageError &&
      !e.message.startsWith(`${file}: `) &&
      !e.message.startsWith("--")
    )
      throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
  if (json) {
    return toJson({
      profile: run.profile,
      // The text form's line is not part of the JSON.
      results: run.results.map((r) =>
        Object.fromEntries(Object.entries(r).filter(([k]) => k !== "line")),
      ),
      violations: run.violations,
      faults: run.faults,
      bufferNames: Object.fromEntries(run.bufferNames),
    });
  }
  const tail = wrapLine(
    `# ${run.profile}: ${run.violations.length} violation(s), ${run.faults.length} fault(s)`,
    EMAIL_WIDTH,
    2,
  );
  return [...run.results.map((r) => r.line), ...tail].join("\n") + "\n";
}
