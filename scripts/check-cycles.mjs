// @ts-check
// Import cycles among the sources (packages/*/src), type-only imports
// included: DESIGN §2a wants a World that "holds state only, so no type in
// core needs the drivers and no circle forms", and ESLint's layering rules
// (scripts/eslint-layering.mjs) only see one import at a time.
//
// Every `import … from`, `import type … from`, `export … from`,
// `export type … from`, `import x = require(…)`, `import("…")` and type-level
// `import("…").T` is an edge. A relative `./x.js` resolves to `./x.ts` (as
// `module: nodenext` does); `@dmabuf-ref/<pkg>[/<subpath>]` resolves through that
// package's `exports` under the `@dmabuf-ref/source` condition (its
// src/index.ts). Anything else (node:, zod, …) is outside the graph.
//
// Prints every elementary cycle, grouped by strongly connected component, as a
// chain of files, and exits 1; with no cycle prints "no import cycles among N
// files" and exits 0. Usage: node scripts/check-cycles.mjs
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");
const packagesDir = join(root, "packages");
/** The custom export condition that points a package at its sources. */
const SOURCE_CONDITION = "@dmabuf-ref/source";
/** Cycles listed per component at most (a big component can have very many). */
const MAX_CYCLES_PER_COMPONENT = 200;

/** @param {string} file @returns {string} the path from the repository root, with `/`. */
const rel = (file) => relative(root, file).split(sep).join("/");

/** @param {string} dir @returns {string[]} the TypeScript sources under `dir`. */
function sources(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sources(path);
    return /\.(ts|mts|cts|tsx)$/.test(entry.name) && !/\.d\.[mc]?ts$/.test(entry.name)
      ? [path]
      : [];
  });
}

const packageDirs = readdirSync(packagesDir)
  .map((name) => join(packagesDir, name))
  .filter((dir) => existsSync(join(dir, "package.json")));

/** Package name -> its `exports` resolved under the source condition: subpath -> file. */
const packages = new Map(
  packageDirs.map((dir) => {
    /** @type {{ name: string, exports?: unknown }} */
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    /** @type {Map<string, string>} */
    const subpaths = new Map();
    const exports = manifest.exports;
    /** @type {[string, unknown][]} */
    const entries =
      typeof exports === "string"
        ? [[".", exports]]
        : typeof exports === "object" && exports !== null
          ? Object.keys(exports).some((k) => k.startsWith("."))
            ? Object.entries(exports)
            : [[".", exports]]
          : [];
    for (const [subpath, target] of entries) {
      const file = sourceTarget(target);
      if (file !== undefined) subpaths.set(subpath, resolve(dir, file));
    }
    return [manifest.name, subpaths];
  }),
);

/**
 * The file an `exports` target names under the source condition (or, failing
 * that, `default`).
 *
 * @param {unknown} target
 * @returns {string | undefined}
 */
function sourceTarget(target) {
  if (typeof target === "string") return target;
  if (typeof target !== "object" || target === null || Array.isArray(target)) return undefined;
  /** @type {Record<string, unknown>} */
  const conditions = /** @type {Record<string, unknown>} */ (target);
  for (const condition of [SOURCE_CONDITION, "default"]) {
    const found = sourceTarget(conditions[condition]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Resolves a specifier the way tsc (`nodenext` + the source condition) would,
 * for the specifiers that stay inside the repository.
 *
 * @param {string} from the importing file
 * @param {string} spec
 * @returns {string | null | undefined} the file; null when it leaves the graph
 *   (a dependency, node:, …); undefined when it should resolve but does not
 */
function resolveSpecifier(from, spec) {
  if (spec.startsWith(".")) {
    const base = resolve(dirname(from), spec);
    const candidates = [
      base.replace(/\.js$/, ".ts"),
      base.replace(/\.js$/, ".tsx"),
      base.replace(/\.mjs$/, ".mts"),
      base.replace(/\.cjs$/, ".cts"),
      base,
      `${base}.ts`,
      join(base, "index.ts"),
    ];
    return candidates.find((c) => existsSync(c) && statSync(c).isFile());
  }
  const match = /^(@[^/]+\/[^/]+|[^@/][^/]*)(\/.*)?$/.exec(spec);
  const subpaths = match?.[1] === undefined ? undefined : packages.get(match[1]);
  if (subpaths === undefined) return null;
  const subpath = `.${match?.[2] ?? ""}`;
  const exact = subpaths.get(subpath);
  if (exact !== undefined) return exact;
  for (const [pattern, file] of subpaths) {
    const star = pattern.indexOf("*");
    if (star < 0) continue;
    const [head, tail] = [pattern.slice(0, star), pattern.slice(star + 1)];
    if (subpath.startsWith(head) && subpath.endsWith(tail)) {
      return file.replace("*", subpath.slice(head.length, subpath.length - tail.length));
    }
  }
  return undefined;
}

/**
 * The module specifiers a file names, each with whether it is type-only
 * (erased from the emitted JavaScript).
 *
 * @param {string} file
 * @returns {{ spec: string, typeOnly: boolean }[]}
 */
function specifiers(file) {
  const source = ts.createSourceFile(
    file,
    readFileSync(file, "utf8"),
    ts.ScriptTarget.Latest,
    true,
    file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  /** @type {{ spec: string, typeOnly: boolean }[]} */
  const found = [];
  /** @param {ts.Node} node */
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({
        spec: node.moduleSpecifier.text,
        typeOnly: node.importClause?.isTypeOnly ?? false,
      });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push({ spec: node.moduleReference.expression.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push({ spec: node.arguments[0].text, typeOnly: false });
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push({ spec: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = packageDirs.flatMap((dir) => sources(join(dir, "src"))).sort();
const inGraph = new Set(files);

/** file -> imported file -> true when every import along that edge is type-only. */
/** @type {Map<string, Map<string, boolean>>} */
const edges = new Map();
/** @type {string[]} */
const unresolved = [];
for (const file of files) {
  /** @type {Map<string, boolean>} */
  const out = new Map();
  for (const { spec, typeOnly } of specifiers(file)) {
    const target = resolveSpecifier(file, spec);
    if (target === undefined) unresolved.push(`${rel(file)}: "${spec}"`);
    if (target === null || target === undefined || !inGraph.has(target)) continue;
    out.set(target, (out.get(target) ?? true) && typeOnly);
  }
  edges.set(file, out);
}

/** @param {string} file @returns {string[]} */
const next = (file) => [...(edges.get(file)?.keys() ?? [])].sort();

/**
 * Tarjan's strongly connected components, each sorted, in file order.
 *
 * @returns {string[][]}
 */
function components() {
  let counter = 0;
  /** @type {Map<string, number>} */
  const index = new Map();
  /** @type {Map<string, number>} */
  const low = new Map();
  /** @type {string[]} */
  const stack = [];
  const onStack = new Set();
  /** @type {string[][]} */
  const found = [];
  /** @param {string} v */
  const connect = (v) => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
      }
    }
    if (low.get(v) === index.get(v)) {
      /** @type {string[]} */
      const component = [];
      for (;;) {
        const w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      found.push(component.sort());
    }
  };
  for (const file of files) if (!index.has(file)) connect(file);
  return found.sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? ""));
}

/**
 * Johnson's algorithm: the elementary cycles inside one component, each
 * starting at its least file, at most `limit` of them.
 *
 * @param {string[]} component sorted
 * @param {number} limit
 * @returns {{ cycles: string[][], complete: boolean }}
 */
function elementaryCycles(component, limit) {
  /** @type {string[][]} */
  const cycles = [];
  const members = new Set(component);
  for (const [i, start] of component.entries()) {
    const allowed = new Set(component.slice(i));
    /** @param {string} v @returns {string[]} */
    const within = (v) => next(v).filter((w) => members.has(w) && allowed.has(w));
    const blocked = new Set();
    /** @type {Map<string, Set<string>>} */
    const blockedBy = new Map();
    /** @type {string[]} */
    const path = [];
    /** @param {string} u */
    const unblock = (u) => {
      blocked.delete(u);
      const waiting = blockedBy.get(u) ?? new Set();
      blockedBy.set(u, new Set());
      for (const w of waiting) if (blocked.has(w)) unblock(w);
    };
    /** @param {string} v @returns {boolean} */
    const circuit = (v) => {
      let closed = false;
      path.push(v);
      blocked.add(v);
      for (const w of within(v)) {
        if (cycles.length >= limit) break;
        if (w === start) {
          cycles.push([...path, start]);
          closed = true;
        } else if (!blocked.has(w) && circuit(w)) {
          closed = true;
        }
      }
      if (closed) unblock(v);
      else for (const w of within(v)) blockedBy.set(w, (blockedBy.get(w) ?? new Set()).add(v));
      path.pop();
      return closed;
    };
    circuit(start);
    if (cycles.length >= limit) return { cycles, complete: false };
  }
  return { cycles, complete: true };
}

/** @param {string[]} cycle @returns {string} `a.ts -> b.ts --type--> a.ts` */
function chain(cycle) {
  return cycle
    .map((file, i) => {
      if (i === 0) return rel(file);
      const typeOnly = edges.get(cycle[i - 1] ?? "")?.get(file) ?? false;
      return `${typeOnly ? "--type-->" : "->"} ${rel(file)}`;
    })
    .join(" ");
}

for (const line of unresolved) {
  console.error(`warning: unresolved import ${line} (left out of the graph)`);
}

const cyclic = components().filter(
  (c) => c.length > 1 || (c[0] !== undefined && (edges.get(c[0])?.has(c[0]) ?? false)),
);
if (cyclic.length === 0) {
  console.log(`no import cycles among ${files.length} files`);
  process.exit(0);
}

let total = 0;
const report = cyclic.map((component, n) => {
  const { cycles, complete } = elementaryCycles(component, MAX_CYCLES_PER_COMPONENT);
  cycles.sort((a, b) => a.length - b.length || chain(a).localeCompare(chain(b)));
  total += cycles.length;
  return [
    `component ${n + 1}: ${component.length} files, ${complete ? "" : "at least "}${cycles.length} cycle(s)`,
    ...component.map((file) => `  ${rel(file)}`),
    "  cycles:",
    ...cycles.map((cycle) => `    ${chain(cycle)}`),
    ...(complete ? [] : [`    … stopped after ${MAX_CYCLES_PER_COMPONENT}`]),
  ].join("\n");
});
console.log(
  `import cycles among ${files.length} files: ${total} elementary cycle(s) in ${cyclic.length} component(s)` +
    ` ("--type-->" is an edge made only of type-only imports/exports)\n`,
);
console.log(report.join("\n\n"));
process.exit(1);
