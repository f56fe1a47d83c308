/*
 * Issue 14, the surface a maintainer touches: `--version`, and output
 * piped into a reader that stops early (`dmabuf-ref --help | head -1`)
 * ends quietly instead of dying on EPIPE.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, runCli } from "./run-cli.js";

const CLI_PACKAGE = JSON.parse(
  readFileSync(join(REPO_ROOT, "packages/cli/package.json"), "utf8"),
) as { version: string };

describe("dmabuf-ref --version", () => {
  it("prints the CLI package's version and exits 0", () => {
    const r = runCli("--version");
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(CLI_PACKAGE.version);
  });
});

describe("output into a closed pipe", () => {
  it("dmabuf-ref --help piped into a reader that has gone ends quietly, exit 0", async () => {
    const child = spawn(
      process.execPath,
      ["--conditions=@dmabuf-ref/source", "--import", "tsx", "packages/cli/src/main.ts", "--help"],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    // `| head -1` once head has exited: the pipe's read end is closed
    // before the command writes, so every write fails with EPIPE.
    child.stdout.destroy();
    const code = await new Promise<number | null>((done) => {
      child.on("close", (c) => {
        done(c);
      });
    });
    expect(stderr).not.toContain("EPIPE");
    expect(code).toBe(0);
  });
});

describe("dmabuf-ref scenario: every option it takes is honoured, the rest is an error", () => {
  it("scenario NAME --json prints the run and verdicts as JSON (the short form of --format json)", () => {
    const r = runCli("scenario", "flr-without-unmap", "--json");
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { scenario: string; profile: string };
    expect(report.scenario).toBe("flr-without-unmap");
    expect(report.profile).toBe("linux-7.1");
    expect(runCli("scenario", "flr-without-unmap", "--format", "json").stdout).toBe(r.stdout);
  });

  it("scenario --list --format json is the list as JSON, as --list --json", () => {
    const r = runCli("scenario", "--list", "--format", "json");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(runCli("scenario", "--list", "--json").stdout);
    expect((JSON.parse(r.stdout) as unknown[]).length).toBeGreaterThan(20);
  });

  it.each([
    { args: ["scenario", "--list", "--profile", "linux-6.19"], says: "--profile applies" },
    { args: ["scenario", "--list", "--format", "mermaid"], says: "--format mermaid" },
    { args: ["scenario", "--list", "flr-without-unmap"], says: "--list takes no NAME" },
    {
      args: ["scenario", "flr-without-unmap", "--json", "--format", "mermaid"],
      says: "contradict",
    },
    { args: ["scenario", "flr-without-unmap", "--no-such-option"], says: "unknown option" },
  ])("$args.1 $args.2 $args.3 is exit 2 naming the problem", ({ args, says }) => {
    const r = runCli(...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(says);
  });
});

describe("--format text|markdown|json on every command that prints a table or a report", () => {
  const NEGOTIATE = [
    "negotiate",
    "--profile",
    "rfc-mapping-types-v1",
    "--offers",
    "rfc/examples/vfio-offers-rfc.yaml",
    "--accepts",
    "rfc/examples/iommufd-accepts-rfc.yaml",
  ];
  it.each([
    { args: ["profiles"], header: "| profile | title |" },
    { args: ["matrix"], header: "| exporter | importer | result |" },
    {
      args: ["matrix", "--diff", "linux-6.19", "linux-7.1"],
      header: "| exporter | importer | linux-6.19 | linux-7.1 |",
    },
    { args: ["scenario", "--list"], header: "| scenario | profile | what it shows |" },
    { args: NEGOTIATE, header: "| offer | accept | outcome |" },
  ])("$args.0 $args.1 --format markdown prints a Markdown table", ({ args, header }) => {
    const r = runCli(...args, "--format", "markdown");
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(header);
    const rows = r.stdout.split("\n").filter((l) => l.startsWith("| "));
    expect(rows.length).toBeGreaterThan(1);
    // Every row has the header's number of columns (a `|` in a cell is escaped).
    const columns = (l: string): number => l.split(/(?<!\\)\|/).length;
    for (const row of rows) expect(columns(row)).toBe(columns(rows[0] ?? ""));
  });

  it.each([["profiles"], ["matrix"], ["scenario", "--list"], NEGOTIATE])(
    "%s: --format json is --json",
    (...args) => {
      expect(runCli(...args, "--format", "json").stdout).toBe(runCli(...args, "--json").stdout);
    },
  );

  it.each([
    { args: ["profiles", "--json", "--format", "markdown"], says: "contradict" },
    { args: ["matrix", "--format", "mermaid"], says: "mermaid" },
    { args: ["scenario", "flr-without-unmap", "--format", "markdown"], says: "markdown is for" },
    {
      args: ["matrix", "--diff", "linux-6.19", "linux-7.1", "--profile", "linux-7.2"],
      says: "drop --profile",
    },
  ])(
    "$args.0 $args.1 $args.2 $args.3: an option the command cannot honour is exit 2",
    ({ args, says }) => {
      const r = runCli(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(says);
    },
  );
});
