/*
 * Issue 12, "How it is checked": seeded faults are caught. Each fixture in
 * test/fixtures/wrong-drivers/ is the reference exporter or importer wrong
 * in exactly one named way; the scenarios in test/fixtures/explore/ hold
 * on the right drivers, and the explorer, run on a machine with the wrong
 * driver substituted, refutes one with a shortest counterexample that
 * replays, step by step, to the same failure.
 */
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { defineMachine } from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Machine, Profile } from "@dmabuf-ref/core";
import type { ExploreReport, LoadedScenario, WitnessStep } from "../src/explore/explore.js";
import {
  exploreExitCode,
  exploreScenario,
  loadScenario,
  readScenarioFile,
} from "../src/explore/explore.js";
import type { ExploreState } from "../src/explore/threads.js";
import { DEFAULT_MACHINE } from "../src/replay/machine.js";
import { buildMachine } from "../src/scenarios/machine.js";
import { freesBeforeUnmapsExporter } from "./fixtures/wrong-drivers/frees-before-unmaps.js";
import { ignoresInvalidateImporter } from "./fixtures/wrong-drivers/ignores-invalidate.js";
import { revokedWithoutResvExporter } from "./fixtures/wrong-drivers/revoked-without-resv.js";
import { unmapsAfterRevokeImporter } from "./fixtures/wrong-drivers/unmaps-after-revoke.js";

const FIXTURES = join(import.meta.dirname, "fixtures/explore");
const READ = join(FIXTURES, "revoke-races-dma-read.yaml");
const FLR = join(FIXTURES, "flr-races-fenced-write.yaml");

/** The longest counterexample the issue accepts. */
const MAX_STEPS = 12;

/**
 * The scenario's own machine (the replay's default machine, as
 * `loadScenario` builds it) with `wrong` in place of the driver of the same
 * name: what `explore(scenario, { machine })` runs on.
 */
function substituting(
  wrong: ExporterDriver | ImporterDriver | undefined,
): (profile: Profile) => Machine {
  return (profile) => {
    const m = buildMachine(profile, DEFAULT_MACHINE);
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

describe("a wrong exporter breaks no-violation with a shortest counterexample that replays", () => {
  const cases = [
    {
      name: "revoked state changes only under dmabuf->resv (exporter sets it unlocked)",
      driver: revokedWithoutResvExporter({ region: "ram0" }),
      files: [READ],
      kind: "contract",
      rule: "a dma-buf's revoked state changes only under dmabuf->resv",
    },
    {
      name: "no access after the owner freed the memory (exporter frees before every unmap)",
      driver: freesBeforeUnmapsExporter({ region: "ram0" }),
      files: [READ],
      kind: "access-after-revoke",
      rule: "no access after the owner reset, disabled or freed the memory",
    },
  ] as const;

  for (const c of cases)
    for (const file of c.files)
      it(`${c.name}: ${basename(file)}`, () => {
        const s = load(file, c.driver);
        const r = exploreScenario(s);
        const v = verdict(r, "no-violation");
        expect(v.holds).toBe(false);
        expect(exploreExitCode(r)).toBe(1);
        const steps = v.witness ?? [];
        expect(steps.length).toBeGreaterThan(0);
        expect(steps.length).toBeLessThanOrEqual(MAX_STEPS);
        const kinds = reportedKinds(steps);
        expect(kinds).toContain(c.kind);
        // The run re-derived from the labels ends in a terminal state whose
        // world holds the same violation.
        const end = replay(s, steps);
        expect(s.space.transitions(end)).toEqual([]);
        const found = [...end.world.violations.values()];
        expect(found.map((x) => x.kind)).toContain(c.kind);
        expect(found.map((x) => x.rule)).toContain(c.rule);
      });
});

describe("each wrong driver is wrong only in the named way", () => {
  it("the exporter that frees early frees nothing on a temporary revoke: flr-races-fenced-write holds", () => {
    const r = exploreScenario(load(FLR, freesBeforeUnmapsExporter({ region: "ram0" })));
    expect(r.expectations.filter((e) => e.holds !== true)).toEqual([]);
  });
});

describe("a wrong importer leaves the exporter's revoke waiting for ever", () => {
  // The reference exporter waits for every unmap without a bound (VFIO's
  // `comp` since v6 of the revoke series, kernel-facts §2.5 step 5), so
  // memory is never reset or freed under an importer that does not unmap:
  // these bugs are hangs, which `no-deadlock` refutes; `no-violation` holds.
  const cases = [
    {
      name: "an importer with invalidate_mappings unmaps in bounded time (it ignores the call)",
      driver: ignoresInvalidateImporter(),
    },
    {
      name: "the revoke completes only once every mapping is unmapped (the importer unmaps after it returned)",
      driver: unmapsAfterRevokeImporter(),
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
