import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { UAPI_IOCTLS } from "@dmabuf-ref/core";
import { describe, expect, it } from "vitest";
import { replayEventSchema, replaySyscallSchema } from "../src/replay/schema.js";
import { outcomes, replayExample, replayText } from "./replay-support.js";
import { REPO_ROOT } from "./run-cli.js";

// The replay guide (docs/guides/replay-format.md, moved there from the
// README) is documentation a test executes (STYLE: docs code blocks run).
const GUIDE = "docs/guides/replay-format.md";
const section = readFileSync(join(REPO_ROOT, GUIDE), "utf8");
const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
const examples = readdirSync(join(REPO_ROOT, "rfc/replays")).filter((f) => f.endsWith(".yaml"));

const lines = (text: string): string[] =>
  text
    .split("\n")
    .map((l) => l.replace(/(^|\s+)#.*$/, "").trim())
    .filter((l) => l !== "");

/** Whether `part`'s lines occur in `whole`'s, in order. */
function inOrder(part: readonly string[], whole: readonly string[]): boolean {
  let at = 0;
  for (const l of part) {
    at = whole.indexOf(l, at);
    if (at < 0) return false;
    at += 1;
  }
  return true;
}

describe(`the replay guide (${GUIDE})`, () => {
  it("has examples", () => {
    expect(section).toContain("# The replay format");
    expect(blocks.length).toBeGreaterThan(3);
  });

  it.each(blocks.map((b, i) => [i, b] as const))(
    "example %i is part of a file in rfc/replays that replays",
    (_i, block) => {
      const named = /^# (rfc\/replays\/[\w.-]+\.yaml)\n/.exec(block);
      const file = named?.[1] ?? "rfc/replays/qemu-flr.yaml";
      const text = readFileSync(join(REPO_ROOT, file), "utf8");
      expect(inOrder(lines(block.slice(named?.[0].length ?? 0)), lines(text))).toBe(true);
      const run = replayText(text);
      expect(run.results.length).toBeGreaterThan(0);
      if (named === null) expect(outcomes(replayText(block))).toEqual(outcomes(run));
    },
  );

  it("names every ioctl the replay accepts", () => {
    for (const i of UAPI_IOCTLS) expect(section).toContain(`\`${i.name}\``);
  });

  it("names every event and syscall", () => {
    for (const o of replayEventSchema.options) expect(section).toContain(o.shape.event.value);
    for (const o of replaySyscallSchema.options)
      expect(section).toContain(`syscall: ${o.shape.syscall.value}`);
  });
});

describe("the README's short replay section", () => {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## Replaying a real ioctl sequence");
  const short = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const fragments = [...short.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");

  it("links the guide and shows one fragment of a file in rfc/replays", () => {
    expect(start).toBeGreaterThanOrEqual(0);
    expect(short).toContain("(docs/guides/replay-format.md)");
    expect(fragments).toHaveLength(1);
    const named = /^# (rfc\/replays\/[\w.-]+\.yaml)\n/.exec(fragments[0] ?? "");
    expect(named).not.toBeNull();
    const text = readFileSync(join(REPO_ROOT, named?.[1] ?? ""), "utf8");
    expect(inOrder(lines((fragments[0] ?? "").slice(named?.[0].length ?? 0)), lines(text))).toBe(
      true,
    );
  });
});

describe("rfc/replays", () => {
  it.each(examples)("%s replays without a file error and without violations", (name) => {
    const run = replayExample(name);
    expect(run.results.length).toBeGreaterThan(0);
    expect(run.violations).toEqual([]);
  });
});
