/*
 * The scenario files the project ships (rfc/scenarios/*.yaml): what
 * `dmabuf-ref scenario --list` lists and `dmabuf-ref scenario NAME` runs.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { RFC_DIR } from "../rfc/rfc-dir.js";

/** `rfc/scenarios` (in a checkout or bundled). */
export const SCENARIOS_DIR = join(RFC_DIR, "scenarios");

/** One shipped scenario file. */
export interface ScenarioFileEntry {
  /** Its name (the file's, without `.yaml`). */
  readonly name: string;
  /** Its path. */
  readonly path: string;
}

/**
 * The shipped scenario files, by name.
 *
 * @returns the files, sorted by name.
 */
export function scenarioFiles(): ScenarioFileEntry[] {
  return readdirSync(SCENARIOS_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => ({ name: f.slice(0, -".yaml".length), path: join(SCENARIOS_DIR, f) }));
}
