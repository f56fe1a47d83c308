/**
 * vfio-pci under `step`'s promises (DESIGN §2a, §3.7): from random worlds
 * reached by core's candidate ops, the driver's own candidates (FLR,
 * reset, memory decode, power, close, unbind) and the kernel's pending
 * continuations, a failed or blocked step returns its input world, and no
 * step throws.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PROFILES, walk, worldsEqual } from "@dmabuf-ref/core";
import { exportVfio, makeWorld } from "./setup.js";

describe("vfio-pci keeps step's promises under every profile", () => {
  it.each(PROFILES.map((p) => ({ profile: p })))(
    "$profile.id: a failed or blocked step of a random walk returns its input world, and no step throws",
    ({ profile }) => {
      const { m, w: w0 } = makeWorld({ profile });
      const start = exportVfio(m, exportVfio(m, w0).world, undefined, "vfio1").world;
      const kinds = new Set<string>();
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 60 }), (picks) => {
          walk(m, start, picks, ({ op, before, outcome }) => {
            kinds.add(op.kind === "driver" ? `driver:${outcome.status}` : op.kind);
            if (outcome.status !== "done") {
              expect(outcome.world).toBe(before);
              expect(worldsEqual(outcome.world, before)).toBe(true);
            }
          });
        }),
        { numRuns: 40 },
      );
      expect(kinds.has("driver:done")).toBe(true);
    },
  );
});
