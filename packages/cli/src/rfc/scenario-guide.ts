/*
 * The scenario guide (rfc/scenarios/README.md) shows worked examples with
 * the explorer's real output. Each example is a marked block:
 *
 *   <!-- output: explore rfc/scenarios/NAME.yaml [--profile P] -->
 *   ```text
 *   ...what the command prints...
 *   ```
 *   <!-- end output -->
 *
 * `dmabuf-ref render-examples` rewrites the blocks and a test fails when a
 * committed block has drifted from the code, as for rfc/traces.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { exploreCommand } from "../commands/explore.js";
import { RFC_DIR } from "./renderings.js";

/** `rfc/scenarios/README.md`: the scenario guide. */
export const SCENARIO_GUIDE = join(RFC_DIR, "scenarios", "README.md");

const BLOCK =
  /(<!-- output: explore (\S+)((?: --profile \S+)?) -->\n)```text\n[\s\S]*?```\n(<!-- end output -->)/g;

/**
 * The guide with every marked block replaced by the output of its command,
 * run from the repository root.
 *
 * @param text - the guide as committed.
 * @returns the guide with current outputs.
 */
export function renderScenarioGuide(text: string): string {
  return text.replace(BLOCK, (_all, open: string, file: string, profile: string, close: string) => {
    const p = profile.trim().split(" ")[1];
    const r = exploreCommand(join(RFC_DIR, "..", file), p === undefined ? {} : { profile: p });
    // The command as a user types it, wrapped like the output at 72 columns.
    const command = `$ dmabuf-ref explore ${file}${profile}`;
    const typed = command.length <= 72 ? command : `$ dmabuf-ref explore ${file} \\\n   ${profile}`;
    return `${open}\`\`\`text\n${typed}\n${r.output}(exit ${r.exitCode})\n\`\`\`\n${close}`;
  });
}

/**
 * The guide as it should be committed now.
 *
 * @returns its text.
 */
export function currentScenarioGuide(): string {
  return renderScenarioGuide(readFileSync(SCENARIO_GUIDE, "utf8"));
}
