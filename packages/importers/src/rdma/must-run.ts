import type { StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";

/**
 * The world and events of a step the RDMA umem code cannot see fail (its
 * own resv, its own unmap): anything else is a bug in the model.
 *
 * @param r - the step's outcome.
 * @param what - the kernel call, for the error.
 * @returns the step's world and events.
 * @throws when the step failed or blocked.
 */
export function mustRun(
  r: StepOutcome,
  what: string,
): { world: World; events: readonly TraceEvent[] } {
  if (r.status !== "done") {
    throw new Error(
      `rdma: ${what} did not run: ${r.status === "failed" ? r.error.message : r.reason}`,
    );
  }
  return r;
}
