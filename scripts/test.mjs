// The test command (`pnpm test`): every check, in three phases, the
// single-threaded checks of a phase side by side (typecheck, eslint,
// prettier, typedoc and the package build each use one core; CI has two),
// the unit tests alone (vitest uses every core). ESLint is the longest
// check of the first phase (about 95 s on CI's two cores), so prettier runs
// as a check of its own beside it rather than after it (about 17 s off the
// run). Each check's output is printed whole when it ends, so two never
// interleave; the first phase that fails stops the run, and the exit
// status is the failed check's. The pack check builds every package's
// dist/, so it runs after the unit tests.
import { spawn } from "node:child_process";

/** @typedef {{ name: string, script: string }} Check */

/** @type {Check[][]} */
const PHASES = [
  [
    { name: "typecheck", script: "typecheck" },
    { name: "eslint", script: "lint:eslint" },
    { name: "prettier", script: "lint:format" },
    { name: "cycles", script: "cycles" },
  ],
  [{ name: "unit", script: "unit" }],
  [
    { name: "api-docs", script: "api-docs" },
    { name: "pack-check", script: "pack-check" },
  ],
];

/**
 * Runs one package script, collecting its output.
 *
 * @param {Check} check
 * @param {boolean} stream print as it runs (a phase of one check)
 * @returns {Promise<{ check: Check, code: number, output: string, seconds: number }>}
 */
function run(check, stream) {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn("pnpm", ["--silent", "run", check.script], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? "0" },
    });
    let output = "";
    const take = (/** @type {Buffer} */ d) => {
      if (stream) process.stdout.write(d);
      else output += d.toString();
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("close", (code) =>
      done({ check, code: code ?? 1, output, seconds: (Date.now() - started) / 1000 }),
    );
  });
}

const start = Date.now();
for (const phase of PHASES) {
  const results = await Promise.all(phase.map((c) => run(c, phase.length === 1)));
  for (const r of results) {
    if (r.output !== "") process.stdout.write(r.output.endsWith("\n") ? r.output : `${r.output}\n`);
    console.log(
      `test: ${r.check.name} ${r.code === 0 ? "ok" : "FAILED"} in ${r.seconds.toFixed(1)} s`,
    );
  }
  const failed = results.find((r) => r.code !== 0);
  if (failed !== undefined) {
    console.log(`test: stopped: ${failed.check.name} failed (exit status ${failed.code})`);
    process.exit(failed.code);
  }
}
console.log(`test: every check passed in ${((Date.now() - start) / 1000).toFixed(1)} s`);
