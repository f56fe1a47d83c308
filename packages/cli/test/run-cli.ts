import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

/** The repository root, where a user runs `pnpm dmabuf-ref`. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** What a spawned `dmabuf-ref` printed and how it exited. */
export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `dmabuf-ref ARGS` as a separate process from the repository root,
 * exactly as the root `dmabuf-ref` script does (node + tsx on the sources).
 */
export function runCli(...args: string[]): CliRun {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@dmabuf-ref/source", "--import", "tsx", "packages/cli/src/main.ts", ...args],
    { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Parses a command's JSON output, failing the test with the raw output if it is not JSON. */
export function json(run: CliRun): unknown {
  try {
    return JSON.parse(run.stdout) as unknown;
  } catch {
    throw new Error(`not JSON (status ${String(run.status)}):\n${run.stdout}\n${run.stderr}`);
  }
}
