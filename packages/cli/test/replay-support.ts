import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { runReplay } from "../src/commands/replay.js";
import type { ReplayResult, ReplayRun } from "../src/replay/run.js";
import { replayFileSchema } from "../src/replay/schema.js";
import { REPO_ROOT } from "./run-cli.js";

/**
 * Replays a file's text in-process, exactly as `dmabuf-ref replay` does
 * after reading it (a structural error throws the CLI's UsageError).
 */
export function replayText(yaml: string, profile?: string): ReplayRun {
  return runReplay(replayFileSchema.parse(parse(yaml, { intAsBigInt: false })), profile);
}

/** Replays one of rfc/replays/*.yaml. */
export function replayExample(name: string, profile?: string): ReplayRun {
  return replayText(readFileSync(join(REPO_ROOT, "rfc/replays", name), "utf8"), profile);
}

/** Each call's outcome: "ok", its errno, or "blocks" for a call that never returns. */
export function outcomes(run: ReplayRun): string[] {
  return run.results.map((r) => (r.ok ? "ok" : (r.errno ?? "blocks")));
}

/** The result of call `i`, failing the test when there is none. */
export function result(run: ReplayRun, i: number): ReplayResult {
  const r = run.results[i];
  if (r === undefined) throw new Error(`no result ${i} in ${run.results.length}`);
  return r;
}

/** The prelude most rules need: an IOAS (`ioas`) with dev1 attached (a domain). */
export const IOAS_WITH_DOMAIN = `
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - { event: attach, device: dev1, ioas: ioas.out_ioas_id }
`;
