/**
 * What `step` keeps indexed instead of scanning (issue 10): each buffer's
 * revoke or un-revoke task and its count of unsignalled fences. The index
 * must always say what a scan of the tasks and jobs would.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { boot, referenceMachine, walk } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";

function scanned(w: World, buf: number): { task: number | null; fences: number } {
  let task: number | null = null;
  for (const [id, t] of w.tasks.entries()) if (t.buf === buf) task = id;
  let fences = 0;
  for (const j of w.jobs.values()) if (j.buf === buf) fences++;
  return { task, fences };
}

describe("per-buffer indexes", () => {
  it("a buffer's task and fence count always equal what a scan of tasks and jobs finds", () => {
    const m = referenceMachine();
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 60 }), (picks) => {
        walk(m, boot(m), picks, ({ outcome }) => {
          for (const [id, b] of outcome.world.bufs.entries()) {
            expect({ task: b.task, fences: b.fences }).toEqual(scanned(outcome.world, id));
          }
        });
      }),
      { numRuns: 150 },
    );
  });
});
