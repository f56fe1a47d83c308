import type { Profile, ProfileId, TraceEvent, Violation, World } from "@dmabuf-ref/core";

/** What a scenario produced: its trace, final world and whether it met its expectation. */
export interface ScenarioOutcome {
  /** Every event, in order. */
  readonly events: readonly TraceEvent[];
  /** The final world. */
  readonly world: World;
  /** Whether the scenario's stated expectation held. */
  readonly met: boolean;
  /** Why it did or did not hold, in one sentence. */
  readonly verdict: string;
}

/**
 * A scenario: a named, reproducible story from the seeds (a VMM doing FLR
 * around iommufd, a legacy importer fishing PFNs) run on the model under a
 * profile, with the expectation it demonstrates stated up front.
 */
export interface Scenario {
  /** Stable name, e.g. `"qemu-p2p-flr"`. */
  readonly name: string;
  /** The profile it is written for (run under it unless another is given). */
  readonly profile: ProfileId;
  /** What it shows, as a maintainer would state it. */
  readonly expectation: string;
  /** The kernel-model sections and seeds it draws on. */
  readonly sources: string;
  /**
   * Runs the scenario.
   *
   * @param profile - the profile to run under.
   */
  run(profile: Profile): ScenarioOutcome;
}

/** The JSON a scenario run prints (`dmabuf-ref scenario NAME --format json`). */
export interface ScenarioReport {
  /** The scenario's name. */
  readonly scenario: string;
  /** The profile it ran under. */
  readonly profile: string;
  /** Its trace. */
  readonly events: readonly TraceEvent[];
  /** The violations the oracle recorded. */
  readonly violations: readonly Violation[];
  /** The DMA and CPU accesses that faulted (an IOMMU or page fault, never a violation). */
  readonly faults: readonly TraceEvent[];
  /** The expectation and whether it was met. */
  readonly expectation: {
    /** Whether it held. */
    readonly met: boolean;
    /** The expectation, and the verdict. */
    readonly text: string;
  };
}

/**
 * Runs a scenario and builds its report.
 *
 * @param scenario - the scenario.
 * @param profile - the profile to run under.
 * @returns the report.
 */
export function reportScenario(scenario: Scenario, profile: Profile): ScenarioReport {
  const outcome = scenario.run(profile);
  return {
    scenario: scenario.name,
    profile: profile.id,
    events: outcome.events,
    violations: [...outcome.world.violations.values()],
    faults: outcome.events.filter((e) => e.kind === "dma" && e.outcome === "fault"),
    expectation: { met: outcome.met, text: `${scenario.expectation} -- ${outcome.verdict}` },
  };
}
