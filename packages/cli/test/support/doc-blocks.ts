// The code blocks of the project's documents (issue 14: "every code block
// in the README, the guides and rfc/ is executed by a test"). This file
// finds them and says what each one is; packages/cli/test/docs-code.test.ts
// executes them, and ./doc-examples.ts writes the complete TypeScript
// ones beside the API examples so the typecheck compiles them.
//
// What a block may be, by its fence:
// - ```sh: commands, one per line (`\` continues a line, `&&` chains);
// - ```ts: a complete module, or a fragment of a repository file whose
//   first line is a comment naming it (`// examples/ualink/src/x.ts`);
// - ```yaml: a complete replay, scenario or negotiation file, or a
//   fragment whose first line is `# path/in/the/repo.yaml`;
// - ```text inside `<!-- output: ... -->` markers: a command's output,
//   which `pnpm rfc:render` rewrites;
// - any fence after a `<!-- checked by: path/to/a.test.ts -->` comment:
//   a block that test reads and checks (a grammar, a layout, a report).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "../../../..");

/** One fenced block of a document. */
export interface DocBlock {
  /** The document, relative to the repository root. */
  readonly doc: string;
  /** The 1-based line of the opening fence. */
  readonly line: number;
  /** The fence's info string (`ts`, `sh`, ...; "" when unlabeled). */
  readonly lang: string;
  readonly code: string;
  /** Whether the block is between `<!-- output: -->` markers. */
  readonly inOutputMarkers: boolean;
  /** The test a `<!-- checked by: FILE -->` comment before the block names. */
  readonly checkedBy: string | undefined;
  /** The repository file a fragment quotes (its first line names it). */
  readonly fragmentOf: string | undefined;
}

function markdownIn(dir: string, deep: boolean): string[] {
  const abs = join(REPO_ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = dir === "" ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory()) return deep ? markdownIn(rel, deep) : [];
    return e.name.endsWith(".md") ? [rel] : [];
  });
}

/**
 * The documents whose blocks are executed: the top-level ones (README,
 * CONTRIBUTING, CHANGELOG), docs/ (the guides), rfc/, and each package's
 * and example's README.
 */
export function documents(): string[] {
  const readmes = (parent: string): string[] =>
    readdirSync(join(REPO_ROOT, parent))
      .map((d) => `${parent}/${d}/README.md`)
      .filter((f) => existsSync(join(REPO_ROOT, f)));
  return [
    ...markdownIn("", false),
    ...markdownIn("docs", true),
    ...markdownIn("rfc", true),
    ...readmes("packages"),
    ...readmes("examples"),
  ].sort();
}

/** The file a fragment's first line names, when it names one that exists. */
function fragmentTarget(lang: string, code: string): string | undefined {
  const first = code.split("\n", 1)[0] ?? "";
  const m =
    lang === "ts"
      ? /^\/\/ ([\w./-]+\.[a-z]+)$/.exec(first)
      : lang === "yaml"
        ? /^# ([\w./-]+\.ya?ml)$/.exec(first)
        : null;
  const path = m?.[1];
  return path !== undefined && existsSync(join(REPO_ROOT, path)) ? path : undefined;
}

/** Every fenced block of a document. */
export function blocksOf(doc: string): DocBlock[] {
  const lines = readFileSync(join(REPO_ROOT, doc), "utf8").split("\n");
  const out: DocBlock[] = [];
  let inMarkers = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.startsWith("<!-- output: ")) inMarkers = true;
    if (line.startsWith("<!-- end output -->")) inMarkers = false;
    const open = /^(`{3,})([\w-]*)\s*$/.exec(line);
    if (open === null) continue;
    const fence = open[1] ?? "```";
    const lang = open[2] ?? "";
    let end = i + 1;
    while (end < lines.length && lines[end] !== fence) end++;
    const code = lines.slice(i + 1, end).join("\n");
    let before = i - 1;
    while (before >= 0 && (lines[before] ?? "").trim() === "") before--;
    const checked = /^<!-- checked by: ([\w./-]+) -->$/.exec(lines[before] ?? "");
    out.push({
      doc,
      line: i + 1,
      lang,
      code: code === "" ? "" : `${code}\n`,
      inOutputMarkers: inMarkers,
      checkedBy: checked?.[1],
      fragmentOf: fragmentTarget(lang, code),
    });
    i = end;
  }
  return out;
}

/** Every block of every document. */
export function allBlocks(): DocBlock[] {
  return documents().flatMap(blocksOf);
}

/** Whether a block is a complete TypeScript module (compiled and run). */
export function isModule(b: DocBlock): boolean {
  return b.lang === "ts" && b.fragmentOf === undefined && b.checkedBy === undefined;
}

/** The generated file of a complete TypeScript block (relative to the generated directory). */
export function moduleFile(b: DocBlock): string {
  return `${b.doc.replace(/\.md$/, "").replaceAll("/", "__")}-line${b.line}.ts`;
}

/**
 * Whether `fragment`'s lines occur in `whole`'s, in order (blank lines and
 * whole-line comments of the fragment aside: a guide may annotate).
 */
export function fragmentInFile(fragment: string, whole: string): boolean {
  const norm = (t: string, dropComments: boolean): string[] =>
    t
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !(dropComments && /^(\/\/|#)/.test(l)));
  const wholeLines = norm(whole, false);
  let at = 0;
  for (const l of norm(fragment, true)) {
    at = wholeLines.indexOf(l, at);
    if (at < 0) return false;
    at += 1;
  }
  return true;
}
