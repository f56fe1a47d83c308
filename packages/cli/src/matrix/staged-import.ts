import type { StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import type { MatrixStage } from "./cell.js";
import { refused } from "./recipes.js";
import type { Imported } from "./recipes.js";

/**
 * A cell from an importer entry point's step: a refusal at the matrix stage
 * its failed call (core's `FailedArm.stage`) maps to, or the next step on
 * success with the attachment it created. The matrix machine is idle, so a
 * call that would sleep is a bug in the model.
 *
 * @param r - the entry point's outcome.
 * @param stages - the matrix stage of each of its calls.
 * @param call - the entry point, for the error.
 * @param next - what follows a success (e.g. the first fault), given the new world and attachment.
 * @returns the cell's import.
 */
export function fromStaged<Stage extends string>(
  r: StepOutcome,
  stages: Readonly<Record<Stage, MatrixStage>>,
  call: string,
  next: (world: World, att: number) => Imported,
): Imported {
  if (r.status === "failed") {
    const stage = Object.entries<MatrixStage>(stages).find(([k]) => k === r.stage)?.[1];
    if (stage === undefined)
      throw new Error(`${call} failed at an unknown stage ${r.stage ?? "(none)"}`);
    return refused(r.error, stage);
  }
  if (r.status === "blocked") throw new Error(`${call} blocked on an idle machine: ${r.reason}`);
  if (r.created === undefined) throw new Error(`${call} created no attachment`);
  return next(r.world, r.created);
}

/**
 * A cell from the importer's first fault, the cell's "first map": the
 * importer maps at fault time (KVM's `get_pfn`, an ODP MR's map_pages).
 *
 * @param r - the fault's outcome.
 * @param att - the importer's attachment.
 * @param call - the fault, for the error.
 * @returns the cell's import.
 */
export function fromFirstFault(r: StepOutcome, att: number, call: string): Imported {
  return match(r)
    .returnType<Imported>()
    .with({ status: "done" }, (f) => ({ ok: true, world: f.world, att }))
    .with({ status: "failed" }, (f) => refused(f.error, "first map"))
    .with({ status: "blocked" }, (f) => {
      throw new Error(`${call} blocked on an idle machine: ${f.reason}`);
    })
    .exhaustive();
}
