import { match } from "ts-pattern";
import type { CallOutcome, StepOutcome } from "./outcome.js";
import { blocked, done, failed } from "./outcome.js";

/**
 * The outcome of an importer entry point that makes several kernel calls
 * in a row (`ib_umem_dmabuf_get_pinned`: attach, pin, map; a KVM memslot:
 * checks, then attach), saying *which* call refused: DESIGN §3.2's stages,
 * so "why did this import fail?" is answered without guessing.
 *
 * @typeParam Stage - the entry point's calls, by name.
 * @typeParam Done - what success carries besides the world and events.
 */
export type StagedOutcome<Stage extends string, Done extends object> = CallOutcome<
  Done,
  {
    /** The call that refused. */
    readonly stage: Stage;
  }
>;

/**
 * A staged outcome as a plain {@link StepOutcome} (the stage dropped), for
 * the entry point's `step`-style variant and driver actions.
 *
 * @param r - the staged outcome.
 * @param created - the id success created, if any.
 * @returns the step outcome.
 */
export function unstaged<Stage extends string, Done extends object>(
  r: StagedOutcome<Stage, Done>,
  created?: (d: Done) => number,
): StepOutcome {
  // ts-pattern cannot narrow an open generic union: match its closed shape.
  const closed: StagedOutcome<string, object> = r;
  return match(closed)
    .returnType<StepOutcome>()
    .with({ status: "failed" }, (x) => failed(x.world, x.error))
    .with({ status: "blocked" }, (x) => blocked(x.world, "resv", x.reason))
    .with({ status: "done" }, (x) =>
      done(x.world, x.events, r.status === "done" ? created?.(r) : undefined),
    )
    .exhaustive();
}
