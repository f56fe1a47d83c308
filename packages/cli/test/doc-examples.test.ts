/*
 * Issue 14, docs that teach: every export of every package names its
 * @category, and every exported function's @example runs. The examples
 * are extracted by ./support/doc-examples.ts (which the typecheck runs
 * first, so they also compile under the project's strict settings); here
 * each one is imported, which runs it: an example states its results with
 * node:assert, so a wrong one throws.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DOCUMENTED_PACKAGES,
  API_EXAMPLES_DIR,
  exampleFile,
  exportedSymbols,
  problemsOf,
  writeExamples,
} from "./support/doc-examples.js";

const symbols = exportedSymbols();
writeExamples(symbols);
const examples = symbols.flatMap((s) =>
  s.examples.map((_code, i) => ({ name: `${s.pkg}.${s.name}`, file: exampleFile(s, i) })),
);

describe("the API reference keeps its promises", () => {
  it.each(DOCUMENTED_PACKAGES.map((p) => [p]))(
    "every export of %s names its category, every function has an example",
    (pkg) => {
      const problems = symbols
        .filter((s) => s.pkg === pkg)
        .flatMap((s) => problemsOf(s).map((p) => `${s.file}: ${s.name}: ${p}`));
      expect(problems).toEqual([]);
    },
  );
});

describe("every @example runs", () => {
  it.each(examples)("the example of $name", async ({ file }) => {
    await import(join(API_EXAMPLES_DIR, file));
  });
});
