import type { CallOutcome, StagedOutcome } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import type { MatrixStage } from "./cell.js";
import { refused } from "./recipes.js";
import type { Imported } from "./recipes.js";

/**
 * A cell from an importer entry point's staged outcome (core's
 * `StagedOutcome`): a refusal at the matrix stage its call maps to, or the
 * next step on success. The matrix machine is idle, so a call that would
 * sleep is a bug in the model.
 *
 * @param r - the entry point's outcome.
 * @param stages - the matrix stage of each of its calls.
 * @param call - the entry point, for the error.
 * @param next - what follows a success (e.g. the first fault).
 * @returns the cell's import.
 */
export function fromStaged<Stage extends string, Done extends object>(
  r: StagedOutcome<Stage, Done>,
  stages: Readonly<Record<Stage, MatrixStage>>,
  call: string,
  next: (done: Extract<StagedOutcome<Stage, Done>, { status: "done" }>) => Imported,
): Imported {
  if (r.status === "failed") return refused(r.error, stages[r.stage]);
  if (r.status === "done") return next(r);
  throw new Error(`${call} blocked on an idle machine: ${r.reason}`);
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
export function fromFirstFault(r: CallOutcome<object>, att: number, call: string): Imported {
  return match(r)
    .returnType<Imported>()
    .with({ status: "done" }, (f) => ({ ok: true, world: f.world, att }))
    .with({ status: "failed" }, (f) => refused(f.error, "first map"))
    .with({ status: "blocked" }, (f) => {
      throw new Error(`${call} blocked on an idle machine: ${f.reason}`);
    })
    .exhaustive();
}
