// `pnpm doc-examples`: the API reference's examples (the code lives with
// its test, packages/cli/test/support/doc-examples.ts). `--write` extracts
// them and the documents' TypeScript blocks for the typecheck; `--check`
// lists exports without @category and functions without @example;
// `--run` compiles and runs the chosen examples on their own
// (`--package core`, `--under packages/core/src/lifetime`).
import {
  GENERATED_DIR,
  REPO_ROOT,
  exportedSymbols,
  problemsOf,
  runExamples,
  writeDocModules,
  writeExamples,
} from "../packages/cli/test/support/doc-examples.js";

{
  const args = process.argv.slice(2);
  const only = args.includes("--package") ? args[args.indexOf("--package") + 1] : undefined;
  const under = args.includes("--under") ? args[args.indexOf("--under") + 1] : undefined;
  const symbols = exportedSymbols();
  if (args.includes("--write")) {
    const n = writeExamples(symbols);
    const d = writeDocModules();
    console.log(
      `doc-examples: ${n} API examples and ${d} document blocks written to ${GENERATED_DIR.slice(REPO_ROOT.length + 1)}`,
    );
  }
  const chosen = symbols.filter(
    (s) =>
      (only === undefined || s.pkg === only) && (under === undefined || s.file.startsWith(under)),
  );
  if (args.includes("--run")) runExamples(chosen);
  if (args.includes("--check")) {
    let bad = 0;
    for (const s of chosen) {
      const problems = problemsOf(s);
      if (problems.length === 0) continue;
      bad += 1;
      console.log(`${s.file}: ${s.pkg}.${s.name}: ${problems.join("; ")}`);
    }
    const fns = chosen.filter((s) => s.isFunction);
    console.log(
      `doc-examples: ${chosen.length} exports (${fns.length} functions, ${fns.filter((s) => s.examples.length > 0).length} with examples), ${bad} with problems`,
    );
    if (bad > 0) process.exitCode = 1;
  }
}
