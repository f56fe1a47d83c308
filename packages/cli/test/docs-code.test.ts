/*
 * Issue 14, docs that do not rot: every code block of every document (the
 * READMEs, the guides in docs/, rfc/, CONTRIBUTING) is executed or checked
 * against the file it quotes (./support/doc-blocks.ts says what each kind
 * is). A block no rule covers fails here, so a new document cannot slip in
 * a block nobody runs.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parseAcceptsDocument, parseOffersDocument, parseTopologyDocument } from "@dmabuf-ref/core";
import {
  allBlocks,
  fragmentInFile,
  isModule,
  moduleFile,
  type DocBlock,
} from "./support/doc-blocks.js";
import { DOC_MODULES_DIR, writeDocModules } from "./support/doc-examples.js";
import { parseCondition } from "../src/explore/condition.js";
import { runCollectedAsync } from "../src/program.js";
import { outputDocuments } from "../src/rfc/scenario-guide.js";
import { REPO_ROOT } from "./run-cli.js";

const blocks = allBlocks();
writeDocModules();
const at = (b: DocBlock): string => `${b.doc}:${b.line}`;
const scripts = Object.keys(
  (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: object })
    .scripts,
);
const rendered = new Set(outputDocuments().map((p) => p.slice(REPO_ROOT.length + 1)));
const scratch = join(REPO_ROOT, "packages/cli/test/.docs-code-scratch");

/** What a shell line is: a dmabuf-ref command to run, or set-up the CI's own run covers. */
type ShellLine = { kind: "cli"; args: string[] } | { kind: "setup" } | { kind: "unknown" };

function shellLines(code: string): string[] {
  return code
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.replace(/(^|\s+)#.*$/, "").trim())
    .filter((l) => l !== "")
    .flatMap((l) => l.split(/\s+&&\s+/));
}

function classify(line: string): ShellLine {
  const cli = /^(?:pnpm (?:-s |--silent )?)?dmabuf-ref(?: (.*))?$/.exec(line);
  if (cli !== null) return { kind: "cli", args: (cli[1] ?? "").split(/\s+/).filter(Boolean) };
  if (line === "pnpm start") return { kind: "cli", args: ["demo"] };
  const script = /^pnpm (?:-s |--silent )?(?:run )?([\w:-]+)/.exec(line)?.[1];
  if (script !== undefined && scripts.includes(script)) return { kind: "setup" };
  // Installing the tool or the packages, fetching the repository: what
  // the CI's fresh clone and pack-check (scripts/pack-check.mjs) do.
  if (
    /^(npm install|pnpm install|pnpm add|pnpm exec vitest|git clone|cd) ?/.test(line) ||
    /^npx vitest/.test(line)
  )
    return { kind: "setup" };
  return { kind: "unknown" };
}

/** The blocks of each kind, for it.each. */
const of = (pred: (b: DocBlock) => boolean): { at: string; b: DocBlock }[] =>
  blocks.filter(pred).map((b) => ({ at: at(b), b }));

describe("every block of every document is covered by a rule", () => {
  it("the documents have blocks", () => {
    expect(blocks.length).toBeGreaterThan(40);
  });

  it("no block is of a kind nothing executes", () => {
    const uncovered = blocks.filter(
      (b) =>
        b.checkedBy === undefined &&
        !(b.lang === "text" && b.inOutputMarkers) &&
        !["sh", "ts", "yaml"].includes(b.lang),
    );
    expect(uncovered.map((b) => `${at(b)}: \`\`\`${b.lang}`)).toEqual([]);
  });

  it("output markers appear only in documents pnpm rfc:render rewrites", () => {
    const stray = blocks.filter((b) => b.inOutputMarkers && !rendered.has(b.doc));
    expect(stray.map(at)).toEqual([]);
  });
});

describe("a block checked by a test is read by that test", () => {
  it.each(of((b) => b.checkedBy !== undefined))("$at", ({ b }) => {
    const test = readFileSync(join(REPO_ROOT, b.checkedBy ?? ""), "utf8");
    expect(test).toContain(b.doc);
  });
});

describe("shell blocks: every dmabuf-ref command runs as written", () => {
  const lines = of((b) => b.lang === "sh" && b.checkedBy === undefined).flatMap(({ at, b }) =>
    shellLines(b.code).map((line) => ({ at, line, what: classify(line) })),
  );

  it("every line is a dmabuf-ref command, a package script or set-up", () => {
    expect(lines.filter((l) => l.what.kind === "unknown").map((l) => `${l.at}: ${l.line}`)).toEqual(
      [],
    );
  });

  const runs = lines.flatMap((l) =>
    l.what.kind === "cli" &&
    // A placeholder in capitals (FILE) stands for the reader's own file.
    !l.what.args.some((a) => /^[A-Z]+$/.test(a))
      ? [{ at: l.at, command: l.what.args.join(" "), args: l.what.args }]
      : [],
  );
  it.each(runs)("$at: dmabuf-ref $command", async ({ args }) => {
    const r = await runCollectedAsync(args);
    expect(r.stderr).toBe("");
    expect(r.status).not.toBe(2);
  });
});

describe("TypeScript blocks: modules run, fragments are quoted from their files", () => {
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it.each(of(isModule))("$at runs", async ({ b }) => {
    expect(b.code).not.toMatch(/from "vitest"/);
    let printed = "";
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      printed += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
      return true;
    });
    try {
      await import(join(DOC_MODULES_DIR, moduleFile(b)));
    } finally {
      spy.mockRestore();
    }
    expect(typeof printed).toBe("string");
  });

  it.each(of((b) => b.fragmentOf !== undefined))("$at quotes its file", ({ b }) => {
    const whole = readFileSync(join(REPO_ROOT, b.fragmentOf ?? ""), "utf8");
    expect(fragmentInFile(b.code, whole)).toBe(true);
  });
});

describe("YAML blocks: files run with their command", () => {
  const whole = of((b) => b.lang === "yaml" && b.fragmentOf === undefined && !b.checkedBy);

  it.each(whole)("$at is a replay, scenario or negotiation file that runs", async ({ b }) => {
    const doc: unknown = parseYaml(b.code);
    expect(typeof doc).toBe("object");
    const keys = Object.keys(doc as object);
    if (keys.includes("offers")) expect(parseOffersDocument(doc).ok).toBe(true);
    else if (keys.includes("accepts")) expect(parseAcceptsDocument(doc).ok).toBe(true);
    else if (keys.includes("distances") || keys.includes("topology"))
      expect(parseTopologyDocument(doc).ok).toBe(true);
    else {
      const command = keys.includes("threads") ? "explore" : keys.includes("calls") ? "replay" : "";
      expect(command, "a YAML block must be a replay (calls:) or a scenario (threads:)").not.toBe(
        "",
      );
      mkdirSync(scratch, { recursive: true });
      const file = join(scratch, `${b.doc.replaceAll("/", "__")}-${b.line}.yaml`);
      writeFileSync(file, b.code);
      const r = await runCollectedAsync([command, file]);
      expect(r.stderr).toBe("");
      expect(r.status).not.toBe(2);
    }
  });
});

/** The one block of `doc` that a `checked by` comment gives to this file. */
function checkedHere(doc: string): string {
  const mine = blocks.filter(
    (b) => b.doc === doc && b.checkedBy === "packages/cli/test/docs-code.test.ts",
  );
  expect(mine).toHaveLength(1);
  return mine[0]?.code ?? "";
}

describe("blocks this file checks", () => {
  it("the README.md layout names folders and files that exist", () => {
    const paths = checkedHere("README.md")
      .split("\n")
      .map((l) => /^(\S+)/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined);
    expect(paths.length).toBeGreaterThan(5);
    expect(paths.filter((p) => !existsSync(join(REPO_ROOT, p)))).toEqual([]);
  });

  it("the condition grammar of rfc/scenarios/README.md is the one the parser reads", () => {
    const grammar = checkedHere("rfc/scenarios/README.md");
    const threads = new Map([["dev1", 1]]);
    // Every connective and every value the grammar names, in one condition each.
    const values = (/^VALUE := (.*)$/m.exec(grammar)?.[1] ?? "")
      .split("|")
      .map((v) => v.trim())
      .filter((v) => /^[a-z]+$/.test(v));
    expect(values).toEqual(["ok", "blocked", "fault", "violation"]);
    for (const v of [...values, "ENODEV"]) {
      expect(() => parseCondition(`dev1[0] == ${v}`, threads)).not.toThrow();
      expect(() => parseCondition(`dev1[0] != ${v}`, threads)).not.toThrow();
    }
    for (const word of ['"or"', '"and"', '"not"', '"("', "no-violation", "no-deadlock"])
      expect(grammar).toContain(word);
    expect(() =>
      parseCondition("not (dev1[0] == ok or no-deadlock) and no-violation", threads),
    ).not.toThrow();
  });
});
