import { it } from "vitest";
import fc from "fast-check";
import { acceptsArb, offersArb, reference, worldArb } from "./world.js";
for (const conv of [false, true]) it("stats " + String(conv), () => {
  fc.statistics(fc.tuple(worldArb, offersArb, acceptsArb), ([w, o, a]) => {
    const r = reference(w, o, a, conv);
    return r.ok ? (r.converted ? "converted" : "direct") : r.errno === "EINVAL" ? (o.length * a.length === 0 ? "empty" : "einval") : "abort";
  }, { numRuns: 2000 });
});
