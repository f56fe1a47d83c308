/*
 * What a third party installs (issue 13, item 5), checked without building:
 * every package's manifest, its exports into dist, where tsc puts what the
 * exports name, the CLI's bin and bundled rfc/ data. `pnpm pack-check`
 * (scripts/pack-check.mjs) builds, packs and installs them for real.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import * as z from "zod";
import { RFC_DIR, locateRfcDir } from "../src/rfc/rfc-dir.js";
import { REPO_ROOT } from "./run-cli.js";

const SOURCE_CONDITION = "@dmabuf-ref/source";

const exportEntrySchema = z.record(z.string(), z.string());

const manifestSchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string().min(1),
  license: z.string(),
  keywords: z.array(z.string()).min(1),
  repository: z.object({ type: z.literal("git"), url: z.string(), directory: z.string() }),
  engines: z.object({ node: z.string() }),
  type: z.literal("module"),
  bin: z.record(z.string(), z.string()).optional(),
  exports: z.record(z.string(), exportEntrySchema),
  files: z.array(z.string()),
  scripts: z.record(z.string(), z.string()),
  dependencies: z.record(z.string(), z.string()).optional(),
});
type Manifest = z.output<typeof manifestSchema>;

const tsconfigSchema = z.object({
  compilerOptions: z
    .object({
      rootDir: z.string().optional(),
      outDir: z.string().optional(),
      composite: z.boolean().optional(),
      tsBuildInfoFile: z.string().optional(),
      customConditions: z.array(z.string()).optional(),
    })
    .optional(),
  include: z.array(z.string()).optional(),
  files: z.array(z.string()).optional(),
  references: z.array(z.object({ path: z.string() })).optional(),
});

/** One tsc project a package's build runs: sources under rootDir emitted to outDir. */
interface BuildProject {
  readonly config: string;
  readonly rootDir: string;
  readonly outDir: string;
  readonly tsBuildInfoFile: string | undefined;
  readonly customConditions: readonly string[] | undefined;
}

const PACKAGES = readdirSync(join(REPO_ROOT, "packages")).filter((d) =>
  existsSync(join(REPO_ROOT, "packages", d, "package.json")),
);

function manifestOf(dir: string): Manifest {
  const raw: unknown = JSON.parse(
    readFileSync(join(REPO_ROOT, "packages", dir, "package.json"), "utf8"),
  );
  return manifestSchema.parse(raw);
}

/** The projects `tsc -b <pkg>/tsconfig.build.json` builds inside the package (a solution's too). */
function buildProjects(dir: string, config = "tsconfig.build.json"): BuildProject[] {
  const pkg = join(REPO_ROOT, "packages", dir);
  const file = resolve(pkg, config);
  const raw: unknown = JSON.parse(readFileSync(file, "utf8"));
  const c = tsconfigSchema.parse(raw);
  const own = (c.references ?? [])
    .map((r) => resolve(dirname(file), r.path))
    .filter((p) => dirname(p) === pkg)
    .flatMap((p) => buildProjects(dir, relative(pkg, p)));
  const o = c.compilerOptions;
  if (o?.rootDir === undefined || o.outDir === undefined) return own;
  return [
    {
      config: relative(pkg, file),
      rootDir: resolve(dirname(file), o.rootDir),
      outDir: resolve(dirname(file), o.outDir),
      tsBuildInfoFile:
        o.tsBuildInfoFile === undefined ? undefined : resolve(dirname(file), o.tsBuildInfoFile),
      customConditions: o.customConditions,
    },
    ...own,
  ];
}

/** Where tsc emits `source` (a .ts under some project's rootDir), with `ext` for `.ts`. */
function emitted(projects: readonly BuildProject[], source: string, ext: string): string | null {
  const p = projects.find((q) => !relative(q.rootDir, source).startsWith(".."));
  return p === undefined ? null : join(p.outDir, relative(p.rootDir, source)).replace(/\.ts$/, ext);
}

describe.each(PACKAGES)("package %s as published", (dir) => {
  const pkg = join(REPO_ROOT, "packages", dir);
  const m = manifestOf(dir);

  it("states what a registry shows: repository, keywords, engines and a README", () => {
    expect(m.repository.directory).toBe(`packages/${dir}`);
    expect(m.engines.node).toBe(">=20.19");
    expect(m.license).toBe("MIT");
    expect(existsSync(join(pkg, "README.md"))).toBe(true);
  });

  it("packs dist only, without tsc's build info", () => {
    expect(m.files).toEqual(["dist", "!dist/*.tsbuildinfo"]);
    for (const p of buildProjects(dir)) {
      // tsc -b reads the build info to decide a project is current: kept in
      // dist, `rm -rf dist` forces a rebuild; the files negation keeps it out.
      expect(p.tsBuildInfoFile, p.config).toBeDefined();
      expect(dirname(p.tsBuildInfoFile ?? ""), p.config).toBe(join(pkg, "dist"));
      expect(p.tsBuildInfoFile?.endsWith(".tsbuildinfo"), p.config).toBe(true);
    }
  });

  it("builds with prepack, so `pnpm pack` on a fresh clone has a dist", () => {
    expect(m.scripts["build"]).toMatch(/^tsc -b tsconfig\.build\.json\b/);
    expect(m.scripts["prepack"]).toBe("pnpm run build");
  });

  it("exports types then default from dist, and the source condition from the sources", () => {
    expect(Object.keys(m.exports)).toContain(".");
    for (const [subpath, entry] of Object.entries(m.exports)) {
      expect(Object.keys(entry), subpath).toEqual([SOURCE_CONDITION, "types", "default"]);
      expect(entry["types"], subpath).toMatch(/^\.\/dist\/.*\.d\.ts$/);
      expect(entry["default"], subpath).toMatch(/^\.\/dist\/.*\.js$/);
      expect(existsSync(join(pkg, entry[SOURCE_CONDITION] ?? "")), subpath).toBe(true);
    }
  });

  it("is built by tsc to exactly the files its exports name", () => {
    const projects = buildProjects(dir);
    expect(projects.length).toBeGreaterThan(0);
    for (const p of projects) {
      // Packages resolve each other through their dist types when built.
      expect(p.customConditions, p.config).toEqual([]);
      expect(relative(join(pkg, "dist"), p.outDir).startsWith(".."), p.config).toBe(false);
    }
    for (const [subpath, entry] of Object.entries(m.exports)) {
      const source = join(pkg, entry[SOURCE_CONDITION] ?? "");
      expect(emitted(projects, source, ".js"), subpath).toBe(join(pkg, entry["default"] ?? ""));
      expect(emitted(projects, source, ".d.ts"), subpath).toBe(join(pkg, entry["types"] ?? ""));
    }
    expect(m.exports["."]?.["default"]).toBe("./dist/index.js");
  });

  it("depends on its sibling packages through workspace ranges, which pack rewrites", () => {
    for (const [name, range] of Object.entries(m.dependencies ?? {}))
      if (name.startsWith("@dmabuf-ref/")) expect(range, name).toBe("workspace:*");
  });
});

describe("the dmabuf-ref bin", () => {
  const cli = manifestOf("cli");
  const projects = buildProjects("cli");

  it("is dist/main.js, emitted from a main.ts that starts with a node shebang", () => {
    const bin = cli.bin?.["dmabuf-ref"];
    expect(bin).toBe("./dist/main.js");
    const main = join(REPO_ROOT, "packages/cli/src/main.ts");
    expect(emitted(projects, main, ".js")).toBe(join(REPO_ROOT, "packages/cli", bin ?? ""));
    expect(readFileSync(main, "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
  });

  it("bundles the repository's rfc/ at dist/data/rfc, where an installed copy looks", () => {
    const build = cli.scripts["build"] ?? "";
    expect(build).toContain("pnpm run bundle-data");
    expect(cli.scripts["bundle-data"]).toContain("fs.cpSync('../../rfc','dist/data/rfc'");
  });
});

describe("locateRfcDir", () => {
  const scratch = mkdtempSync(join(tmpdir(), "dmabuf-ref-rfc-dir-"));
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it("a checkout's CLI reads the repository's rfc/, whether run from src or dist", () => {
    expect(RFC_DIR).toBe(join(REPO_ROOT, "rfc"));
    expect(locateRfcDir(join(REPO_ROOT, "packages/cli"))).toBe(join(REPO_ROOT, "rfc"));
  });

  it("an installed CLI reads its bundled copy, even with an rfc/ two folders up", () => {
    const installed = join(scratch, "node_modules/@dmabuf-ref/cli");
    mkdirSync(installed, { recursive: true });
    mkdirSync(join(scratch, "node_modules/rfc"), { recursive: true });
    expect(locateRfcDir(installed)).toBe(join(installed, "dist/data/rfc"));
  });

  it("an unpacked CLI outside any checkout reads its bundled copy", () => {
    const unpacked = join(scratch, "unpacked/package");
    mkdirSync(unpacked, { recursive: true });
    expect(locateRfcDir(unpacked)).toBe(join(unpacked, "dist/data/rfc"));
  });
});

describe("the root scripts", () => {
  const raw: unknown = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
  const scripts = z.object({ scripts: z.record(z.string(), z.string()) }).parse(raw).scripts;

  it("build every package with one tsc -b and bundle the CLI's data", () => {
    expect(scripts["build"]).toMatch(/^tsc -b packages\/\*\/tsconfig\.build\.json && /);
    expect(scripts["build"]).toContain("bundle-data");
  });

  it("run the pack check in the test command's last phase", () => {
    expect(scripts["pack-check"]).toBe("node scripts/pack-check.mjs");
    expect(scripts["test"]).toBe("node scripts/test.mjs");
    const runner = readFileSync(join(REPO_ROOT, "scripts/test.mjs"), "utf8");
    const phases = runner.slice(runner.indexOf("const PHASES"), runner.indexOf("];\n\n"));
    expect(phases.lastIndexOf('script: "pack-check"')).toBeGreaterThan(
      phases.lastIndexOf('script: "unit"'),
    );
  });

  it("give the pack check a consumer test that must pass and one that must fail naming a rule", () => {
    const dir = join(REPO_ROOT, "scripts/pack-consumer");
    const files = readdirSync(dir);
    expect(files.some((f) => f.endsWith(".passes.test.mjs"))).toBe(true);
    const failing = files.filter((f) => f.endsWith(".fails.test.mjs"));
    expect(failing.length).toBeGreaterThan(0);
    for (const f of failing)
      expect(readFileSync(join(dir, f), "utf8"), f).toMatch(
        /^\/\/ pack-check: must fail naming "[^"]+"/m,
      );
  });
});

describe("the package READMEs' examples", () => {
  // Run like the root README's (readme.test.ts), from a folder of the CLI's
  // tests so the packages resolve; contracts' example needs a test runner
  // and a driver of the reader's own, so it is only shown.
  const dir = join(REPO_ROOT, "packages/cli/test/.package-readme-blocks");
  const blocks = ["core", "exporters", "importers"].flatMap((pkg) =>
    [
      ...readFileSync(join(REPO_ROOT, "packages", pkg, "README.md"), "utf8").matchAll(
        /```ts\n([\s\S]*?)```/g,
      ),
    ].map((match, i) => [`${pkg} block ${i}`, match[1] ?? ""] as const),
  );
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(blocks)("%s runs and prints", async (name, code) => {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name.replaceAll(" ", "-")}.ts`);
    writeFileSync(file, code);
    let printed = "";
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      printed += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
      return true;
    });
    const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      printed += `${args.map((a) => JSON.stringify(a)).join(" ")}\n`;
    });
    try {
      await import(file);
    } finally {
      write.mockRestore();
      log.mockRestore();
    }
    expect(printed.length, name).toBeGreaterThan(0);
  });
});
