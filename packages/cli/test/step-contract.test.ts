/**
 * Every built-in driver under `step`'s promises (DESIGN §2a, §3.7), on the
 * matrix machine (vfio-pci, gpu, rdma exporters; iommufd, kvm, rdma
 * importers): from worlds reached by random candidate and pending ops, a
 * failed or blocked step returns its input world, and no step throws.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PROFILES, boot, candidateOps, pendingOps, step, worldsEqual } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";
import { matrixMachine } from "../src/matrix/machine.js";
import { MATRIX_EXPORTERS } from "../src/matrix/registry.js";

describe("every built-in driver keeps step's promises", () => {
  it.each(PROFILES.map((p) => ({ profile: p })))(
    "$profile.id: a failed or blocked step of a random walk over every driver returns its input world",
    ({ profile }) => {
      const m = matrixMachine(profile);
      // One buffer of every exporter that can export under this profile.
      let start = boot(m);
      for (const recipe of MATRIX_EXPORTERS) {
        const e = recipe.export(m, start);
        if (e.ok) start = e.world;
      }
      const drivers = new Set<string>();
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 40 }), (picks) => {
          let w: World = start;
          for (const p of picks) {
            const ops = [...candidateOps(m, w), ...pendingOps(m, w)];
            const op = ops[p % ops.length];
            if (op === undefined) break;
            const r = step(m, w, op);
            if (op.kind === "driver") drivers.add(op.driver);
            if (r.status === "done") {
              w = r.world;
            } else {
              expect(r.world).toBe(w);
              expect(worldsEqual(r.world, w)).toBe(true);
            }
          }
        }),
        { numRuns: 25 },
      );
      expect(drivers.size).toBeGreaterThanOrEqual(3);
    },
  );
});
