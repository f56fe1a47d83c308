/*
 * A contract case: a stable id, the rule it checks in one sentence, and
 * a check that either passes or names the broken rule with a shortest
 * trace. The suites register cases with vitest; `checkExporter` and
 * friends run them without vitest (the zoo test, the zoo table).
 */
import { EMAIL_WIDTH, wrapLine } from "@dmabuf-ref/core";
import type { RunStep } from "./explorer.js";
import { runText } from "./explorer.js";

/**
 * What a case concluded.
 *
 * @category Contract suites
 */
export type CaseVerdict =
  | {
      /** The rule held. */
      readonly status: "pass";
      /** What was checked, for a report (e.g. "412 states, every interleaving"). */
      readonly detail?: string;
    }
  | {
      /** The rule was broken. */
      readonly status: "fail";
      /** The rule broken, in the kernel's terms (may be more specific than the case's). */
      readonly rule: string;
      /** A shortest run that breaks it (empty when a single call shows it). */
      readonly run: readonly RunStep[];
      /** One sentence more, when the run needs it. */
      readonly detail?: string;
    }
  | {
      /** The case does not apply to this driver (it has no such entry point). */
      readonly status: "not-applicable";
      /** Why. */
      readonly reason: string;
    };

/**
 * One case of a suite.
 *
 * @typeParam C - what the case runs on (the suite's context for one profile).
 * @category Contract suites
 */
export interface ContractCase<C> {
  /** Stable id, `<suite>/<rule>`, e.g. `exporter/revoke-completes`: skip by this. */
  readonly id: string;
  /** The rule, one sentence, citing the kernel's documentation or commit. */
  readonly rule: string;
  /**
   * Runs the case.
   *
   * @param ctx - the suite's context.
   * @returns the verdict.
   */
  check(ctx: C): CaseVerdict;
}

/**
 * A case the consumer skipped (`options.skip`), with the reason.
 *
 * @category Contract suites
 */
export interface Skipped {
  /** Skipped. */
  readonly status: "skipped";
  /** The consumer's reason. */
  readonly reason: string;
}

/**
 * A case's verdict under one profile.
 *
 * @category Contract suites
 */
export interface CaseResult {
  /** The case id. */
  readonly id: string;
  /** The case's rule. */
  readonly rule: string;
  /** The profile. */
  readonly profile: string;
  /** The verdict (`skipped` with the consumer's reason when skipped). */
  readonly verdict: CaseVerdict | Skipped;
}

/**
 * The error a failed case throws in vitest: the broken rule first, then
 * the shortest trace, as `dmabuf-ref explore` prints a counterexample.
 *
 * @category Contract suites
 */
export class ContractFailure extends Error {
  /**
   * @param id - the case id.
   * @param rule - the broken rule.
   * @param run - the shortest run.
   * @param detail - one sentence more.
   */
  constructor(
    readonly id: string,
    readonly rule: string,
    readonly run: readonly RunStep[],
    detail?: string,
  ) {
    super(failureText(id, rule, run, detail));
    this.name = "ContractFailure";
  }
}

/**
 * A failed case as text: the case id, the broken rule, and the run.
 *
 * @param id - the case id.
 * @param rule - the broken rule.
 * @param run - the shortest run.
 * @param detail - one sentence more.
 * @returns the text.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { failureText } from "@dmabuf-ref/contracts";
 *
 * const text = failureText(
 *   "importer/revoke-unmaps",
 *   "an importer with invalidate_mappings unmaps in bounded steps",
 *   [{ actor: "user", text: "revoke buf=1 permanent=true by=close", outcome: "blocked",
 *     events: [] }],
 * );
 * // At most 72 columns, to paste into a mailing-list reply.
 * assert.deepEqual(text.split("\n"), [
 *   "importer/revoke-unmaps: broken rule: an importer with",
 *   "invalidate_mappings unmaps in bounded steps",
 *   "shortest run, 1 step:",
 *   "1. user: revoke buf=1 permanent=true by=close -> blocked",
 * ]);
 * ```
 * @category Contract suites
 */
export function failureText(
  id: string,
  rule: string,
  run: readonly RunStep[],
  detail?: string,
): string {
  // Pasted into a mailing-list reply as it is: 72 columns like every trace.
  const wrap = (text: string): string => wrapLine(text, EMAIL_WIDTH, 0).join("\n");
  const head = wrap(`${id}: broken rule: ${rule}`);
  const more = detail === undefined ? "" : `\n${wrap(detail)}`;
  if (run.length === 0) return head + more;
  return `${head}${more}\nshortest run, ${run.length} step${run.length === 1 ? "" : "s"}:\n${runText(run)}`;
}

/** A passing verdict. */
export const PASS: CaseVerdict = { status: "pass" };

/**
 * A failing verdict.
 *
 * @param rule - the broken rule.
 * @param run - the shortest run.
 * @param detail - one sentence more.
 * @returns the verdict.
 */
export function broken(rule: string, run: readonly RunStep[] = [], detail?: string): CaseVerdict {
  return detail === undefined
    ? { status: "fail", rule, run }
    : { status: "fail", rule, run, detail };
}
