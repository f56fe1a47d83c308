import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";
import { runCollected } from "../src/program.js";

/** The repository root, where a user runs `pnpm dmabuf-ref`. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** What a `dmabuf-ref` run printed and how it exited. */
export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `dmabuf-ref ARGS` in this process through the same entry point
 * `main.ts` calls (`runCliSync`), collecting what it prints: the same
 * status and output as a spawned `dmabuf-ref` (the root script test in
 * uapi-command.test.ts runs one) without starting Node and transpiling the
 * sources for every command (seconds each). Relative paths
 * are the repository root's, where vitest runs.
 */
export function runCli(...args: string[]): CliRun {
  return runCollected(args);
}

/** Parses a command's JSON output, failing the test with the raw output if it is not JSON. */
export function json(run: CliRun): unknown {
  try {
    return JSON.parse(run.stdout) as unknown;
  } catch {
    throw new Error(`not JSON (status ${String(run.status)}):\n${run.stdout}\n${run.stderr}`);
  }
}
