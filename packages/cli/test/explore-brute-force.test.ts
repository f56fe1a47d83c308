/*
 * Issue 12, "How it is checked": the explorer's counts are checked against
 * brute force on small scenarios. The brute force enumerates every
 * interleaving by plain recursion over `ScenarioSpace.transitions`, with no
 * visited set (fingerprints are only collected, to count, never to prune),
 * and must find exactly the terminal observations, distinct states,
 * terminal states and transitions that the breadth-first search over
 * fingerprints reports. Also: the condition grammar round-trips.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fc, test as fcTest } from "@fast-check/vitest";
import { SCENARIOS_DIR } from "../src/explore/catalogue.js";
import { describe, expect, it } from "vitest";
import { breadthFirst, defineMachine, ERRNO_NAMES } from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Machine, Profile } from "@dmabuf-ref/core";
import type { Condition } from "../src/explore/condition.js";
import { parseCondition } from "../src/explore/condition.js";
import type { LoadedScenario } from "../src/explore/explore.js";
import { exploreScenario, loadScenario, readScenarioFile } from "../src/explore/explore.js";
import type { ExploreState, ScenarioSpace } from "../src/explore/threads.js";
import { UsageError } from "../src/io/usage-error.js";
import { DEFAULT_MACHINE } from "../src/replay/machine.js";
import { buildMachine } from "../src/scenarios/machine.js";
import {
  freesBeforeUnmaps,
  ignoresInvalidate,
  revokedWithoutResv,
  unmapsAfterRevoke,
} from "@dmabuf-ref/contracts/zoo";
import { wrongExporter, wrongImporter } from "./support/zoo-drivers.js";

const RFC = join(import.meta.dirname, "../../../rfc/scenarios");
/** The scenario files these tests explore ship in rfc/scenarios/. */
const FIXTURES = SCENARIOS_DIR;

/**
 * No brute force beyond this many transitions over all runs (the
 * enumeration is exponential): for the fixed list, and for the sweep over
 * every file of rfc/scenarios, which keeps the small ones.
 */
const BUDGET = 50_000;
const SWEEP_BUDGET = 5_000;

/** What a condition sees of a terminal state, as one comparable string. */
function observation(space: ScenarioSpace, s: ExploreState): string {
  return JSON.stringify({
    violations: s.world.violations.size > 0,
    outcomes: [...space.outcomes(s)],
  });
}

function fingerprintOf(space: ScenarioSpace, s: ExploreState): string {
  const fp = new Uint32Array(2);
  space.fingerprint(s, fp);
  return `${fp[0] ?? 0}:${fp[1] ?? 0}`;
}

/** What an enumeration found. */
interface Found {
  readonly observations: Set<string>;
  readonly states: number;
  readonly terminals: number;
  readonly transitions: number;
}

/**
 * Every interleaving, by recursion with no visited set. Returns undefined
 * when the scenario has more than `budget` transitions along all its runs.
 */
function bruteForce(space: ScenarioSpace, budget = BUDGET): (Found & { runs: number }) | undefined {
  const observations = new Set<string>();
  // Counted, never consulted while enumerating: each state's successor count.
  const outDegree = new Map<string, number>();
  const terminals = new Set<string>();
  let runs = 0;
  let taken = 0;
  const walk = (s: ExploreState): boolean => {
    const ts = space.transitions(s);
    outDegree.set(fingerprintOf(space, s), ts.length);
    if (ts.length === 0) {
      runs++;
      terminals.add(fingerprintOf(space, s));
      observations.add(observation(space, s));
      return true;
    }
    for (const t of ts) {
      if (++taken > budget) return false;
      if (!walk(t.state)) return false;
    }
    return true;
  };
  if (!walk(space.initial)) return undefined;
  let transitions = 0;
  for (const n of outDegree.values()) transitions += n;
  return { observations, states: outDegree.size, terminals: terminals.size, transitions, runs };
}

/** The breadth-first explorer's view of the same space. */
function explored(space: ScenarioSpace): Found {
  const observations = new Set<string>();
  const stats = breadthFirst(space, (s, _id, terminal) => {
    if (terminal) observations.add(observation(space, s));
  });
  expect(stats.complete).toBe(true);
  return {
    observations,
    states: stats.states,
    terminals: stats.terminals,
    transitions: stats.transitions,
  };
}

function substituting(wrong: ExporterDriver | ImporterDriver): (profile: Profile) => Machine {
  return (profile) => {
    const m = buildMachine(profile, DEFAULT_MACHINE);
    const swap = <D extends { readonly name: string }>(d: D): D =>
      d.name === wrong.name ? (wrong as unknown as D) : d;
    return defineMachine({
      profile: m.profile,
      topology: m.topology,
      exporters: [...m.exporters.values()].map(swap),
      importers: [...m.importers.values()].map(swap),
    });
  };
}

function agree(
  s: LoadedScenario,
  budget = BUDGET,
): { runs: number; observations: number } | undefined {
  const brute = bruteForce(s.space, budget);
  if (brute === undefined) return undefined;
  const bfs = explored(s.space);
  expect([...bfs.observations].sort()).toEqual([...brute.observations].sort());
  expect(bfs.states).toBe(brute.states);
  expect(bfs.terminals).toBe(brute.terminals);
  expect(bfs.transitions).toBe(brute.transitions);
  return { runs: brute.runs, observations: brute.observations.size };
}

describe("breadth-first over fingerprints finds what brute force finds", () => {
  const fixed = [
    { label: "rfc flr-races-p2p-dma", file: join(RFC, "flr-races-p2p-dma.yaml") },
    { label: "revoke-races-dma-read", file: join(FIXTURES, "revoke-races-dma-read.yaml") },
    { label: "flr-races-fenced-write", file: join(FIXTURES, "flr-races-fenced-write.yaml") },
  ];
  it.each(fixed)(
    "$label: the same terminal outcomes, states, terminals and transitions",
    ({ file }) => {
      const r = agree(loadScenario(readScenarioFile(file), { path: file }));
      expect(r).toBeDefined();
      expect(r?.runs).toBeGreaterThan(1);
    },
  );

  const wrong = [
    { label: "sets revoked without resv", driver: wrongExporter(revokedWithoutResv) },
    { label: "frees before unmaps", driver: wrongExporter(freesBeforeUnmaps) },
    { label: "ignores invalidate", driver: wrongImporter(ignoresInvalidate) },
    { label: "unmaps after the revoke returned", driver: wrongImporter(unmapsAfterRevoke) },
  ];
  it.each(wrong)(
    "revoke-races-dma-read on the driver that $label: the same terminal outcomes, violations included",
    ({ driver }) => {
      const file = join(FIXTURES, "revoke-races-dma-read.yaml");
      const s = loadScenario(readScenarioFile(file), { machine: substituting(driver), path: file });
      expect(agree(s)).toBeDefined();
    },
  );

  it(`every small scenario in rfc/scenarios (at most ${SWEEP_BUDGET} transitions over all runs)`, () => {
    const compared: string[] = [];
    for (const f of readdirSync(RFC).filter((x) => x.endsWith(".yaml"))) {
      let s: LoadedScenario;
      try {
        s = loadScenario(readScenarioFile(join(RFC, f)), { path: f });
      } catch (e) {
        // A file that does not load fails in explore-scenarios.test.ts, not here.
        if (e instanceof UsageError) continue;
        throw e;
      }
      if (agree(s, SWEEP_BUDGET) !== undefined) compared.push(f);
    }
    expect(compared.length).toBeGreaterThanOrEqual(3);
  });

  it("the report's counts are the search's (exploreScenario on the same space)", () => {
    const file = join(FIXTURES, "flr-races-fenced-write.yaml");
    const s = loadScenario(readScenarioFile(file), { path: file });
    const brute = bruteForce(s.space);
    const r = exploreScenario(s);
    expect(brute).toBeDefined();
    expect(r.states).toBe(brute?.states);
    expect(r.terminals).toBe(brute?.terminals);
    expect(r.transitions).toBe(brute?.transitions);
  });
});

// ---- the condition grammar --------------------------------------------------

const THREADS = new Map([
  ["vmm", 2],
  ["dev1", 3],
  ["t_2", 1],
]);

const atom: fc.Arbitrary<Condition> = fc.oneof(
  fc.constant<Condition>({ kind: "no-violation" }),
  fc.constant<Condition>({ kind: "no-deadlock" }),
  fc
    .record({
      thread: fc.constantFrom(...THREADS.keys()),
      value: fc.constantFrom("ok", "blocked", "fault", "violation", ...ERRNO_NAMES),
      negated: fc.boolean(),
      n: fc.nat(),
    })
    .map(({ thread, value, negated, n }): Condition => ({
      kind: "outcome",
      thread,
      call: n % (THREADS.get(thread) ?? 1),
      value,
      negated,
    })),
);

const { cond } = fc.letrec<{ cond: Condition }>((tie) => ({
  cond: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    atom,
    tie("cond").map((of): Condition => ({ kind: "not", of })),
    fc
      .tuple(fc.constantFrom("and" as const, "or" as const), tie("cond"), tie("cond"))
      .map(([kind, left, right]): Condition => ({ kind, left, right })),
  ),
}));

/** Binding strength: or < and < not/atom. */
function level(c: Condition): number {
  return c.kind === "or" ? 1 : c.kind === "and" ? 2 : 3;
}

/**
 * Prints a condition with the fewest parentheses the grammar needs: a child
 * binding less tightly than its parent is parenthesised, and so is a right
 * operand of the same operator (both operators associate to the left).
 */
function print(c: Condition): string {
  switch (c.kind) {
    case "no-violation":
    case "no-deadlock":
      return c.kind;
    case "outcome":
      return `${c.thread}[${c.call}] ${c.negated ? "!=" : "=="} ${c.value}`;
    case "not":
      return `not ${level(c.of) < 3 ? `(${print(c.of)})` : print(c.of)}`;
    case "and":
    case "or": {
      const l = level(c.left) < level(c) ? `(${print(c.left)})` : print(c.left);
      const r = level(c.right) <= level(c) ? `(${print(c.right)})` : print(c.right);
      return `${l} ${c.kind} ${r}`;
    }
  }
}

describe("the expect grammar (condition.ts)", () => {
  fcTest.prop([cond], { numRuns: 300 })(
    "printing a condition and parsing it back gives the same condition",
    (c) => {
      expect(parseCondition(print(c), THREADS)).toEqual(c);
    },
  );

  fcTest.prop([cond, cond, cond], { numRuns: 100 })(
    "and binds tighter than or: a or b and c is a or (b and c), a and b or c is (a and b) or c",
    (a, b, c) => {
      const p = (x: Condition): string => `(${print(x)})`;
      expect(parseCondition(`${p(a)} or ${p(b)} and ${p(c)}`, THREADS)).toEqual({
        kind: "or",
        left: a,
        right: { kind: "and", left: b, right: c },
      });
      expect(parseCondition(`${p(a)} and ${p(b)} or ${p(c)}`, THREADS)).toEqual({
        kind: "or",
        left: { kind: "and", left: a, right: b },
        right: c,
      });
    },
  );

  it("not binds tighter than and: not a and b is (not a) and b", () => {
    expect(parseCondition("not no-violation and vmm[0] == ok", THREADS)).toEqual({
      kind: "and",
      left: { kind: "not", of: { kind: "no-violation" } },
      right: { kind: "outcome", thread: "vmm", call: 0, value: "ok", negated: false },
    });
  });
});
