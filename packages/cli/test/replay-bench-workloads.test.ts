/**
 * The replay benchmark (issue 10: replay time grows linearly with the
 * number of calls) measures nothing if the replay rejects its file or
 * answers its calls with errnos. Not a timed test: it replays each workload
 * at a small length and checks every call succeeded.
 */
import { describe, expect, it } from "vitest";
import { boot, linux71 } from "@dmabuf-ref/core";
import { replay } from "../src/replay/run.js";
import { replayFileSchema } from "../src/replay/schema.js";
import { standardMachine } from "../src/scenarios/machine.js";
import { REPLAY_WORKLOADS, workloadCalls } from "../bench/replay-workloads.js";

describe("the replay benchmark's workloads", () => {
  it.each(REPLAY_WORKLOADS.map((w) => ({ workload: w })))(
    "$workload replays every call without an errno",
    ({ workload }) => {
      const file = replayFileSchema.parse({
        profile: "linux-7.1",
        calls: workloadCalls(workload, 40),
      });
      const m = standardMachine(linux71);
      const r = replay(m, boot(m), file);
      expect(r.results.length).toBe(file.calls.length);
      expect(r.results.filter((x) => !x.ok)).toEqual([]);
    },
  );
});
