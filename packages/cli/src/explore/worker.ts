/*
 * One worker of `dmabuf-ref explore --workers W` (see parallel.ts): it loads
 * the scenario itself, rebuilds the frontier states it was given from their
 * paths, searches breadth-first from them, and reports, for each
 * expectation, the shortest deciding path it found, with its counts and the
 * fingerprints of every state it saw.
 */
import { breadthFirst } from "@dmabuf-ref/core";
import { parentPort, workerData } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import { judge, loadScenario, readScenarioFile } from "./explore.js";
import type { ExploreState } from "./threads.js";

/** What the main thread sends a worker. */
export interface WorkerTask {
  /** The scenario file. */
  readonly path: string;
  /** `--profile`, if given. */
  readonly profile?: string;
  /** The frontier states this worker starts from, as label paths from the start. */
  readonly roots: readonly (readonly number[])[];
  /** Stop after this many states (this worker's share of `--max-states`). */
  readonly maxStates?: number;
  /** Expand nothing deeper than this below the roots. */
  readonly maxDepth?: number;
  /** Where to send the result. */
  readonly port: MessagePort;
  /** Raised (Atomics) when the result is posted. */
  readonly signal: Int32Array;
}

/** What a worker sends back. */
export interface WorkerResult {
  /** For each expectation, the shortest deciding path from the start, or null. */
  readonly decided: readonly (readonly number[] | null)[];
  /** States this worker found (some may also be another worker's). */
  readonly states: number;
  /** Transitions it took. */
  readonly transitions: number;
  /** Terminal states it found. */
  readonly terminals: number;
  /** The deepest level below its roots. */
  readonly depth: number;
  /** False when a bound stopped it. */
  readonly complete: boolean;
  /** The fingerprints of its states, (high, low) pairs. */
  readonly fingerprints: Uint32Array;
  /** A thrown error's message, if the worker failed. */
  readonly error?: string;
}

function run(task: WorkerTask): WorkerResult {
  const loaded = loadScenario(readScenarioFile(task.path), {
    path: task.path,
    ...(task.profile === undefined ? {} : { profile: task.profile }),
  });
  const { space, conditions } = loaded;
  const roots = task.roots.map((path) =>
    path.reduce<ExploreState>(
      (s, label) => space.successors(s)[label] as ExploreState,
      space.initial,
    ),
  );
  const decidedIds: (number | undefined)[] = conditions.map(() => undefined);
  const stats = breadthFirst(
    space,
    (state, id, terminal) => {
      judge(conditions, space, state, id, terminal, decidedIds);
    },
    {
      ...(task.maxStates === undefined ? {} : { maxStates: task.maxStates }),
      ...(task.maxDepth === undefined ? {} : { maxDepth: task.maxDepth }),
    },
    { roots },
  );
  return {
    decided: decidedIds.map((id) =>
      id === undefined
        ? null
        : [...(task.roots[stats.tree.rootOf(id)] ?? []), ...stats.tree.pathTo(id)],
    ),
    states: stats.states,
    transitions: stats.transitions,
    terminals: stats.terminals,
    depth: stats.depth,
    complete: stats.complete,
    fingerprints: stats.fingerprints(),
  };
}

if (parentPort !== null) {
  const task = workerData as WorkerTask;
  let result: WorkerResult;
  try {
    result = run(task);
  } catch (e) {
    result = {
      decided: [],
      states: 0,
      transitions: 0,
      terminals: 0,
      depth: 0,
      complete: false,
      fingerprints: new Uint32Array(0),
      error: e instanceof Error ? e.message : String(e),
    };
  }
  task.port.postMessage(result, [result.fingerprints.buffer as ArrayBuffer]);
  Atomics.add(task.signal, 0, 1);
  Atomics.notify(task.signal, 0);
}
