/**
 * `defineDriver` (issue 10): one definition per driver gives the machine's
 * driver object, its slices by name and a typed builder of its ops; `step`
 * runs what the builder writes, and refuses a malformed one with EINVAL.
 */
import { describe, expect, it } from "vitest";
import * as z from "zod";
import {
  boot,
  defineDriver,
  defineSlice,
  done,
  intCodec,
  readSlice,
  referenceMachine,
  referenceImporter,
  step,
  writeSlice,
} from "@dmabuf-ref/core";

const counter = defineSlice("counter", intCodec, 0);
const actions = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("bump"), by: z.number().int().min(1) }),
  z.strictObject({ op: z.literal("reset") }),
]);

const counting = defineDriver({
  role: "importer",
  name: "counting",
  slices: { counter },
  actions: {
    schema: actions,
    models: { bump: "a counter the test bumps", reset: "the counter's reset" },
    run: (m, w, a, self) =>
      done(
        writeSlice(
          m,
          w,
          self,
          counter,
          a.op === "bump" ? readSlice(m, w, self, counter) + a.by : 0,
        ),
        [],
      ),
  },
  callbacks: { ...referenceImporter({ name: "counting" }) },
});

describe("defineDriver", () => {
  it("gives the machine a driver whose slices, ops and callbacks come from one definition", () => {
    expect(counting.name).toBe("counting");
    expect(counting.slices).toEqual([counter]);
    expect(counting.state.counter).toBe(counter);
    expect(counting.ops?.map((o) => o.name)).toEqual(["bump", "reset"]);
    expect(counting.allowPeer2peer).toBe(true);
    expect(Object.isFrozen(counting)).toBe(true);
  });

  it("step runs the ops its typed builder writes, and the slice reads back typed", () => {
    const m = referenceMachine({ importers: [counting] });
    let w = boot(m);
    for (const op of [counting.op({ op: "bump", by: 2 }), counting.op({ op: "bump", by: 3 })]) {
      const r = step(m, w, op);
      if (r.status !== "done") throw new Error(`bump did not run: ${r.status}`);
      w = r.world;
    }
    expect(readSlice(m, w, counting.name, counting.state.counter)).toBe(5);
    const reset = step(m, w, counting.op({ op: "reset" }));
    expect(reset.status === "done" ? readSlice(m, reset.world, "counting", counter) : -1).toBe(0);
  });

  it("a malformed action is EINVAL with the world unchanged (the schema is checked before the handler)", () => {
    const m = referenceMachine({ importers: [counting] });
    const w = boot(m);
    const r = step(m, w, { kind: "driver", driver: "counting", action: { op: "bump", by: 0 } });
    expect(r.status).toBe("failed");
    if (r.status === "failed") {
      expect(r.error.errno).toBe("EINVAL");
      expect(r.world).toBe(w);
    }
  });
});
