import type { Machine, Op, Profile, World } from "@dmabuf-ref/core";
/**
 * Every built-in driver under `step`'s promises (DESIGN §2a, §3.7), on the
 * matrix machine (vfio-pci, gpu, rdma exporters; iommufd, kvm, rdma
 * importers): from worlds reached by random candidate and pending ops, a
 * failed or blocked step returns its input world, and no step throws.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  boot,
  linux71,
  parseOp,
  plainOp,
  PROFILES,
  proposalConverters,
  step,
  walk,
  worldsEqual,
} from "@dmabuf-ref/core";
import { grantsOfRegion } from "@dmabuf-ref/core/encoding";
import { matrixMachine } from "../src/matrix/machine.js";
import { MATRIX_EXPORTERS } from "../src/matrix/registry.js";

/** The matrix machine under a profile, with one buffer of every exporter that can export under it. */
function matrixStart(profile: Profile): { m: Machine; start: World } {
  const m = matrixMachine(profile);
  let start = boot(m);
  for (const recipe of MATRIX_EXPORTERS) {
    const e = recipe.export(m, start);
    if (e.ok) start = e.world;
  }
  return { m, start };
}

describe("every built-in driver keeps step's promises", () => {
  it.each(PROFILES.map((p) => ({ profile: p })))(
    "$profile.id: a failed or blocked step of a random walk over every driver returns its input world",
    ({ profile }) => {
      const { m, start } = matrixStart(profile);
      const drivers = new Set<string>();
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 40 }), (picks) => {
          walk(m, start, picks, ({ op, before, outcome }) => {
            if (op.kind === "driver") drivers.add(op.driver);
            // The grant index stays exactly the grants, whichever driver made or ended them.
            for (const [id, g] of outcome.world.grants.entries()) {
              expect(grantsOfRegion(outcome.world.grants.index, g.regionId)).toContain(id);
              expect(outcome.world.regions.get(g.regionId)?.id).toBe(g.region);
            }
            let indexed = 0;
            for (const rid of outcome.world.grants.index.keys()) {
              indexed += grantsOfRegion(outcome.world.grants.index, rid).length;
            }
            expect(indexed).toBe(outcome.world.grants.size);
            if (outcome.status !== "done") {
              expect(outcome.world).toBe(before);
              expect(worldsEqual(outcome.world, before)).toBe(true);
            }
          });
        }),
        { numRuns: 25 },
      );
      expect(drivers.size).toBeGreaterThanOrEqual(3);
    },
  );
});

describe("releases undo every pin the attachment holds", () => {
  it("ib_umem_release of an ODP umem whose attachment was also pinned in the importer's name unpins it and detaches", () => {
    const { m, start } = matrixStart(proposalConverters);
    const vfioBuf = [...start.bufs.entries()].find(([, b]) => b.exporter === "vfio-pci")?.[0];
    if (vfioBuf === undefined) throw new Error("no VFIO dma-buf");
    const run = (w: typeof start, op: Op): typeof start => {
      const r = step(m, w, op);
      if (r.status !== "done") throw new Error(`${op.kind} did not run: ${r.status}`);
      return r.world;
    };
    const get: Op = {
      kind: "driver",
      driver: "rdma-odp",
      action: {
        op: "ib_umem_dmabuf_get",
        device: "vfio0",
        fd: vfioBuf,
        offset: 0n,
        size: 0x20_0000n,
      },
    };
    let w = run(start, get);
    const att = [...w.atts.entries()].find(([, a]) => a.importer === "rdma-odp")?.[0];
    if (att === undefined) throw new Error("no ODP attachment");
    w = run(w, { kind: "pin", att, holder: `rdma-odp#attach ${String(att)}` });
    expect(w.atts.get(att)?.pins).toBe(1);
    w = run(w, { kind: "driver", driver: "rdma-odp", action: { op: "ib_umem_release", att } });
    expect(w.atts.get(att)).toBeUndefined();
  });
});

describe("every op of every built-in driver has a plain form", () => {
  it("each candidate and pending op reads back from { op, driver?, ...fields } and steps alike", () => {
    const { m, start } = matrixStart(linux71);
    const named = new Set<string>();
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 30 }), (picks) => {
        walk(m, start, picks, ({ op, before, outcome }) => {
          const back = parseOp(m, plainOp(op));
          expect(
            back.success,
            JSON.stringify(plainOp(op), (_k, v: unknown) => String(v)),
          ).toBe(true);
          if (!back.success) return;
          if (back.data.kind === "driver") named.add(back.data.driver);
          const again = step(m, before, back.data);
          expect(again.status).toBe(outcome.status);
          expect(worldsEqual(again.world, outcome.world)).toBe(true);
        });
      }),
      { numRuns: 20 },
    );
    expect(named.size).toBeGreaterThanOrEqual(3);
  });
});
