import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { REPO_ROOT, runCli } from "./run-cli.js";

// Code in the README is executed, so it cannot rot (STYLE: docs code blocks run).
const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
const dir = join(REPO_ROOT, "packages/cli/test/.readme-blocks");

describe("README code blocks", () => {
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("the README has TypeScript examples", () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((code, i) => [i, code] as const))(
    "block %i runs and prints a trace",
    async (i, code) => {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `block-${i}.ts`);
      writeFileSync(file, code);
      let printed = "";
      const spy = vi
        .spyOn(process.stdout, "write")
        .mockImplementation((chunk: string | Uint8Array) => {
          printed += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
          return true;
        });
      try {
        await import(file);
      } finally {
        spy.mockRestore();
      }
      expect(printed).toContain("revoke (temporary) of buf");
    },
  );
});

// The full replay example lives in the replay guide (moved from the README).
describe("replay guide example", () => {
  const guide = readFileSync(join(REPO_ROOT, "docs/guides/replay-format.md"), "utf8");
  const yamlBlocks = [...guide.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] ?? "")
    .filter((b) => b.includes("calls:"));

  it("the documented replay file replays, with the faults and no violation it describes", () => {
    expect(yamlBlocks).toHaveLength(1);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "replay.yaml");
    writeFileSync(file, yamlBlocks[0] ?? "");
    const run = runCli("replay", file, "--json");
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as {
      results: { ok: boolean; dma?: string }[];
      violations: unknown[];
    };
    expect(out.results.every((r) => r.ok)).toBe(true);
    expect(out.results.flatMap((r) => (r.dma === undefined ? [] : [r.dma]))).toEqual([
      "ok",
      "fault",
    ]);
    expect(out.violations).toEqual([]);
  });
});
