/*
 * `dmabuf-ref explore --workers W`: the breadth-first search split over
 * worker threads. The main thread searches the first levels until the
 * frontier is wide enough, partitions the frontier by fingerprint (each
 * state to worker `hash % W`), and each worker searches breadth-first from
 * its share with its own visited set. Every run from the start passes
 * through exactly one frontier state (or ends before it, where the main
 * thread judged it), so every terminal state is judged; the shortest
 * witness is the shortest over the workers; the distinct states are
 * counted from the union of the workers' fingerprints. A state reachable
 * from two workers' frontiers is searched by both: the price of not
 * sharing one visited set across threads.
 */
import { FingerprintSet, breadthFirst } from "@dmabuf-ref/core";
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
 * @returns the report, as {@link exploreScenario}'s.
 */
export function exploreParallel(
  s: LoadedScenario,
  path: string,
  profile: string | undefined,
  workers: number,
  bounds: ExploreBounds = {},
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

  // 2. The frontier, partitioned by fingerprint, searched by the workers.
  const results: WorkerResult[] = [];
  if (frontier.length > 0 && split < (maxDepth ?? Number.POSITIVE_INFINITY)) {
    const shares: number[][][] = Array.from({ length: workers }, () => []);
    const fp = new Uint32Array(2);
    for (const f of frontier) {
      space.fingerprint(f.s, fp);
      shares[(fp[1] ?? 0) % workers]?.push(prefix.tree.pathTo(f.id));
    }
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const url = workerUrl();
    const running = shares
      .filter((roots) => roots.length > 0)
      .map((roots) => {
        const { port1, port2 } = new MessageChannel();
        const task: WorkerTask = {
          path,
          roots,
          port: port2,
          signal,
          ...(profile === undefined ? {} : { profile }),
          ...(maxStates === undefined ? {} : { maxStates: Math.ceil(maxStates / workers) }),
          ...(maxDepth === undefined ? {} : { maxDepth: maxDepth - split }),
        };
        const worker = startWorker(url, task, port2);
        return { worker, port: port1 };
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
  }

  // 3. The union: shortest witnesses, distinct states, summed work.
  for (const r of results) {
    r.decided.forEach((p, i) => {
      const best = decided[i];
      if (p !== null && (best === null || best === undefined || p.length < best.length))
        decided[i] = p;
    });
  }
  const union = new FingerprintSet();
  let n = 0;
  const add = (words: Uint32Array): void => {
    for (let k = 0; k + 1 < words.length; k += 2) {
      if (union.intern(words[k] ?? 0, words[k + 1] ?? 0, n) === n) n++;
    }
  };
  add(prefix.fingerprints());
  for (const r of results) add(r.fingerprints);
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
    states: n,
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
        : [`${results.length} workers from ${frontier.length} states at depth ${split}`]),
    ],
    expectations,
  };
}
