// @ts-check
// Proves the packages work for a third party, as installed from their
// tarballs rather than from this workspace (issue 13, item 5):
//
//   1. build   `pnpm build` (tsc -b over every package, the CLI's rfc data copied);
//   2. pack    `pnpm pack` of every package into a temp dir; each tarball holds
//              package/dist/index.js, its README and package.json, and nothing
//              outside dist/ (no sources, tests, build info);
//   3. install a scratch project outside the repository `npm install`s the
//              tarballs plus vitest, with npm (what a consumer uses; the root
//              `devEngines` guard does not reach a folder outside the repo), and
//              no `workspace:` range survives in an installed manifest;
//   4. demo    `node_modules/.bin/dmabuf-ref demo` there prints the demo, so the
//              bin runs without tsx and finds its bundled rfc/ data;
//   5. consumer the files of scripts/pack-consumer/ copied there and run with
//              vitest: every `*.passes.test.mjs` passes, and every
//              `*.fails.test.mjs` fails naming the rule its marker line states:
//                // pack-check: must fail naming "<text>"
//              (the text must appear in a failing test's name or message).
//
// Prints one line per step and exits 1 naming the first step that failed.
// Usage: node scripts/pack-check.mjs [--no-build] [--keep]
//   --no-build  pack the dist/ folders as they are (quicker while iterating)
//   --keep      leave the temp dir for a look (its path is printed)
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const consumerTemplate = join(root, "scripts", "pack-consumer");
const args = new Set(process.argv.slice(2));
const started = performance.now();

/** The marker a `*.fails.test.mjs` states the rule its failure must name with. */
const FAILS_MARKER = /^\/\/ pack-check: must fail naming "([^"]+)"/m;

class StepFailure extends Error {
  /** @param {string} step @param {string} message */
  constructor(step, message) {
    super(message);
    this.step = step;
  }
}

/**
 * Runs a command and returns its output; a non-zero exit is a failure of
 * `step` unless `allowFailure`, with the output's tail in the message.
 *
 * @param {string} step
 * @param {string} command
 * @param {readonly string[]} argv
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, allowFailure?: boolean }} [options]
 * @returns {{ status: number, output: string }}
 */
function run(step, command, argv, options = {}) {
  const r = spawnSync(command, argv, {
    cwd: options.cwd ?? root,
    env: options.env ?? process.env,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error !== undefined) throw new StepFailure(step, `${command}: ${r.error.message}`);
  const output = `${r.stdout}${r.stderr}`;
  const status = r.status ?? 1;
  if (status !== 0 && options.allowFailure !== true)
    throw new StepFailure(
      step,
      `\`${[command, ...argv].join(" ")}\` exited ${status}:\n${tail(output, 40)}`,
    );
  return { status, output };
}

/** @param {string} text @param {number} lines @returns {string} */
function tail(text, lines) {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** @param {string[]} messages a test's failure messages @returns {string} them, without stack frames */
function withoutStacks(messages) {
  return messages
    .join("\n")
    .split("\n")
    .filter((l) => !/^\s+at /.test(l))
    .join("\n");
}

/** @param {number} since @returns {string} */
const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

/**
 * The environment for npm in the scratch project: pnpm, when it runs this
 * script, exports its own settings as npm_config_* (and the workspace's
 * package as npm_package_*); npm would read them as its own.
 *
 * @returns {NodeJS.ProcessEnv}
 */
function consumerEnv() {
  /** @type {NodeJS.ProcessEnv} */
  const env = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(npm_config_|npm_package_|npm_lifecycle_|pnpm_)/i.test(k)) env[k] = v;
  return env;
}

/**
 * @typedef {object} Packed
 * @property {string} name
 * @property {string} version
 * @property {string} filename
 * @property {{ path: string }[]} files
 */

/** @param {string} step @param {() => string} body */
function step(step, body) {
  const t = performance.now();
  const said = body();
  console.log(`pack-check: ${step.padEnd(8)} ok  ${seconds(t).padStart(7)}  ${said}`);
}

/** @returns {string[]} the package folders under packages/. */
function packageDirs() {
  return readdirSync(join(root, "packages")).filter((d) =>
    existsSync(join(root, "packages", d, "package.json")),
  );
}

const work = mkdtempSync(join(tmpdir(), "dmabuf-ref-pack-check-"));
const tarballs = join(work, "tarballs");
const scratch = join(work, "consumer");
let exitCode = 0;
try {
  // 1. build
  if (args.has("--no-build")) console.log("pack-check: build    skipped (--no-build)");
  else step("build", () => (run("build", "pnpm", ["--silent", "build"]), "pnpm build"));

  const filters = ["--filter", "./packages/*"];

  // 2. pack. The build above is current, so the packs skip their `prepack`
  // (a rebuild per package, ~8 s in all); `pnpm -r pack` alone runs it.
  /** @type {Packed[]} */
  let packed = [];
  step("pack", () => {
    const { output } = run("pack", "pnpm", [
      "-r",
      ...filters,
      "--config.ignore-scripts=true",
      "pack",
      "--pack-destination",
      tarballs,
      "--json",
    ]);
    const json = output.slice(output.indexOf("["), output.lastIndexOf("]") + 1);
    const parsed = /** @type {Packed | Packed[]} */ (JSON.parse(json));
    packed = Array.isArray(parsed) ? parsed : [parsed];
    const expected = packageDirs().length;
    if (packed.length !== expected)
      throw new StepFailure("pack", `${packed.length} tarballs for ${expected} packages`);
    for (const p of packed) {
      const paths = p.files.map((f) => f.path);
      const stray = paths.filter(
        (f) =>
          !(f.startsWith("dist/") && !f.endsWith(".tsbuildinfo")) &&
          !["package.json", "README.md", "LICENSE"].includes(f),
      );
      const missing = ["dist/index.js", "dist/index.d.ts", "README.md"].filter(
        (f) => !paths.includes(f),
      );
      if (stray.length > 0 || missing.length > 0)
        throw new StepFailure(
          "pack",
          `${p.name}: ` +
            (missing.length > 0 ? `missing ${missing.join(", ")}` : "") +
            (stray.length > 0 ? ` files outside dist: ${stray.slice(0, 5).join(", ")}` : ""),
        );
    }
    return packed.map((p) => p.name.replace("@dmabuf-ref/", "")).join(", ");
  });

  // 3. install, with npm, as a consumer would.
  step("install", () => {
    const rootManifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    /** @type {Record<string, string>} */
    const dependencies = { vitest: rootManifest.devDependencies.vitest };
    for (const p of packed) dependencies[p.name] = `file:${p.filename}`;
    cpSync(consumerTemplate, scratch, { recursive: true });
    writeFileSync(
      join(scratch, "package.json"),
      JSON.stringify(
        { name: "pack-consumer", private: true, type: "module", dependencies },
        null,
        2,
      ),
    );
    run(
      "install",
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
      { cwd: scratch, env: consumerEnv() },
    );
    for (const p of packed) {
      const manifest = readFileSync(join(scratch, "node_modules", p.name, "package.json"), "utf8");
      if (manifest.includes("workspace:"))
        throw new StepFailure("install", `${p.name}: a workspace: range was packed`);
    }
    return `npm install of ${packed.length} tarballs + vitest ${dependencies.vitest}`;
  });

  // 4. demo: the installed bin, plain node, its bundled data.
  step("demo", () => {
    const bin = join(scratch, "node_modules", ".bin", "dmabuf-ref");
    const { output } = run("demo", bin, ["demo"], { cwd: scratch, env: consumerEnv() });
    if (!output.startsWith("dmabuf-ref: dma-buf mapping-type negotiation and revoke"))
      throw new StepFailure("demo", `unexpected output:\n${tail(output, 10)}`);
    const scenarios = readdirSync(join(root, "rfc", "scenarios"))
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => f.slice(0, -".yaml".length));
    const absent = scenarios.filter((s) => !output.includes(`  ${s} `));
    if (absent.length > 0)
      throw new StepFailure("demo", `scenarios missing from the demo: ${absent.join(", ")}`);
    return `dmabuf-ref demo lists ${scenarios.length} scenarios`;
  });

  // 5. consumer: the three-line tests against the installed contracts.
  step("consumer", () => {
    const files = readdirSync(scratch).filter((f) => /\.(passes|fails)\.test\.mjs$/.test(f));
    const mustPass = files.filter((f) => f.endsWith(".passes.test.mjs"));
    const mustFail = files.filter((f) => f.endsWith(".fails.test.mjs"));
    if (mustPass.length === 0 || mustFail.length === 0)
      throw new StepFailure(
        "consumer",
        "scripts/pack-consumer needs a *.passes.test.mjs and a *.fails.test.mjs",
      );
    const report = join(work, "vitest.json");
    const { output } = run(
      "consumer",
      join(scratch, "node_modules", ".bin", "vitest"),
      ["run", "--reporter=json", `--outputFile=${report}`],
      { cwd: scratch, env: consumerEnv(), allowFailure: true },
    );
    if (!existsSync(report))
      throw new StepFailure("consumer", `vitest wrote no report:\n${tail(output, 40)}`);
    /** @type {{ testResults: { name: string, message?: string, assertionResults: { status: string, fullName: string, failureMessages: string[] }[] }[] }} */
    const result = JSON.parse(readFileSync(report, "utf8"));
    /** @param {{ message?: string } | undefined} r the file's result @returns {string} */
    const fileError = (r) => (r?.message ? `: ${tail(r.message, 10)}` : "");
    /** @param {string} f */
    const resultOf = (f) => result.testResults.find((r) => r.name.endsWith(`/${f}`));
    for (const f of mustPass) {
      const r = resultOf(f);
      const bad = r?.assertionResults.filter((a) => a.status !== "passed") ?? [];
      if (r === undefined || r.assertionResults.length === 0 || bad.length > 0)
        throw new StepFailure(
          "consumer",
          `${f} must pass: ` +
            (r === undefined || r.assertionResults.length === 0
              ? `no test ran\n${r?.message ?? tail(output, 40)}`
              : bad.map((a) => `${a.fullName}\n${withoutStacks(a.failureMessages)}`).join("\n")),
        );
    }
    for (const f of mustFail) {
      const rule = FAILS_MARKER.exec(readFileSync(join(scratch, f), "utf8"))?.[1];
      if (rule === undefined)
        throw new StepFailure("consumer", `${f} has no line // pack-check: must fail naming "…"`);
      const failed = resultOf(f)?.assertionResults.filter((a) => a.status === "failed") ?? [];
      // A failure's rule is wrapped at 72 columns like every report.
      const flat = (/** @type {string} */ t) => t.replace(/\s+/g, " ");
      const named = failed.some((a) =>
        [a.fullName, ...a.failureMessages].some((t) => flat(t).includes(flat(rule))),
      );
      if (!named)
        throw new StepFailure(
          "consumer",
          failed.length === 0
            ? `${f} must fail, but no test failed${fileError(resultOf(f))}`
            : `${f} failed without naming "${rule}":\n` +
                tail(
                  failed
                    .map((a) => `${a.fullName}\n${withoutStacks(a.failureMessages)}`)
                    .join("\n"),
                  30,
                ),
        );
    }
    return `${mustPass.join(", ")} passed; ${mustFail.join(", ")} failed naming the rule`;
  });
  console.log(`pack-check: passed in ${seconds(started)}`);
} catch (e) {
  exitCode = 1;
  if (e instanceof StepFailure) console.log(`pack-check: FAILED at step ${e.step}: ${e.message}`);
  else throw e;
} finally {
  if (args.has("--keep")) console.log(`pack-check: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.exitCode = exitCode;
