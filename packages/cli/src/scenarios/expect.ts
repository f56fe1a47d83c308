import { formatKernelError } from "@dmabuf-ref/core";
import type { Result } from "@dmabuf-ref/core";

/**
 * The value of a call a scenario needs to succeed; a failure means the
 * scenario cannot go on under this profile, which is reported, not hidden.
 *
 * @param r - the call's result.
 * @returns its value.
 * @throws ScenarioStopped with the errno.
 */
export function expectOk<T>(r: Result<T>): T {
  if (!r.ok) throw new ScenarioStopped(formatKernelError(r.error));
  return r.value;
}

/** A scenario step failed where the story needs it to succeed (e.g. under another profile). */
export class ScenarioStopped extends Error {
  /**
   * @param reason - the errno and check that stopped it.
   */
  constructor(reason: string) {
    super(reason);
    this.name = "ScenarioStopped";
  }
}
