/*
 * Documents that show the CLI's real output: the scenario guide
 * (rfc/scenarios/README.md) and the RFC documents (rfc/NNNN-*.md). Each
 * output is a marked block naming the command that prints it:
 *
 *   <!-- output: matrix --diff linux-7.1 proposal-converters -->
 *   ```text
 *   $ dmabuf-ref matrix --diff linux-7.1 proposal-converters
 *   ...what the command prints...
 *   (exit 1)
 *   ```
 *   <!-- end output -->
 *
 * `dmabuf-ref render-examples` rewrites the blocks and a test fails when a
 * committed block has drifted from the code, as for rfc/traces, so a
 * document never shows an answer the tool no longer gives.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { EMAIL_WIDTH } from "@dmabuf-ref/core";
import { RFC_DIR } from "./renderings.js";

/**
 * `rfc/scenarios/README.md`: the scenario guide.
 *
 * @category Rendering
 */
export const SCENARIO_GUIDE = join(RFC_DIR, "scenarios", "README.md");

/**
 * What a command run in-process printed, and its exit status.
 *
 * @category Commands
 */
export interface CollectedRun {
  /** Its standard output. */
  readonly stdout: string;
  /** Its standard error. */
  readonly stderr: string;
  /** Its exit status. */
  readonly status: number;
}

/**
 * Runs the CLI in-process (`runCliSync`): what a command printed and its exit status.
 *
 * @category Rendering
 */
export type CliRunner = (args: readonly string[]) => CollectedRun;

// Prettier keeps a blank line between the markers and the fence: accept
// both forms, write the one prettier keeps.
const BLOCK = /(<!-- output: ([^\n]+?) -->\n)\n?```text\n[\s\S]*?```\n\n?(<!-- end output -->)/g;

/**
 * A document with every marked block replaced by the output of its
 * command, run from the repository root.
 *
 * @param text - the document as committed.
 * @param run - runs a command.
 * @returns the document with current outputs.
 * @throws when a block's command is malformed (exit 2): a document names
 *   only commands that run; or when a marker is not a whole block.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderOutputs, runCollected } from "@dmabuf-ref/cli";
 *
 * const fence = "`".repeat(3); // a Markdown code fence
 * const committed = [
 *   "<!-- output: uapi ioctl IOMMU_IOAS_MAP_FILE --json -->", `${fence}text`, "(stale)", fence,
 *   "<!-- end output -->",
 * ].join("\n");
 * // The block now shows the command as typed, what it prints, and its exit status.
 * assert.equal(renderOutputs(committed, runCollected), [
 *   "<!-- output: uapi ioctl IOMMU_IOAS_MAP_FILE --json -->", "", `${fence}text`,
 *   "$ dmabuf-ref uapi ioctl IOMMU_IOAS_MAP_FILE --json",
 *   "{", '  "name": "IOMMU_IOAS_MAP_FILE",', '  "number": "0x3b8f"', "}", "(exit 0)", fence, "",
 *   "<!-- end output -->",
 * ].join("\n"));
 * ```
 * @category Rendering
 */
export function renderOutputs(text: string, run: CliRunner): string {
  // A marker whose block does not match (reformatted, truncated) would be
  // left stale and pass the check: every marker must be a whole block.
  const markers = text.match(/<!-- output: /g)?.length ?? 0;
  const blocks = text.match(BLOCK)?.length ?? 0;
  if (markers !== blocks)
    throw new Error(
      `${markers - blocks} output marker(s) not followed by a \`\`\`text block and <!-- end output -->`,
    );
  return text.replace(BLOCK, (_all, open: string, command: string, close: string) => {
    const args = command.trim().split(/\s+/);
    const r = run(args);
    if (r.status === 2) throw new Error(`a document's block runs a malformed command: ${command}`);
    // The command as a user types it, wrapped like the output at 72 columns.
    const typed = typedCommand(args);
    return `${open}\n\`\`\`text\n${typed}\n${r.stdout}(exit ${r.status})\n\`\`\`\n\n${close}`;
  });
}

/**
 * `$ dmabuf-ref ARGS`, continued with `\` before an option (with its
 * value) that would pass column 72.
 */
function typedCommand(args: readonly string[]): string {
  // An option and the value after it stay on one line.
  const groups: string[] = [];
  for (const a of args) {
    const last = groups.length - 1;
    const prev = groups[last];
    if (prev !== undefined && !a.startsWith("-") && /^--\S+$/.test(prev))
      groups[last] = `${prev} ${a}`;
    else groups.push(a);
  }
  const lines: string[] = ["$ dmabuf-ref"];
  for (const g of groups) {
    const last = lines.length - 1;
    const current = lines[last] ?? "";
    if (current.length + 1 + g.length + 2 > EMAIL_WIDTH && current.trim() !== "$ dmabuf-ref")
      lines.push(`    ${g}`);
    else lines[last] = `${current} ${g}`;
  }
  return lines.join(" \\\n");
}

/**
 * The documents with output blocks: the scenario guide, the RFC documents
 * (`rfc/NNNN-*.md`) in order, then, in a checkout of the repository, the
 * guides of the API site (`docs/guides/*.md`; the published CLI bundles
 * `rfc/` only).
 *
 * @returns their paths.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RFC_DIR, SCENARIO_GUIDE, outputDocuments } from "@dmabuf-ref/cli";
 *
 * const docs = outputDocuments();
 * assert.equal(docs[0], SCENARIO_GUIDE);
 * // Then the RFC documents in order, rfc/0001-mapping-type-negotiation.md first.
 * assert.equal(docs[1], `${RFC_DIR}/0001-mapping-type-negotiation.md`);
 * assert.ok(docs.every((d) => d.endsWith(".md")));
 * ```
 * @category Rendering
 */
export function outputDocuments(): string[] {
  const rfcs = readdirSync(RFC_DIR)
    .filter((f) => /^\d{4}-.+\.md$/.test(f))
    .sort()
    .map((f) => join(RFC_DIR, f));
  const guidesDir = join(RFC_DIR, "..", "docs", "guides");
  const guides = existsSync(guidesDir)
    ? readdirSync(guidesDir)
        .filter((f) => f.endsWith(".md"))
        .sort()
        .map((f) => join(guidesDir, f))
    : [];
  return [SCENARIO_GUIDE, ...rfcs, ...guides];
}

/**
 * A document as it should be committed now.
 *
 * @param path - the document.
 * @param run - runs a command.
 * @returns its text.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SCENARIO_GUIDE, currentDocument } from "@dmabuf-ref/cli";
 * import type { CliRunner } from "@dmabuf-ref/cli";
 *
 * // With runCollected (run from the repository root) this is the guide as it should be
 * // committed; a canned runner shows what happens to each marked block.
 * const canned: CliRunner = () => ({ stdout: "(output)\n", stderr: "", status: 0 });
 * const doc = currentDocument(SCENARIO_GUIDE, canned);
 * const markers = doc.match(/<!-- output: /g)?.length ?? 0;
 * assert.ok(markers > 0);
 * // Every marked block now ends with the command's output and its exit status.
 * assert.equal(doc.match(/^\(output\)\n\(exit 0\)$/gm)?.length, markers);
 * ```
 * @category Rendering
 */
export function currentDocument(path: string, run: CliRunner): string {
  return renderOutputs(readFileSync(path, "utf8"), run);
}
