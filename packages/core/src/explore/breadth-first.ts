import { FingerprintSet, IntColumn } from "./fingerprint-set.js";

/**
 * What the explorer searches (DESIGN §3.9): a start state, the transitions
 * enabled in a state in a fixed order, and a 64-bit fingerprint that
 * identifies a state up to what no future transition can tell apart. A
 * scenario's interleavings, the reference revoke protocol and a contract
 * suite's driver under test are all searched through this one interface.
 *
 * @typeParam S - a state (for a scenario: the world plus each thread's position).
 *
 * @category Exploration
 */
export interface SearchSpace<S> {
  /** The state the search starts from. */
  readonly initial: S;
  /**
   * The states one transition away, in a fixed order: a transition's label
   * is its index here, so a path of labels names a run.
   *
   * @param s - a state.
   */
  successors(s: S): readonly S[];
  /**
   * Writes the state's fingerprint: `out[0]` the high 32 bits, `out[1]` the low.
   *
   * @param s - a state.
   * @param out - two words.
   */
  fingerprint(s: S, out: Uint32Array): void;
}

/**
 * Where a search may stop before it has seen every state.
 *
 * @category Exploration
 */
export interface SearchBounds {
  /** Stop once this many distinct states are known. Absent: no bound. */
  readonly maxStates?: number;
  /** Expand no state this many transitions from the start. Absent: no bound. */
  readonly maxDepth?: number;
  /**
   * Called about every 4096 expansions (a progress line).
   *
   * @param p - the counts so far.
   */
  readonly progress?: (p: { states: number; depth: number; seconds: number }) => void;
}

/**
 * Where a search starts and what it hands back unexpanded (a parallel search's split).
 *
 * @category Exploration
 */
export interface SearchStart<S> {
  /**
   * The states to start from, all at depth 0 (default: `space.initial`). A
   * state's path ({@link SearchTree.pathTo}) starts at its root
   * ({@link SearchTree.rootOf}).
   */
  readonly roots?: readonly S[];
  /**
   * Receives each state `maxDepth` left unexpanded, with its number.
   *
   * @param s - the state.
   * @param id - its number.
   */
  readonly unexpanded?: (s: S, id: number) => void;
}

/**
 * The parent links of a search: every state's first-found predecessor and the label taken.
 *
 * @category Exploration
 */
export interface SearchTree {
  /**
   * The labels from the start to a state: the shortest run reaching it.
   *
   * @param id - a state number.
   * @returns the successor indices, in order.
   */
  pathTo(id: number): number[];
  /**
   * The root a state's path starts from.
   *
   * @param id - a state number.
   * @returns the index of the root in the search's roots.
   */
  rootOf(id: number): number;
}

/**
 * What a breadth-first search did.
 *
 * @category Exploration
 */
export interface SearchStats {
  /** Distinct states found (the start included). */
  readonly states: number;
  /** Transitions taken (to new or known states). */
  readonly transitions: number;
  /** The deepest level expanded. */
  readonly depth: number;
  /** States with no transition enabled. */
  readonly terminals: number;
  /** False when a bound stopped the search with states left to expand. */
  readonly complete: boolean;
  /** Wall-clock seconds. */
  readonly seconds: number;
  /** Bytes of the visited set and the parent links (the frontier's states not counted). */
  readonly bytes: number;
  /** The parent links, to rebuild any state's shortest run. */
  readonly tree: SearchTree;
  /**
   * The fingerprints of every state found, as (high, low) pairs: to count
   * the distinct states of several searches together.
   *
   * @returns a fresh array of 2 x states words.
   */
  fingerprints(): Uint32Array;
}

/**
 * Breadth-first search over fingerprints: every state is expanded once, in
 * order of its distance from the start, so the first state found with a
 * property is one a shortest run reaches. Only the frontier keeps whole
 * states; the visited set keeps 64-bit fingerprints and parent links on
 * typed arrays.
 *
 * @typeParam S - the state.
 * @param space - what is searched.
 * @param visit - called once per expanded state, with whether no transition is
 *   enabled in it (a terminal state) and its successors.
 * @param bounds - optional limits.
 * @param start - other roots, and where the states a depth bound left go.
 * @returns the counts and the parent links.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { breadthFirst } from "@dmabuf-ref/core";
 * import type { SearchSpace } from "@dmabuf-ref/core";
 *
 * // Two threads of two steps each (a revoke task and an importer's unmap):
 * // a state is how far each got; every interleaving is searched.
 * type S = readonly [number, number];
 * const space: SearchSpace<S> = {
 *   initial: [0, 0],
 *   successors: ([a, b]) => [
 *     ...(a < 2 ? [[a + 1, b] as const] : []),
 *     ...(b < 2 ? [[a, b + 1] as const] : []),
 *   ],
 *   fingerprint: ([a, b], out) => out.set([a, b]),
 * };
 * const ends: number[] = [];
 * const stats = breadthFirst(space, (_s, id, terminal) => {
 *   if (terminal) ends.push(id);
 * });
 * assert.equal(stats.states, 9);
 * assert.equal(stats.complete, true);
 * assert.equal(stats.terminals, 1);
 * // The shortest run to the end: four steps, each the index of a successor taken.
 * assert.deepEqual(stats.tree.pathTo(ends[0] ?? -1), [0, 0, 0, 0]);
 * ```
 * @category Exploration
 */
export function breadthFirst<S>(
  space: SearchSpace<S>,
  visit: (s: S, id: number, terminal: boolean) => void,
  bounds: SearchBounds = {},
  start: SearchStart<S> = {},
): SearchStats {
  const started = performance.now();
  const seen = new FingerprintSet();
  const parents = new IntColumn();
  const labels = new IntColumn();
  const fp = new Uint32Array(2);
  const maxStates = bounds.maxStates ?? Number.POSITIVE_INFINITY;
  const maxDepth = bounds.maxDepth ?? Number.POSITIVE_INFINITY;

  // The frontier as two parallel lists (states, their numbers), not an
  // object per state: the search holds a whole level of them.
  let frontier: S[] = [];
  let frontierIds: number[] = [];
  (start.roots ?? [space.initial]).forEach((root, r) => {
    space.fingerprint(root, fp);
    const fresh = parents.length;
    if (seen.intern(fp[0] ?? 0, fp[1] ?? 0, fresh) !== fresh) return;
    // A root's parent is -1 - its index among the roots.
    parents.push(-1 - r);
    labels.push(-1);
    frontier.push(root);
    frontierIds.push(fresh);
  });
  let depth = 0;
  let transitions = 0;
  let terminals = 0;
  let expanded = 0;
  let complete = true;

  search: while (frontier.length > 0) {
    if (depth >= maxDepth) {
      complete = false;
      frontier.forEach((f, k) => start.unexpanded?.(f, frontierIds[k] ?? -1));
      break;
    }
    const next: S[] = [];
    const nextIds: number[] = [];
    for (let f = 0; f < frontier.length; f++) {
      const s = frontier[f] as S;
      const id = frontierIds[f] as number;
      const succ = space.successors(s);
      visit(s, id, succ.length === 0);
      if (succ.length === 0) terminals++;
      transitions += succ.length;
      for (let label = 0; label < succ.length; label++) {
        const t = succ[label] as S;
        space.fingerprint(t, fp);
        const fresh = parents.length;
        if (seen.intern(fp[0] ?? 0, fp[1] ?? 0, fresh) !== fresh) continue;
        parents.push(id);
        labels.push(label);
        next.push(t);
        nextIds.push(fresh);
      }
      if (++expanded % 4096 === 0)
        bounds.progress?.({
          states: parents.length,
          depth,
          seconds: (performance.now() - started) / 1000,
        });
      if (parents.length >= maxStates && (f < frontier.length - 1 || next.length > 0)) {
        complete = false;
        break search;
      }
    }
    frontier = next;
    frontierIds = nextIds;
    if (frontier.length > 0) depth++;
  }
  return {
    states: parents.length,
    transitions,
    depth,
    terminals,
    complete,
    seconds: (performance.now() - started) / 1000,
    bytes: seen.bytes + parents.bytes + labels.bytes,
    tree: {
      pathTo(id: number): number[] {
        const path: number[] = [];
        for (let at = id; parents.at(at) >= 0; at = parents.at(at)) path.push(labels.at(at));
        return path.reverse();
      },
      rootOf(id: number): number {
        let at = id;
        while (parents.at(at) >= 0) at = parents.at(at);
        return -1 - parents.at(at);
      },
    },
    fingerprints: () => seen.fingerprints(),
  };
}
