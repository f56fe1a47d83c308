import { match } from "ts-pattern";
import type { KernelError } from "../errors/kernel-error.js";
import { formatKernelError } from "../errors/kernel-error.js";

/**
 * Why negotiation stopped before looking at a pair.
 * - `matched-earlier`: an earlier pair won.
 * - `aborted-earlier`: an earlier `match()` aborted with an errno.
 * - `direct-preferred`: the pair needs a converter, and the converter pass
 *   never ran because a direct pair matched or one aborted.
 *
 * @category Negotiation
 */
export type NotConsideredBecause = "matched-earlier" | "aborted-earlier" | "direct-preferred";

/**
 * What negotiation concluded about one (exporter offer, importer accept)
 * pair: one member per way the kernel's loop can treat a pair
 * (kernel-model §4.2), plus the profile's refusals.
 *
 * @category Negotiation
 */
export type PairOutcome =
  | PairMatched
  | PairSkipped
  | PairAborted
  | PairNoCommonType
  | PairTypeAbsent
  | PairNotExported
  | PairNotConsidered;

/**
 * This pair won: its `match()` (or the converter's) was absent or returned 0.
 *
 * @category Negotiation
 */
export interface PairMatched {
  /** Discriminant. */
  readonly kind: "matched";
}

/**
 * `match()` returned `-EOPNOTSUPP`: skip the pair and keep looking.
 *
 * @category Negotiation
 */
export interface PairSkipped {
  /** Discriminant. */
  readonly kind: "skipped";
  /** The `EOPNOTSUPP` error and its reason. */
  readonly error: KernelError;
}

/**
 * `match()` returned another errno: the negotiation ends with it.
 *
 * @category Negotiation
 */
export interface PairAborted {
  /** Discriminant. */
  readonly kind: "aborted";
  /** The errno the attach fails with, unchanged. */
  readonly error: KernelError;
}

/**
 * Different types, and the profile has no converter between them.
 *
 * @category Negotiation
 */
export interface PairNoCommonType {
  /** Discriminant. */
  readonly kind: "no-common-type";
}

/**
 * A type of the pair does not exist in the active profile.
 *
 * @category Negotiation
 */
export interface PairTypeAbsent {
  /** Discriminant. */
  readonly kind: "type-absent";
  /** The missing type's id. */
  readonly typeId: string;
}

/**
 * The importer module may not use the type (its map helper is not exported to it).
 *
 * @category Negotiation
 */
export interface PairNotExported {
  /** Discriminant. */
  readonly kind: "not-exported";
  /** The importing module. */
  readonly module: string;
  /** The modules the helper is exported to. */
  readonly allowed: readonly string[];
}

/**
 * The loop ended before this pair.
 *
 * @category Negotiation
 */
export interface PairNotConsidered {
  /** Discriminant. */
  readonly kind: "not-considered";
  /** Why the loop never reached it. */
  readonly because: NotConsideredBecause;
}

/**
 * Explains an outcome in one sentence for reports and traces.
 *
 * @param outcome - the pair's outcome.
 * @param profileId - the active profile (named by `type-absent`).
 * @returns the sentence.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describePairOutcome, kernelError } from "@dmabuf-ref/core";
 *
 * const skipped = describePairOutcome(
 *   { kind: "skipped", error: kernelError("EOPNOTSUPP", "not P2P reachable") },
 *   "linux-7.1",
 * );
 * assert.equal(skipped, "skipped: EOPNOTSUPP: not P2P reachable");
 * assert.equal(
 *   describePairOutcome({ kind: "type-absent", typeId: "pal" }, "linux-7.1"),
 *   "type pal does not exist in linux-7.1",
 * );
 * ```
 * @category Negotiation
 */
export function describePairOutcome(outcome: PairOutcome, profileId: string): string {
  return match(outcome)
    .with({ kind: "matched" }, () => "match: chosen")
    .with({ kind: "skipped" }, (o) => `skipped: ${formatKernelError(o.error)}`)
    .with({ kind: "aborted" }, (o) => `aborted negotiation: ${formatKernelError(o.error)}`)
    .with({ kind: "no-common-type" }, () => "different types and no converter between them")
    .with({ kind: "type-absent" }, (o) => `type ${o.typeId} does not exist in ${profileId}`)
    .with(
      { kind: "not-exported" },
      (o) => `map helper is exported only to ${o.allowed.join(", ")}, not to ${o.module}`,
    )
    .with({ kind: "not-considered" }, (o) =>
      match(o.because)
        .with("matched-earlier", () => "not considered: an earlier pair matched")
        .with("aborted-earlier", () => "not considered: negotiation aborted earlier")
        .with("direct-preferred", () => "not considered: converted pairs come after direct ones")
        .exhaustive(),
    )
    .exhaustive();
}
