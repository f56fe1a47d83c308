/*
 * Issue 12, "How it is checked": seeded faults are caught. The wrong
 * drivers are the bug zoo's (`@dmabuf-ref/contracts/zoo`): the reference
 * exporter or importer wrong in exactly one named way; the scenarios of
 * rfc/scenarios/ used here hold on the right drivers, and the explorer,
 * run on a machine with the wrong driver substituted, refutes one with a
 * shortest counterexample that replays, step by step, to the same failure.
 *
 * The exporter faults break a revoke; the importer faults break the
 * classic dynamic dma-buf *move* (TTM eviction: invalidate under resv, wait
 * only for the resv's fences, free the old placement), where nothing waits
 * for the importer's unmap and an importer that keeps using its stale
 * mapping sends DMA to freed memory. Against a revoke, which waits for
 * every unmap (VFIO's `comp`), the same importers only hang the revoke.
 */
import { basename, join } from "node:path";
import { SCENARIOS_DIR } from "../src/explore/catalogue.js";
import { describe, expect, it } from "vitest";
import { defineMachine, referenceImporter } from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Machine, Profile } from "@dmabuf-ref/core";
import type { ExploreReport, LoadedScenario, WitnessStep } from "../src/explore/explore.js";
import {
  exploreExitCode,
  exploreScenario,
  loadScenario,
  readScenarioFile,
} from "../src/explore/explore.js";
import type { ScenarioFile } from "../src/explore/scenario-file.js";
import type { ExploreState } from "../src/explore/threads.js";
import { DEFAULT_MACHINE } from "../src/replay/machine.js";
import { buildMachine } from "../src/scenarios/machine.js";
import {
  freesBeforeUnmaps,
  ignoresInvalidate,
  revokedWithoutResv,
  unmapsAfterRevoke,
} from "@dmabuf-ref/contracts/zoo";
import { wrongExporter, wrongImporter } from "./support/zoo-drivers.js";

/** The correct importer: core's reference importer has the command submission. */
const submittingReferenceImporter = (): ImporterDriver => referenceImporter();

/** The scenario files these tests explore ship in rfc/scenarios/. */
const FIXTURES = SCENARIOS_DIR;
const READ = join(FIXTURES, "revoke-races-dma-read.yaml");
const FLR = join(FIXTURES, "flr-races-fenced-write.yaml");
const MOVE = join(FIXTURES, "move-races-fenced-dma.yaml");

/** The longest counterexample the issue accepts. */
const MAX_STEPS = 12;

/**
 * The scenario's own machine (the one its `machine:` describes, as
 * `loadScenario` builds it) with `wrong` in place of the driver of the same
 * name: what `explore(scenario, { machine })` runs on.
 */
function substituting(
  wrong: ExporterDriver | ImporterDriver | undefined,
): (profile: Profile, file: ScenarioFile) => Machine {
  return (profile, file) => {
    const m = buildMachine(profile, file.machine === "default" ? DEFAULT_MACHINE : file.machine);
    const swap = <D extends { readonly name: string }>(d: D): D =>
      wrong !== undefined && d.name === wrong.name ? (wrong as unknown as D) : d;
    return defineMachine({
      profile: m.profile,
      topology: m.topology,
      exporters: [...m.exporters.values()].map(swap),
      importers: [...m.importers.values()].map(swap),
    });
  };
}

function load(file: string, wrong?: ExporterDriver | ImporterDriver): LoadedScenario {
  return loadScenario(readScenarioFile(file), { machine: substituting(wrong), path: file });
}

function verdict(r: ExploreReport, expr: string): ExploreReport["expectations"][number] {
  const v = r.expectations.find((e) => e.kind === "forall" && e.expr === expr);
  if (v === undefined) throw new Error(`${r.scenario} has no forall ${expr}`);
  return v;
}

/**
 * Re-runs a witness from the scenario's start: at each step, the one
 * transition with the witness's actor, call text and outcome.
 */
function replay(s: LoadedScenario, steps: readonly WitnessStep[]): ExploreState {
  let state = s.space.initial;
  steps.forEach((w, i) => {
    const t = s.space
      .transitions(state)
      .find((x) => x.actor === w.thread && x.text === w.call && x.outcome === w.outcome);
    if (t === undefined) throw new Error(`step ${i + 1} (${w.thread}: ${w.call}) is not enabled`);
    state = t.state;
  });
  return state;
}

/**
 * Explores a scenario and checks that `forall: no-violation` fails with a
 * counterexample of 1 to MAX_STEPS steps (exit 1).
 *
 * @returns the counterexample.
 */
function shortCounterexample(s: LoadedScenario): readonly WitnessStep[] {
  const r = exploreScenario(s);
  const v = verdict(r, "no-violation");
  expect(v.holds).toBe(false);
  expect(exploreExitCode(r)).toBe(1);
  const steps = v.witness ?? [];
  expect(steps.length).toBeGreaterThan(0);
  expect(steps.length).toBeLessThanOrEqual(MAX_STEPS);
  return steps;
}

/** Runs on from a state to a terminal one, always taking the first transition. */
function runOn(s: LoadedScenario, from: ExploreState): ExploreState {
  let st = from;
  for (let n = 0; n < 500; n++) {
    const t = s.space.transitions(st)[0];
    if (t === undefined) break;
    st = t.state;
  }
  return st;
}

/** The violation kinds a witness's events report. */
function reportedKinds(steps: readonly WitnessStep[]): string[] {
  return steps.flatMap((s) =>
    s.events.flatMap((e) => (e.kind === "violation" ? [e.violation.kind] : [])),
  );
}

describe("the seeded-fault scenarios hold on the right drivers", () => {
  const files = [READ, FLR].map((file) => ({ file, name: basename(file) }));
  it.each(files)("$name: every expectation holds on the file's own machine", ({ file }) => {
    const r = exploreScenario(loadScenario(readScenarioFile(file), { path: file }));
    expect(r.complete).toBe(true);
    expect(r.expectations.filter((e) => e.holds !== true)).toEqual([]);
    expect(exploreExitCode(r)).toBe(0);
  });

  it.each(files)(
    "$name: every expectation holds when the substitution puts the reference drivers back",
    ({ file }) => {
      const r = exploreScenario(load(file));
      expect(r.expectations.filter((e) => e.holds !== true)).toEqual([]);
    },
  );
});

describe("the move scenario holds on the correct importer", () => {
  it("move-races-fenced-dma: every expectation holds when ref-importer re-maps after an invalidate", () => {
    const r = exploreScenario(load(MOVE, submittingReferenceImporter()));
    expect(r.complete).toBe(true);
    expect(r.expectations.filter((e) => e.holds !== true)).toEqual([]);
    expect(exploreExitCode(r)).toBe(0);
  });

  it("move-races-fenced-dma: a job in flight at the eviction is a fence the move waits for", () => {
    // Some interleaving submits before the eviction and accesses VRAM after
    // the invalidate: the move's free comes only after the job's fence.
    const s = load(MOVE, submittingReferenceImporter());
    const seen = new Set<string>();
    const walk = (st: ExploreState, path: readonly string[]): void => {
      const ts = s.space.transitions(st);
      if (ts.length === 0) seen.add(path.join(" | "));
      for (const t of ts) walk(t.state, [...path, `${t.actor}: ${t.text}`]);
    };
    walk(s.space.initial, []);
    const orders = [...seen];
    const inFlight = orders.find(
      (o) =>
        o.indexOf("dev1: submit") < o.indexOf("ttm: evict") &&
        o.indexOf("ttm: evict") < o.indexOf("dev1: dma-access"),
    );
    expect(inFlight).toBeDefined();
    const cont = inFlight?.indexOf("gpu: continue") ?? -1;
    expect(cont).toBeGreaterThan(inFlight?.indexOf("dev1: signal") ?? Infinity);
    // And some submits only after the move returned, through a fresh mapping.
    expect(orders.some((o) => o.indexOf("gpu: continue") < o.indexOf("dev1: submit"))).toBe(true);
  });

  it("move-races-fenced-dma: holds on the file's own machine (core's ref-importer has the command submission)", () => {
    const r = exploreScenario(loadScenario(readScenarioFile(MOVE), { path: MOVE }));
    expect(r.expectations.filter((e) => e.holds !== true)).toEqual([]);
  });
});

describe("a wrong exporter breaks no-violation with a shortest counterexample that replays", () => {
  const cases = [
    {
      name: "revoked state changes only under dmabuf->resv (exporter sets it unlocked)",
      driver: wrongExporter(revokedWithoutResv),
      files: [READ],
      kind: "contract",
      rule: "a dma-buf's revoked state changes only under dmabuf->resv",
    },
    {
      name: "no access after the owner freed the memory (exporter frees before every unmap)",
      driver: wrongExporter(freesBeforeUnmaps),
      files: [READ],
      kind: "access-after-revoke",
      rule: "no access after the owner reset, disabled or freed the memory",
    },
  ] as const;

  for (const c of cases)
    for (const file of c.files)
      it(`${c.name}: ${basename(file)}`, () => {
        const s = load(file, c.driver);
        const steps = shortCounterexample(s);
        const kinds = reportedKinds(steps);
        expect(kinds).toContain(c.kind);
        // The run re-derived from the labels stops at the step that broke the
        // rule (no-violation is judged on every state): its world holds the
        // violation, and every run on from there ends holding it.
        const end = replay(s, steps);
        expect(end.world.violations.size).toBeGreaterThan(0);
        expect(replay(s, steps.slice(0, -1)).world.violations.size).toBe(0);
        expect(runOn(s, end).world.violations.size).toBeGreaterThanOrEqual(
          end.world.violations.size,
        );
        const found = [...end.world.violations.values()];
        expect(found.map((x) => x.kind)).toContain(c.kind);
        expect(found.map((x) => x.rule)).toContain(c.rule);
      });
});

describe("each wrong driver is wrong only in the named way", () => {
  it("the exporter that frees early frees nothing on a temporary revoke: flr-races-fenced-write holds", () => {
    const r = exploreScenario(load(FLR, wrongExporter(freesBeforeUnmaps)));
    expect(r.expectations.filter((e) => e.holds !== true)).toEqual([]);
  });
});

describe("a wrong importer breaks no-violation against a moving exporter, with a shortest counterexample that replays", () => {
  // A move waits only for the fences in the resv (dma_resv_wait_timeout),
  // not for unmaps, then frees the old placement: a job the importer starts
  // through its stale mapping after the move returned reaches freed VRAM.
  const cases = [
    {
      name: "no new DMA through a mapping after invalidate_mappings (the importer ignores the call)",
      driver: wrongImporter(ignoresInvalidate),
      // It never unmaps: the stale mapping outlives the scenario.
      unmapped: false,
    },
    {
      name: "no new DMA through a mapping after invalidate_mappings (the importer stops using it only at its late unmap)",
      driver: wrongImporter(unmapsAfterRevoke),
      // It does unmap, but only after the move returned and the job ran.
      unmapped: true,
    },
  ] as const;

  for (const c of cases)
    it(`${c.name}: ${basename(MOVE)}`, () => {
      const s = load(MOVE, c.driver);
      const steps = shortCounterexample(s);
      // The counterexample stops at the submit through the stale mapping.
      expect(reportedKinds(steps)).toEqual(["contract"]);
      // The job was submitted after the move returned (its `continue` freed VRAM).
      const at = (actor: string, prefix: string): number =>
        steps.findIndex((x) => x.thread === actor && x.call.startsWith(prefix));
      const submitted = at("dev1", "submit");
      expect(at("ttm", "evict")).toBeGreaterThanOrEqual(0);
      expect(at("kernel", "gpu: continue")).toBeGreaterThan(at("ttm", "evict"));
      expect(submitted).toBeGreaterThan(at("kernel", "gpu: continue"));
      expect(submitted).toBe(steps.length - 1);
      // Run on to the end: the job's access reaches the freed VRAM.
      const end = runOn(s, replay(s, steps));
      expect(s.space.transitions(end)).toEqual([]);
      const found = [...end.world.violations.values()];
      expect(found.map((x) => [x.kind, x.rule])).toEqual([
        ["contract", "no new DMA through a mapping after invalidate_mappings()"],
        ["access-after-revoke", "no access after the owner reset, disabled or freed the memory"],
      ]);
      expect([...end.world.atts.values()].every((a) => a.mapping === null)).toBe(c.unmapped);
    });

  it("the correct importer's job after the move goes through a fresh mapping of the new placement", () => {
    // The same first steps as the counterexamples, on ref-importer: the
    // submit re-maps, the access is judged ok, nothing is violated.
    const s = load(MOVE, submittingReferenceImporter());
    let st = s.space.initial;
    // The eviction returns to its thread once the move's last stage ran.
    for (const [actor, prefix, outcome] of [
      ["ttm", "evict", "started"],
      ["kernel", "gpu: continue", "ok"],
      ["dev1", "submit", "ok"],
      ["dev1", "dma-access", "ok"],
    ] as const) {
      const t = s.space.transitions(st).find((x) => x.actor === actor && x.text.startsWith(prefix));
      expect(t, `${actor}: ${prefix}`).toBeDefined();
      if (t === undefined) return;
      expect(t.outcome).toBe(outcome);
      if (actor === "kernel") expect(t.returned.map((r) => r.thread)).toContain("ttm");
      st = t.state;
    }
    expect(st.world.violations.size).toBe(0);
  });
});

describe("a wrong importer leaves the exporter's revoke waiting for ever", () => {
  // The reference exporter waits for every unmap without a bound (VFIO's
  // `comp` since v6 of the revoke series, kernel-facts §2.5 step 5), so
  // memory is never reset or freed under an importer that does not unmap:
  // these bugs are hangs, which `no-deadlock` refutes; `no-violation` holds
  // (the move scenario above is where they become violations).
  const cases = [
    {
      name: "an importer with invalidate_mappings unmaps in bounded time (it ignores the call)",
      driver: wrongImporter(ignoresInvalidate),
    },
    {
      name: "the revoke completes only once every mapping is unmapped (the importer unmaps after it returned)",
      driver: wrongImporter(unmapsAfterRevoke),
    },
  ] as const;

  for (const c of cases)
    for (const file of [READ, FLR])
      it(`${c.name}: ${basename(file)}`, () => {
        const s = load(file, c.driver);
        const r = exploreScenario(s);
        expect(verdict(r, "no-violation").holds).toBe(true);
        const v = verdict(r, "no-deadlock");
        expect(v.holds).toBe(false);
        const steps = v.witness ?? [];
        expect(steps.length).toBeLessThanOrEqual(MAX_STEPS);
        const end = replay(s, steps);
        expect(s.space.transitions(end)).toEqual([]);
        // The exporter's revoke call never returns, its task still waits for the unmap.
        expect(s.space.outcomes(end).get("exp")?.[0]).toBe("blocked");
        expect(end.world.tasks.size).toBe(1);
        expect([...end.world.atts.values()].some((a) => a.mapping !== null && a.invalidated)).toBe(
          true,
        );
      });
});
