/*
 * The explorer steps each (world, op) pair once and hands the result to
 * every state that meets that world again (src/explore/step-memo.ts). A
 * step is a function of the machine, the world and the op, so the memo
 * must change nothing a search reports: these tests explore every
 * scenario file both ways and compare what the search saw.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { boot, referenceMachine, step, worldsEqual } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";
import { SCENARIOS_DIR } from "../src/explore/catalogue.js";
import { exploreScenario, loadScenario, readScenarioFile } from "../src/explore/explore.js";
import { StepMemo } from "../src/explore/step-memo.js";

/** Files whose whole space is explored both ways; the larger ones to this many states. */
const MAX_STATES = 4_000;

const files = readdirSync(SCENARIOS_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

/** A report without its timing, the one field the memo may change. */
function reported(path: string, memo: boolean): unknown {
  const loaded = loadScenario(readScenarioFile(path), { path, memo });
  return { ...exploreScenario(loaded, { maxStates: MAX_STATES }), seconds: 0 };
}

describe("the explorer's step memo (one step per world and op)", () => {
  it.each(files)(
    "%s: the same states, transitions, verdicts and witnesses with the memo as without",
    (file) => {
      const path = join(SCENARIOS_DIR, file);
      expect(reported(path, true)).toEqual(reported(path, false));
    },
  );

  it.each([true, false, 64])(
    "the revoke protocol with two importers: 8,076 states and 13,165 transitions (memo: %s)",
    (memo) => {
      // 64 worlds per generation: the memo forgets and steps worlds again many times.
      const path = join(import.meta.dirname, "../../../bench/revoke-protocol-flr-2.yaml");
      const r = exploreScenario(loadScenario(readScenarioFile(path), { path, memo }));
      expect(r.complete).toBe(true);
      expect([r.states, r.transitions]).toEqual([8_076, 13_165]);
    },
  );
});

/** A world with `k` reference buffers, built step by step (a new object each call). */
function withBuffers(k: number): World {
  const m = referenceMachine();
  let w = boot(m);
  for (let i = 0; i < k; i++) {
    const r = step(m, w, {
      kind: "export",
      exporter: "ref-exporter",
      owner: "exp0",
      args: { size: 0x1000 },
    });
    if (r.status !== "done") throw new Error("export did not run");
    w = r.world;
  }
  return w;
}

describe("StepMemo", () => {
  it("an equal world met again is replaced by the first one met", () => {
    const a = withBuffers(1);
    const b = withBuffers(1);
    expect(a).not.toBe(b);
    expect(worldsEqual(a, b)).toBe(true);
    const memo = new StepMemo<string, string, number>(16);
    expect(memo.canonical(a)).toBe(a);
    expect(memo.canonical(b)).toBe(a);
  });

  it("what was worked out from a world is found from an equal one, not from another", () => {
    const memo = new StepMemo<string, string, number>(16);
    const a = memo.of(withBuffers(1));
    a.calls.set("lock", 1);
    a.kernel = "continuations";
    const b = memo.of(withBuffers(1));
    expect(b.calls.get("lock")).toBe(1);
    expect(b.kernel).toBe("continuations");
    const other = memo.of(withBuffers(2));
    expect(other.calls.size).toBe(0);
    expect(other.kernel).toBeUndefined();
  });

  it("keeps two generations: a world survives one turnover, not two", () => {
    const a = withBuffers(1);
    const b = withBuffers(1);
    const memo = new StepMemo<string, string, number>(2);
    const first = memo.of(a);
    first.calls.set("lock", 1);
    memo.of(withBuffers(0)); // the young generation is full: it becomes the old one
    expect(memo.canonical(b)).toBe(a); // found in the old one, back in the young
    expect(memo.of(b).calls.get("lock")).toBe(1);
    memo.of(withBuffers(2)); // turnover
    memo.of(withBuffers(3));
    memo.of(withBuffers(4)); // turnover: `a` is in neither generation now
    expect(memo.canonical(b)).toBe(b);
    expect(memo.of(b).calls.size).toBe(0);
    // What the dropped memo kept is let go (a state holding it keeps no successors alive).
    expect(first.calls.size).toBe(0);
  });
});
