/*
 * Issue 14, docs that do not rot: every `dmabuf-ref` command a document
 * shows in a shell block (the README, the scenario guide, the UALink
 * example's README, CONTRIBUTING) runs as written and is not rejected as
 * bad input (exit 2). A placeholder (`FILE`) is the only exception, and
 * it must be spelled in capitals. (TypeScript blocks of the README run in
 * readme.test.ts; the RFC documents' outputs are checked in
 * explore-guide.test.ts.)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCollectedAsync } from "../src/program.js";
import { REPO_ROOT } from "./run-cli.js";

const DOCUMENTS = [
  "README.md",
  "rfc/scenarios/README.md",
  "examples/ualink/README.md",
  "CONTRIBUTING.md",
];

/** The `dmabuf-ref` commands of a document's shell blocks, continuation lines joined. */
function commandsOf(text: string): string[][] {
  const shell = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  return shell
    .flatMap((block) => block.replace(/\\\n\s*/g, " ").split("\n"))
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => /^(pnpm (-s )?)?dmabuf-ref /.test(line))
    .map((line) => line.replace(/^(pnpm (-s )?)?dmabuf-ref /, "").split(/\s+/));
}

const commands = DOCUMENTS.flatMap((doc) =>
  commandsOf(readFileSync(join(REPO_ROOT, doc), "utf8"))
    // A placeholder in capitals (FILE) stands for the reader's own file.
    .filter((args) => !args.some((a) => /^[A-Z]+$/.test(a)))
    .map((args) => ({ doc, command: args.join(" "), args })),
);

describe("every dmabuf-ref command the documents show runs as written", () => {
  it("the documents show commands", () => {
    expect(commands.length).toBeGreaterThanOrEqual(10);
  });

  it.each(commands)("$doc: dmabuf-ref $command", async ({ args }) => {
    const r = await runCollectedAsync(args);
    expect(r.stderr).toBe("");
    expect(r.status).not.toBe(2);
  });
});
