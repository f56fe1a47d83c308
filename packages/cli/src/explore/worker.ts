/*
 * One worker of `dmabuf-ref explore --workers W` (see parallel.ts): it loads
 * the scenario itself, rebuilds the frontier states it was given from their
 * paths, and searches breadth-first in step with the other workers through
 * the shared visited set, expanding the states it claims; it reports, for
 * each expectation, the first deciding state it saw and its level.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import { judge, loadScenario, readScenarioFile } from "./explore.js";
import { loadPlugins } from "../io/load-plugin.js";
import type { PluginSet } from "../io/load-plugin.js";
import type { ExploreState } from "./threads.js";
import { SharedVisited } from "./shared-visited.js";
import type { SharedVisitedBuffers } from "./shared-visited.js";

/** What the main thread sends a worker. */
export interface WorkerTask {
  /** The scenario file. */
  readonly path: string;
  /** `--profile`, if given. */
  readonly profile?: string;
  /** The `--load` modules (file URLs), loaded before the scenario. */
  readonly load?: readonly string[];
  /** This worker's index, 0 .. workers-1. */
  readonly worker: number;
  /** The number of workers. */
  readonly workers: number;
  /** The frontier states this worker starts from: their label paths from the start and slots. */
  readonly roots: readonly { readonly path: readonly number[]; readonly slot: number }[];
  /** The shared visited set. */
  readonly visited: SharedVisitedBuffers;
  /** Stop once this many states are stored (all workers together). */
  readonly maxStates?: number;
  /** Expand nothing this many levels below the roots. */
  readonly maxDepth?: number;
  /** Where to send the result. */
  readonly port: MessagePort;
  /** Raised (Atomics) when the result is posted. */
  readonly signal: Int32Array;
}

/** What a worker sends back. */
export interface WorkerResult {
  /** For each expectation, the first deciding state this worker saw: level below the roots and slot. */
  readonly decided: readonly ({ readonly level: number; readonly slot: number } | null)[];
  /** Transitions it took. */
  readonly transitions: number;
  /** Terminal states it expanded. */
  readonly terminals: number;
  /** The deepest level below the roots it expanded. */
  readonly depth: number;
  /** False when a bound or a full table stopped the search. */
  readonly complete: boolean;
  /** A thrown error's message, if the worker failed. */
  readonly error?: string;
}

function run(task: WorkerTask, plugins: PluginSet): WorkerResult {
  const loaded = loadScenario(readScenarioFile(task.path), {
    path: task.path,
    plugins,
    ...(task.profile === undefined ? {} : { profile: task.profile }),
  });
  const { space, conditions } = loaded;
  const visited = new SharedVisited(task.visited);
  let frontier = task.roots.map((r) => ({
    s: r.path.reduce<ExploreState>(
      (st, label) => space.successors(st)[label] as ExploreState,
      space.initial,
    ),
    slot: r.slot,
  }));
  const decided: ({ level: number; slot: number } | null)[] = conditions.map(() => null);
  const ids: (number | undefined)[] = conditions.map(() => undefined);
  const fp = new Uint32Array(2);
  let transitions = 0;
  let terminals = 0;
  let level = 0;
  let complete = true;
  for (;;) {
    if (level >= (task.maxDepth ?? Number.POSITIVE_INFINITY)) {
      complete = false;
      break;
    }
    const next: { s: ExploreState; slot: number }[] = [];
    for (const { s, slot } of frontier) {
      const succ = space.successors(s);
      if (succ.length === 0) terminals++;
      judge(conditions, space, s, slot, succ.length === 0, ids);
      ids.forEach((id, i) => {
        if (id !== undefined && decided[i] === null) decided[i] = { level, slot: id };
      });
      transitions += succ.length;
      succ.forEach((t, label) => {
        space.fingerprint(t, fp);
        const claimed = visited.claim(fp[0] ?? 0, fp[1] ?? 0, slot, label);
        if (claimed >= 0) next.push({ s: t, slot: claimed });
      });
    }
    const over = visited.full || visited.size >= (task.maxStates ?? Number.POSITIVE_INFINITY);
    const all = visited.barrier(level, task.worker, task.workers, next.length, over);
    if (all.next === 0) break;
    if (all.stop) {
      complete = false;
      break;
    }
    frontier = next;
    level++;
  }
  return { decided, transitions, terminals, depth: level, complete };
}

if (parentPort !== null) {
  const task = workerData as WorkerTask;
  let result: WorkerResult;
  try {
    result = run(task, await loadPlugins(task.load ?? []));
  } catch (e) {
    result = {
      decided: [],
      transitions: 0,
      terminals: 0,
      depth: 0,
      complete: false,
      error: e instanceof Error ? e.message : String(e),
    };
  }
  task.port.postMessage(result);
  Atomics.add(task.signal, 0, 1);
  Atomics.notify(task.signal, 0);
}
