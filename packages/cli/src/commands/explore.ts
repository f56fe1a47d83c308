import { UsageError } from "../io/usage-error.js";
import {
  exploreExitCode,
  exploreScenario,
  inFile,
  loadScenario,
  readScenarioFile,
} from "../explore/explore.js";
import { exploreParallel } from "../explore/parallel.js";
import type { ExploreFormat } from "../explore/render.js";
import { renderExplore } from "../explore/render.js";
import { NO_PLUGINS } from "../io/load-plugin.js";
import type { PluginSet } from "../io/load-plugin.js";

/** The options of `dmabuf-ref explore FILE`. */
export interface ExploreOptions {
  /** `--profile`. */
  readonly profile?: string;
  /** `--max-states`. */
  readonly maxStates?: string;
  /** `--max-depth`. */
  readonly maxDepth?: string;
  /** `--workers`: worker threads (default 1: search in this thread). */
  readonly workers?: string;
  /** `--format`. */
  readonly format?: string;
  /** `--json`: the short form of `--format json`. */
  readonly json?: boolean;
}

const FORMATS: readonly ExploreFormat[] = ["text", "markdown", "mermaid", "json"];

function positive(v: string | undefined, option: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new UsageError(`${option} takes a positive integer, not "${v}"`);
  return Number(v);
}

/**
 * Runs `dmabuf-ref explore FILE`: every interleaving of the scenario's
 * threads, a verdict per expectation and a shortest witness where one
 * exists.
 *
 * @param file - the scenario file.
 * @param opts - the command's options.
 * @param progress - where a progress line goes (a TTY's stderr), if anywhere.
 * @param plugins - the `--load` plugins: their profiles, hardware and drivers.
 * @returns the output and exit status (0 all hold, 1 one fails, 3 a bound left one undecided).
 * @throws UsageError (exit 2) for a bad file or option.
 */
export function exploreCommand(
  file: string,
  opts: ExploreOptions,
  progress?: (line: string) => void,
  plugins: PluginSet = NO_PLUGINS,
): { output: string; exitCode: 0 | 1 | 3 } {
  const format = opts.json === true ? "json" : (opts.format ?? "text");
  if (!(FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format takes ${FORMATS.join(", ")}, not "${format}"`);
  if (opts.json === true && opts.format !== undefined && opts.format !== "json")
    throw new UsageError(`--json and --format ${opts.format} disagree`);
  const maxStates = positive(opts.maxStates, "--max-states");
  const maxDepth = positive(opts.maxDepth, "--max-depth");
  const workers = positive(opts.workers, "--workers") ?? 1;
  if (workers > 64) throw new UsageError(`--workers takes at most 64, not ${workers}`);
  const bounds = {
    ...(maxStates === undefined ? {} : { maxStates }),
    ...(maxDepth === undefined ? {} : { maxDepth }),
    ...(progress === undefined
      ? {}
      : {
          progress: (p: { states: number; depth: number; seconds: number }) => {
            const rate = p.seconds > 0 ? Math.round(p.states / p.seconds) : 0;
            progress(`\r${p.states} states, depth ${p.depth}, ${rate} states/s`);
          },
        }),
  };
  const loaded = loadScenario(readScenarioFile(file), {
    path: file,
    plugins,
    ...(opts.profile === undefined ? {} : { profile: opts.profile }),
  });
  const report =
    workers > 1
      ? inFile(loaded, () =>
          exploreParallel(loaded, file, opts.profile, workers, bounds, plugins.modules),
        )
      : exploreScenario(loaded, bounds);
  if (progress !== undefined) progress("\r\x1b[K");
  return {
    output: renderExplore(report, format as ExploreFormat),
    exitCode: exploreExitCode(report),
  };
}
