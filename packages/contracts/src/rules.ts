/*
 * The rules every suite judges on every state, worded once: the oracle's
 * violations, and a run that ends with a call still waiting.
 */
import type { Violation } from "@dmabuf-ref/core";
import type { ContractSpace, ContractState } from "./explorer.js";

/**
 * A violation the oracle recorded, as the broken rule with its specifics.
 *
 * @param v - the violation.
 * @returns e.g. `no access after the owner ... (access-after-revoke: dev1 read ...)`.
 */
export function violationRule(v: Violation): string {
  return `${v.rule} (${v.kind} by ${v.actor}: ${v.message})`;
}

/**
 * In a state where nothing can run: the rule a waiting thread or an
 * unfinished kernel task breaks, or undefined when every call returned and
 * every task finished.
 *
 * @param s - a terminal state.
 * @param space - its space.
 * @returns the broken rule, or undefined.
 */
export function deadlockRule(s: ContractState, space: ContractSpace): string | undefined {
  const waiting = space.threads.find((t, i) => (s.pcs[i] ?? 0) < t.calls.length);
  if (waiting !== undefined)
    return `every call returns in bounded steps (${waiting.name}'s call ${(s.pcs[space.threads.indexOf(waiting)] ?? 0) + 1} waits for ever)`;
  const task = s.world.tasks.values().next();
  if (task.done !== true)
    return (
      `a ${task.value.kind} completes in bounded steps once every importer unmapped ` +
      `(the ${task.value.kind} of buf ${task.value.buf} waits for ever)`
    );
  return undefined;
}
