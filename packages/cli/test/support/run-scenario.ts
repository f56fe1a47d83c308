import { findProfile } from "@dmabuf-ref/core";
import type { Profile, TraceEvent } from "@dmabuf-ref/core";
import { SCENARIOS } from "../../src/scenarios/registry.js";
import { reportScenario } from "../../src/scenarios/scenario.js";

/** What a scenario test reads of a run. */
export interface ScenarioRun {
  /** The trace. */
  readonly events: readonly TraceEvent[];
  /** Whether the expectation held. */
  readonly met: boolean;
  /** How many violations the oracle recorded. */
  readonly violations: number;
  /** The expectation and the verdict. */
  readonly text: string;
}

/**
 * Runs a registered scenario under a profile (default: its declared one).
 *
 * @param name - the scenario.
 * @param under - a profile or profile id to run it under instead.
 * @returns what the test reads.
 */
export function runScenario(name: string, under?: Profile | string): ScenarioRun {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no scenario ${name}`);
  const id = typeof under === "object" ? under.id : (under ?? s.profile);
  const profile = typeof under === "object" ? under : findProfile(id);
  if (profile === undefined) throw new Error(`no profile ${id}`);
  const r = reportScenario(s, profile);
  return {
    events: r.events,
    met: r.expectation.met,
    violations: r.violations.length,
    text: r.expectation.text,
  };
}
