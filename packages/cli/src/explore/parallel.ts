/*
 * `dmabuf-ref explore --workers W`: the breadth-first search split over
 * worker threads. The main thread searches the first levels until the
 * frontier is wide enough and deals the frontier out; then the workers go
 * level by level together through one visited set on shared memory
 * (shared-visited.ts): a state is expanded by the worker that claimed it
 * first, once, at its shortest depth. So every state is judged once, the
 * first level any worker decides an expectation at gives a shortest
 * witness, and the states counted are the table's.
 */
import { breadthFirst } from "@dmabuf-ref/core";
import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import type {
  ExpectationVerdict,
  ExploreBounds,
  ExploreReport,
  LoadedScenario,
} from "./explore.js";
import { judge, witnessOf } from "./explore.js";
import type { ExploreState } from "./threads.js";
import type { WorkerResult, WorkerTask } from "./worker.js";
import { PREFIX_PARENT, SharedVisited } from "./shared-visited.js";

/** Frontier states per worker the main thread waits for before it splits. */
const SPLIT = 16;

function workerUrl(): URL {
  // Run from the sources (tsx) the worker is a .ts file; built, a .js file.
  const own = import.meta.url;
  return new URL(own.endsWith(".ts") ? "./worker.ts" : "./worker.js", own);
}

/**
 * Starts a worker on `url`. From the sources, Node 20 does not apply the
 * parent's `--import tsx` hooks to a worker, so a small bootstrap registers
 * tsx in the worker first and then imports the TypeScript module.
 */
function startWorker(url: URL, task: WorkerTask, transfer: MessagePort): Worker {
  const execArgv = process.execArgv.filter(
    (a, i, all) =>
      !(a === "--import" && all[i + 1] === "tsx") && !(a === "tsx" && all[i - 1] === "--import"),
  );
  if (!url.pathname.endsWith(".ts"))
    return new Worker(url, { workerData: task, transferList: [transfer], execArgv });
  if (!execArgv.some((a) => a.includes("@dmabuf-ref/source")))
    execArgv.push("--conditions=@dmabuf-ref/source");
  const boot =
    `import("tsx/esm/api").then((tsx) => { tsx.register(); ` +
    `return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData: task, transferList: [transfer], execArgv });
}

/**
 * Explores a loaded scenario over `workers` threads (see the file comment).
 *
 * @param s - the loaded scenario (the main thread's copy).
 * @param path - its file, which each worker loads itself.
 * @param profile - `--profile`, if given.
 * @param workers - the number of worker threads, at least 2.
 * @param bounds - `--max-states` (split evenly) and `--max-depth`.
 * @param load - the `--load` modules (file URLs), which each worker loads itself.
 * @returns the report, as {@link exploreScenario}'s.
 */
export function exploreParallel(
  s: LoadedScenario,
  path: string,
  profile: string | undefined,
  workers: number,
  bounds: ExploreBounds = {},
  load: readonly string[] = [],
): ExploreReport {
  const started = performance.now();
  const { space, conditions } = s;
  const maxDepth = bounds.maxDepth ?? s.file.bounds?.maxDepth;
  const maxStates = bounds.maxStates ?? s.file.bounds?.maxStates;
  const decided: (readonly number[] | null)[] = conditions.map(() => null);

  // 1. The first levels, in this thread, until the frontier is wide enough.
  let split = 1;
  let frontier: { s: ExploreState; id: number }[];
  let prefix: ReturnType<typeof breadthFirst<ExploreState>>;
  for (;;) {
    const level: { s: ExploreState; id: number }[] = [];
    const found: (number | undefined)[] = conditions.map(() => undefined);
    prefix = breadthFirst(
      space,
      (state, id, terminal) => {
        judge(conditions, space, state, id, terminal, found);
      },
      { maxDepth: Math.min(split, maxDepth ?? Number.POSITIVE_INFINITY) },
      { unexpanded: (st, id) => level.push({ s: st, id }) },
    );
    found.forEach((id, i) => (decided[i] = id === undefined ? null : prefix.tree.pathTo(id)));
    frontier = level;
    if (prefix.complete || frontier.length >= SPLIT * workers || split >= (maxDepth ?? Infinity))
      break;
    split++;
  }

  // 2. The shared visited set: every state the prefix found (the frontier as
  // roots, the rest never expanded again), then the workers, level by level.
  const results: WorkerResult[] = [];
  const rootPaths = frontier.map((f) => prefix.tree.pathTo(f.id));
  let states = prefix.states;
  let visited: SharedVisited | undefined;
  if (frontier.length > 0 && split < (maxDepth ?? Number.POSITIVE_INFINITY)) {
    let capacity = 1 << 16;
    const want = Math.min(maxStates ?? 1 << 22, 1 << 26);
    while (capacity < want * 2) capacity *= 2;
    visited = new SharedVisited(SharedVisited.allocate(capacity, workers));
    const fp = new Uint32Array(2);
    const rootSlot = new Map<number, number>();
    frontier.forEach((f, r) => {
      space.fingerprint(f.s, fp);
      rootSlot.set(f.id, visited?.claim(fp[0] ?? 0, fp[1] ?? 0, -1 - r, -1) ?? -1);
    });
    const words = prefix.fingerprints();
    for (let k = 0; k + 1 < words.length; k += 2)
      visited.claim(words[k] ?? 0, words[k + 1] ?? 0, PREFIX_PARENT, -1);
    const shares: { path: number[]; slot: number }[][] = Array.from({ length: workers }, () => []);
    frontier.forEach((f, r) => {
      shares[r % workers]?.push({ path: rootPaths[r] ?? [], slot: rootSlot.get(f.id) ?? -1 });
    });
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const url = workerUrl();
    const running = shares.map((roots, worker) => {
      const { port1, port2 } = new MessageChannel();
      const task: WorkerTask = {
        path,
        worker,
        workers,
        roots,
        visited: (visited as SharedVisited).buffers,
        port: port2,
        signal,
        ...(profile === undefined ? {} : { profile }),
        ...(load.length === 0 ? {} : { load }),
        ...(maxStates === undefined ? {} : { maxStates }),
        ...(maxDepth === undefined ? {} : { maxDepth: maxDepth - split }),
      };
      return { worker: startWorker(url, task, port2), port: port1 };
    });
    // The CLI is synchronous: wait on the shared counter, then read the ports.
    while (Atomics.load(signal, 0) < running.length)
      Atomics.wait(signal, 0, Atomics.load(signal, 0), 1000);
    for (const r of running) {
      const m = receiveMessageOnPort(r.port);
      void r.worker.terminate();
      r.port.close();
      const result = m?.message as WorkerResult | undefined;
      if (result === undefined) throw new Error("explore: a worker sent no result");
      if (result.error !== undefined) throw new Error(`explore: a worker failed: ${result.error}`);
      results.push(result);
    }
    states = visited.size;
  }

  // 3. Witnesses: the first level any worker decided at is the shortest.
  conditions.forEach((_, i) => {
    if (decided[i] !== null || visited === undefined) return;
    let best: { level: number; slot: number } | null = null;
    for (const r of results) {
      const d = r.decided[i];
      if (d !== null && d !== undefined && (best === null || d.level < best.level)) best = d;
    }
    if (best === null) return;
    const below = visited.pathTo(best.slot);
    decided[i] = [...(rootPaths[below.root] ?? []), ...below.labels];
  });
  const complete = prefix.complete || (results.length > 0 && results.every((r) => r.complete));
  const expectations = conditions.map((c, i): ExpectationVerdict => {
    const p = decided[i];
    if (p === null || p === undefined)
      return { kind: c.kind, expr: c.expr, holds: complete ? c.kind === "forall" : null };
    return { kind: c.kind, expr: c.expr, holds: c.kind === "exists", ...witnessOf(space, p) };
  });
  return {
    scenario: s.file.name,
    profile: s.profile.id,
    complete,
    states,
    transitions: prefix.transitions + results.reduce((a, r) => a + r.transitions, 0),
    depth: Math.max(prefix.depth, ...results.map((r) => split + r.depth)),
    seconds: (performance.now() - started) / 1000,
    terminals: prefix.terminals + results.reduce((a, r) => a + r.terminals, 0),
    initFailures: s.initFailures,
    reductions: [
      ...space.symmetric.map(
        (g) => `thread symmetry {${g.map((i) => space.threads[i]?.name ?? "").join(", ")}}`,
      ),
      ...(results.length === 0
        ? []
        : [
            `${results.length} workers sharing one visited set from ${frontier.length} ` +
              `states at depth ${split}`,
          ]),
    ],
    expectations,
  };
}
