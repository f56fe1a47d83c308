import type { Machine, Profile, TraceEvent, World } from "@dmabuf-ref/core";
import { scenarioFiles } from "../../src/explore/catalogue.js";
import {
  exploreScenario,
  loadScenario,
  readScenarioFile,
  referenceRun,
} from "../../src/explore/explore.js";
import type { ExpectationVerdict, WitnessStep } from "../../src/explore/explore.js";
import type { ScenarioFile } from "../../src/explore/scenario-file.js";

/**
 * What a scenario test reads of a scenario file: the reference run that
 * `dmabuf-ref scenario NAME` prints and rfc/traces keeps (the kernel's
 * continuations first, then the threads in file order), and the explorer's
 * verdict on every expectation over every interleaving.
 */
export interface FileRun {
  /** The file as it ran (after a test's edit). */
  readonly file: ScenarioFile;
  /** The profile it ran under. */
  readonly profile: string;
  /** The machine it ran on. */
  readonly machine: Machine;
  /** What `init` did. */
  readonly initEvents: readonly TraceEvent[];
  /** The reference run's steps (a call's text ends with its errno's message when it failed). */
  readonly steps: readonly WitnessStep[];
  /** The reference run's trace: `init`'s events, then every step's. */
  readonly events: readonly TraceEvent[];
  /** Each thread's call outcomes in the reference run (`blocked` for one that never returned). */
  readonly outcomes: ReadonlyMap<string, readonly string[]>;
  /** The world at the end of the reference run. */
  readonly world: World;
  /** Violations the oracle recorded in the reference run. */
  readonly violations: number;
  /** The explorer's verdicts, in file order. */
  readonly verdicts: readonly ExpectationVerdict[];
  /** True when every expectation holds. */
  readonly allHold: boolean;
  /**
   * The verdict on one expectation, by its kind and text as written in
   * the file (`"forall vmm[0] == ok"`).
   *
   * @throws when the file has no such expectation.
   */
  verdict(expr: string): boolean | null;
}

/**
 * Runs a scenario file of rfc/scenarios: its reference run and its
 * exploration, under a profile (default: the file's).
 *
 * @param name - the file's name, without `.yaml`.
 * @param profile - a profile id to run it under instead.
 * @returns what the test reads.
 */
export function runFile(name: string, profile?: Profile | string): FileRun {
  return runEdited(name, (file) => file, profile);
}

/**
 * Runs a scenario file's `init` calls alone, as the one thread `init` (in
 * the same order, each returning when the kernel would, as `init` runs
 * them), so a test can read each call's outcome: `init`'s own trace keeps
 * the events of a call that failed but not always its errno.
 *
 * @param name - the file's name, without `.yaml`.
 * @param profile - a profile id to run it under instead.
 * @returns what the test reads; `outcomes.get("init")[i]` is `init[i]`'s.
 */
export function runInit(name: string, profile?: Profile | string): FileRun {
  return runEdited(
    name,
    (file) => ({
      ...file,
      init: [],
      threads: { init: file.init },
      expect: [{ forall: "no-violation" }],
    }),
    profile,
  );
}

/**
 * Runs a scenario file changed by a test (another machine option, a
 * condition the file does not state): its reference run and exploration.
 *
 * @param name - the file's name, without `.yaml`.
 * @param edit - the change, applied to the parsed file.
 * @param profile - a profile id to run it under instead.
 * @returns what the test reads.
 */
export function runEdited(
  name: string,
  edit: (file: ScenarioFile) => ScenarioFile,
  profile?: Profile | string,
): FileRun {
  const f = scenarioFiles().find((x) => x.name === name);
  if (f === undefined) throw new Error(`no scenario file ${name}`);
  const id = typeof profile === "object" ? profile.id : profile;
  const loaded = loadScenario(edit(readScenarioFile(f.path)), {
    path: f.path,
    ...(id === undefined ? {} : { profile: id }),
  });
  const report = exploreScenario(loaded);
  const run = referenceRun(loaded.space);
  const outcomes = loaded.space.outcomes(run.end);
  const verdicts = report.expectations;
  return {
    file: loaded.file,
    profile: report.profile,
    machine: loaded.machine,
    initEvents: loaded.initEvents,
    steps: run.steps,
    events: [...loaded.initEvents, ...run.steps.flatMap((s) => s.events)],
    outcomes,
    world: run.end.world,
    violations: run.end.world.violations.size,
    verdicts,
    allHold: verdicts.every((v) => v.holds === true),
    verdict(expr) {
      const v = verdicts.find((x) => `${x.kind} ${x.expr}` === expr);
      if (v === undefined) throw new Error(`${name}: no expectation "${expr}"`);
      return v.holds;
    },
  };
}
