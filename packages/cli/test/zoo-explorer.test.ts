/*
 * Issue 13, item 4: every bug of the zoo is caught by the explorer too.
 * Each entry names a scenario of rfc/scenarios/ and one of its
 * expectations: with the zoo's wrong driver in place of the machine's
 * driver of the same name, `dmabuf-ref explore` refutes it with a
 * shortest counterexample (and the file holds on the right drivers); an
 * entry whose file already runs the buggy kernel (a profile or machine
 * option that has the bug) shows it with the expectation holding.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defineMachine } from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Machine, Profile } from "@dmabuf-ref/core";
import { ZOO } from "@dmabuf-ref/contracts/zoo";
import type { ZooBug } from "@dmabuf-ref/contracts/zoo";
import { SCENARIOS_DIR } from "../src/explore/catalogue.js";
import { exploreScenario, loadScenario, readScenarioFile } from "../src/explore/explore.js";
import type { ExploreReport } from "../src/explore/explore.js";
import type { ScenarioFile } from "../src/explore/scenario-file.js";
import { DEFAULT_MACHINE } from "../src/replay/machine.js";
import { buildMachine } from "../src/scenarios/machine.js";

/** The machine a scenario file describes, as `loadScenario` builds it by default. */
function fileMachine(profile: Profile, file: ScenarioFile): Machine {
  const d = file.machine === "default" ? DEFAULT_MACHINE : file.machine;
  return buildMachine(profile, d, {
    ...(d.vfio.krefRearm === undefined ? {} : { krefRearm: d.vfio.krefRearm }),
    ...(d.vfio.closeOrder === undefined ? {} : { closeOrder: d.vfio.closeOrder }),
  });
}

/**
 * The file's machine with the bug's wrong driver in place of the driver of
 * the same name (a substitute built for another name leaves a driver alone).
 */
function withBug(bug: ZooBug): (profile: Profile, file: ScenarioFile) => Machine {
  return (profile, file) => {
    const m = fileMachine(profile, file);
    const swapped: string[] = [];
    const exporters = [...m.exporters.values()].map((d): ExporterDriver => {
      if (bug.role !== "exporter" || bug.substitute === undefined) return d;
      const wrong = bug.substitute(d);
      if (wrong === d || wrong.name !== d.name) return d;
      swapped.push(d.name);
      return wrong;
    });
    const importers = [...m.importers.values()].map((d): ImporterDriver => {
      if (bug.role !== "importer" || bug.substitute === undefined) return d;
      const wrong = bug.substitute(d);
      if (wrong === d || wrong.name !== d.name) return d;
      swapped.push(d.name);
      return wrong;
    });
    if (swapped.length === 0)
      throw new Error(`${bug.id}: the scenario's machine has no driver the bug replaces`);
    return defineMachine({ profile: m.profile, topology: m.topology, exporters, importers });
  };
}

/** The verdict on the expectation the entry names (`forall: EXPR` / `exists: EXPR`). */
function verdictOf(r: ExploreReport, written: string): ExploreReport["expectations"][number] {
  const m = /^(forall|exists):\s*(.+)$/.exec(written.trim());
  const found =
    m === null ? undefined : r.expectations.find((e) => e.kind === m[1] && e.expr === m[2]);
  if (found === undefined) throw new Error(`${r.scenario} has no expectation "${written}"`);
  return found;
}

describe("the explorer catches every bug of the zoo", () => {
  it("every zoo entry names a scenario the explorer shows it in, or why none can", () => {
    const unseen = ZOO.filter((b) => b.scenario === undefined);
    expect(unseen.filter((b) => (b.unseenByScenarios ?? "") === "").map((b) => b.id)).toEqual([]);
    // A bug no scenario shows is a protocol step with no effect the oracle judges: one at most.
    expect(unseen.map((b) => b.id)).toEqual(["unrevoke-skips-invalidate"]);
  });

  for (const bug of ZOO) {
    const s = bug.scenario;
    if (s === undefined) continue;
    const path = join(SCENARIOS_DIR, s.file);
    if (s.substituted)
      it(`${bug.id}: ${s.file} "${s.expect}" holds on the right drivers and fails with the bug, with a shortest counterexample`, () => {
        const file = readScenarioFile(path);
        const right = exploreScenario(loadScenario(file, { path }));
        expect(verdictOf(right, s.expect).holds).toBe(true);
        const wrong = exploreScenario(loadScenario(file, { path, machine: withBug(bug) }));
        const v = verdictOf(wrong, s.expect);
        expect(v.holds).toBe(false);
        expect(v.witness?.length ?? 0).toBeGreaterThan(0);
      });
    else
      it(`${bug.id}: ${s.file} shows the bug as it stands ("${s.expect}" holds)`, () => {
        const r = exploreScenario(loadScenario(readScenarioFile(path), { path }));
        expect(verdictOf(r, s.expect).holds).toBe(true);
      });
  }
});
