// The API reference's promises, checked (issue 14, "docs that teach"):
// every symbol a package's index exports names its @category (one of the
// package's categories below), and every exported function carries an
// @example: a ```ts block that imports what it uses from the packages'
// public names and runs on its own, stating its results with node:assert.
//
// `--write` extracts the examples into packages/cli/test/doc-examples.generated/
// (the CLI package depends on every other, so each example resolves its
// imports there; the directory is ignored by git, lint and prettier) so that
// the typecheck compiles them; `--check` lists what is missing and exits 1.
// packages/cli/test/doc-examples.test.ts runs the generated examples.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { allBlocks, isModule, moduleFile } from "./doc-blocks.js";

/**
 * The entry points the API reference documents: each package's index, and
 * core's `@dmabuf-ref/core/encoding` subpath (the machinery under the World).
 */
export const DOCUMENTED_PACKAGES = [
  "core",
  "core/encoding",
  "exporters",
  "importers",
  "contracts",
  "cli",
] as const;

/** An entry point's file: a package's index, or the subpath's module. */
function entryFile(p: (typeof DOCUMENTED_PACKAGES)[number]): string {
  return p === "core/encoding" ? "packages/core/src/encoding.ts" : `packages/${p}/src/index.ts`;
}

/**
 * The categories of each package's reference pages: the issue's seven for
 * the model, and what the contracts and the CLI add.
 */
export const CATEGORIES: Readonly<Record<(typeof DOCUMENTED_PACKAGES)[number], readonly string[]>> =
  {
    core: [
      "Mapping types",
      "Negotiation",
      "Lifetime",
      "Fabric and oracle",
      "uAPI",
      "Drivers",
      "Profiles",
      "Tracing",
      "Exploration",
    ],
    "core/encoding": ["Hashing", "Tables and indexes", "Codecs"],
    exporters: ["Drivers", "uAPI", "Profiles"],
    importers: ["Drivers", "uAPI", "Profiles"],
    contracts: ["Contract suites", "Harnesses", "Partners", "Exploration"],
    cli: ["Commands", "Replay", "Scenarios", "Rendering"],
  };

export const REPO_ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "../../../..");
export const GENERATED_DIR = join(REPO_ROOT, "packages/cli/test/doc-examples.generated");
/** Where the API examples are generated (a directory of its own: tests run side by side). */
export const API_EXAMPLES_DIR = join(GENERATED_DIR, "api");
/** Where the documents' complete TypeScript blocks are generated. */
export const DOC_MODULES_DIR = join(GENERATED_DIR, "docs");

/** One exported symbol of a package's index and what its TSDoc says. */
export interface ExportedSymbol {
  readonly pkg: string;
  readonly name: string;
  readonly file: string;
  readonly isFunction: boolean;
  readonly categories: readonly string[];
  /** The code of each ```ts block of each @example tag. */
  readonly examples: readonly string[];
}

function jsDocHost(d: ts.Declaration): ts.Node {
  if (ts.isVariableDeclaration(d)) return d.parent.parent;
  return d;
}

function isFunctionDeclaration(d: ts.Declaration): boolean {
  if (ts.isFunctionDeclaration(d)) return true;
  if (ts.isVariableDeclaration(d) && d.initializer !== undefined) {
    return ts.isArrowFunction(d.initializer) || ts.isFunctionExpression(d.initializer);
  }
  return false;
}

function tagText(tag: ts.JSDocTag): string {
  const c = tag.comment;
  if (c === undefined) return "";
  if (typeof c === "string") return c;
  return c.map((part) => part.text).join("");
}

/** The ```ts blocks of an @example tag's text. */
export function tsBlocks(text: string): string[] {
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
}

/** Every exported symbol of the documented packages, with its tags. */
export function exportedSymbols(): ExportedSymbol[] {
  const cfgPath = join(REPO_ROOT, "tsconfig.json");
  const cfg = ts.getParsedCommandLineOfConfigFile(
    cfgPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  );
  if (cfg === undefined) throw new Error("tsconfig.json does not parse");
  const indexes = DOCUMENTED_PACKAGES.map((p) => join(REPO_ROOT, entryFile(p)));
  const program = ts.createProgram({ rootNames: indexes, options: cfg.options });
  const checker = program.getTypeChecker();
  const out: ExportedSymbol[] = [];
  DOCUMENTED_PACKAGES.forEach((pkg, i) => {
    const sf = program.getSourceFile(indexes[i] ?? "");
    const mod = sf === undefined ? undefined : checker.getSymbolAtLocation(sf);
    if (mod === undefined) throw new Error(`${entryFile(pkg)} has no exports`);
    for (const exported of checker.getExportsOfModule(mod)) {
      const s =
        exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const decls = s.declarations ?? [];
      const categories: string[] = [];
      const examples: string[] = [];
      for (const d of decls) {
        for (const tag of ts.getJSDocTags(jsDocHost(d))) {
          if (tag.tagName.text === "category") categories.push(tagText(tag).trim());
          if (tag.tagName.text === "example") examples.push(...tsBlocks(tagText(tag)));
        }
      }
      const first = decls[0];
      out.push({
        pkg,
        name: exported.name,
        file:
          first === undefined
            ? "?"
            : first.getSourceFile().fileName.slice(REPO_ROOT.length).replace(/^\//, ""),
        isFunction: first !== undefined && isFunctionDeclaration(first),
        categories: [...new Set(categories)],
        examples,
      });
    }
  });
  return out;
}

/** What a symbol's TSDoc lacks, one sentence each. */
export function problemsOf(s: ExportedSymbol): string[] {
  // A symbol re-exported from another package (contracts re-exports core's
  // reference importer ops) has one TSDoc: the declaring package's list rules.
  // The subpath's symbols are core's files but the subpath's own pages.
  const declaredIn = /^packages\/([a-z-]+)\//.exec(s.file)?.[1] ?? s.pkg;
  const owner = s.pkg === "core/encoding" || !(declaredIn in CATEGORIES) ? s.pkg : declaredIn;
  const allowed = CATEGORIES[owner as keyof typeof CATEGORIES];
  const problems: string[] = [];
  if (s.categories.length === 0) problems.push("no @category");
  for (const c of s.categories) {
    if (!allowed.includes(c)) {
      problems.push(`@category ${c} is not one of ${owner}'s: ${allowed.join(", ")}`);
    }
  }
  if (s.isFunction && s.examples.length === 0) problems.push("a function without an @example");
  return problems;
}

/** The file an example is generated into (relative to API_EXAMPLES_DIR). */
export function exampleFile(s: ExportedSymbol, i: number): string {
  return `${s.pkg}/${s.name}${i === 0 ? "" : `-${i + 1}`}.ts`;
}

/** Writes every example into `dir` (API_EXAMPLES_DIR by default), replacing what was there. */
export function writeExamples(symbols: readonly ExportedSymbol[], dir = API_EXAMPLES_DIR): number {
  rmSync(dir, { recursive: true, force: true });
  let n = 0;
  for (const s of symbols) {
    s.examples.forEach((code, i) => {
      const file = join(dir, exampleFile(s, i));
      mkdirSync(join(file, ".."), { recursive: true });
      const origin = `// Generated from the @example of ${s.name} (${s.file}); do not edit.\n`;
      // `export {}` keeps a block without imports a module of its own.
      writeFileSync(file, `${origin}${code}\nexport {};\n`);
      n += 1;
    });
  }
  return n;
}

/**
 * Writes the documents' complete TypeScript blocks into `dir`
 * (DOC_MODULES_DIR by default), replacing what was there.
 */
export function writeDocModules(dir = DOC_MODULES_DIR): number {
  rmSync(dir, { recursive: true, force: true });
  const modules = allBlocks().filter(isModule);
  for (const b of modules) {
    const file = join(dir, moduleFile(b));
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(
      file,
      `// Generated from ${b.doc}:${b.line}; do not edit.\n${b.code}export {};\n`,
    );
  }
  return modules.length;
}

/**
 * Compiles and runs the examples of `chosen` on their own (for an author
 * working on a few files: `--under packages/core/src/lifetime --run`), in a
 * scratch directory beside the generated one, which it removes after.
 */
export function runExamples(chosen: readonly ExportedSymbol[]): void {
  const dir = join(REPO_ROOT, `packages/cli/test/doc-examples.scratch-${process.pid}`);
  const n = writeExamples(chosen, dir);
  const files = chosen.flatMap((s) => s.examples.map((_c, i) => exampleFile(s, i)));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../../tsconfig.base.json",
      compilerOptions: { noEmit: true },
      files,
    }),
  );
  try {
    const tsc = spawnSync(
      join(REPO_ROOT, "node_modules/.bin/tsc"),
      ["-p", join(dir, "tsconfig.json")],
      {
        encoding: "utf8",
      },
    );
    const compileErrors = tsc.stdout.trim();
    if (compileErrors !== "") console.log(compileErrors.replaceAll(`${dir}/`, "example "));
    const runner = files
      .map(
        (f) =>
          `try { await import(${JSON.stringify(join(dir, f))}); } catch (e) { process.exitCode = 1; console.log("example ${f} throws: " + String(e instanceof Error ? e.stack : e)); }`,
      )
      .join("\n");
    const run = spawnSync(
      process.execPath,
      ["--conditions=@dmabuf-ref/source", "--import", "tsx", "--input-type=module", "-e", runner],
      { encoding: "utf8", cwd: dir },
    );
    process.stdout.write(run.stdout);
    process.stdout.write(run.stderr);
    console.log(
      `doc-examples: ${n} examples: ${compileErrors === "" ? "compile" : "DO NOT compile"}, ${run.status === 0 ? "run" : "DO NOT all run"}`,
    );
    if (compileErrors !== "" || run.status !== 0) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
