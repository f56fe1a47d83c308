/**
 * What `step` keeps indexed instead of scanning (issue 10): each buffer's
 * revoke or un-revoke task and its count of unsignalled fences. The index
 * must always say what a scan of the tasks and jobs would.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  boot,
  referenceMachine,
  firstFitIn,
  regionContaining,
  regionNamed,
  walk,
} from "@dmabuf-ref/core";
import { PTable, grantsOfRegion } from "@dmabuf-ref/core/encoding";
import type { RegionState, RegionStatus, World } from "@dmabuf-ref/core";

function scanned(w: World, buf: number): { task: number | null; fences: number } {
  let task: number | null = null;
  for (const [id, t] of w.tasks.entries()) if (t.buf === buf) task = id;
  let fences = 0;
  for (const j of w.jobs.values()) if (j.buf === buf) fences++;
  return { task, fences };
}

/**
 * Runs `check` on the world after every step of 150 random walks of the
 * reference machine (up to 60 ops each, picked from the enabled ones).
 */
function afterEveryStep(check: (w: World) => void): void {
  const m = referenceMachine();
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 60 }), (picks) => {
      walk(m, boot(m), picks, ({ outcome }) => {
        check(outcome.world);
      });
    }),
    { numRuns: 150 },
  );
}

describe("per-buffer indexes", () => {
  it("a buffer's task and fence count always equal what a scan of tasks and jobs finds", () => {
    afterEveryStep((w) => {
      for (const [id, b] of w.bufs.entries()) {
        expect({ task: b.task, fences: b.fences }).toEqual(scanned(w, id));
      }
    });
  });
});

describe("marked tables and the domains' IOVA index", () => {
  it("marked buffers are those whose resv is held, marked attachments those invalidated and still mapped, after every step", () => {
    afterEveryStep((w) => {
      const held = [...w.bufs.entries()].filter(([, b]) => b.resvHolder !== null);
      expect([...w.bufs.index.held.keys()]).toEqual(held.map(([id]) => id));
      const owing = [...w.atts.entries()].filter(([, a]) => a.mapping !== null && a.invalidated);
      expect([...w.atts.index.keys()]).toEqual(owing.map(([id]) => id));
    });
  });

  it("each domain's mappings are in IOVA order, never overlap, and each is found by its first IOVA and by any byte it covers", () => {
    afterEveryStep((w) => {
      for (const d of w.domains.values()) {
        const ms = [...d.mappings.values()];
        expect(ms.length).toBe(d.mappings.size);
        ms.forEach((m, i) => {
          const next = ms[i + 1];
          if (next !== undefined) expect(m.iova + m.len <= next.iova).toBe(true);
          expect(d.mappings.at(m.iova)).toBe(m);
          expect(d.mappings.covering(m.iova + m.len - 1n, 1n)).toBe(m);
          expect(d.mappings.overlapping(m.iova, m.len)).toBe(m);
        });
      }
    });
  });
});

describe("the grant index", () => {
  it("each region's indexed grants are exactly the grants naming it, after every step", () => {
    afterEveryStep((w) => {
      const byRegion = new Map<number, number[]>();
      for (const [id, g] of w.grants.entries()) {
        // A grant names a region the world still has, by id and by name.
        expect(w.regions.get(g.regionId)?.id).toBe(g.region);
        byRegion.set(g.regionId, [...(byRegion.get(g.regionId) ?? []), id]);
      }
      for (const rid of w.regions.keys()) {
        expect([...grantsOfRegion(w.grants.index, rid)]).toEqual(byRegion.get(rid) ?? []);
      }
      // No group is left behind for a region whose grants are all gone.
      expect([...w.grants.index.keys()]).toEqual([...byRegion.keys()].sort((a, b) => a - b));
    });
  });
});

describe("the region index", () => {
  const statusArb = fc.constantFrom<RegionStatus>("live", "inaccessible", "freed");
  const regionArb = fc.record({
    base: fc.bigInt({ min: 0n, max: 64n }),
    size: fc.bigInt({ min: 1n, max: 64n }),
    status: statusArb,
  });

  /** The definition: smallest owned region containing the range; a freed one only if strictly smaller. */
  function bruteContaining(t: PTable<RegionState>, phys: bigint, len: bigint): number | undefined {
    let owned: [number, RegionState] | undefined;
    let freed: [number, RegionState] | undefined;
    for (const [id, r] of t.entries()) {
      if (phys < r.base || phys + len > r.base + r.size) continue;
      if (r.status !== "freed") {
        if (owned === undefined || r.size < owned[1].size) owned = [id, r];
      } else if (freed === undefined || r.size < freed[1].size) freed = [id, r];
    }
    const best =
      freed !== undefined && (owned === undefined || freed[1].size < owned[1].size) ? freed : owned;
    return best?.[0];
  }

  it("regionContaining and regionNamed answer what a scan of the regions answers", () => {
    fc.assert(
      fc.property(
        fc.array(regionArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 140n }), fc.bigInt({ min: 0n, max: 20n })), {
          maxLength: 20,
        }),
        (regions, probes) => {
          const w0 = boot(referenceMachine());
          // An empty region table of the World's own codec.
          let t = w0.regions;
          for (const id of [...t.keys()]) t = t.delete(id);
          regions.forEach((r, i) => {
            t = t.set(i + 1, { id: `r${String(i % 5)}`, kind: "ram", busOffset: 0n, ...r });
          });
          const w: World = { ...w0, regions: t };
          for (const [phys, len] of probes) {
            expect(regionContaining(w, phys, len)?.[0]).toBe(bruteContaining(t, phys, len));
          }
          for (let i = 0; i < 6; i++) {
            const name = `r${String(i)}`;
            // The lowest id holding the name and not freed; a freed one only when no other has it.
            const named = [...t.entries()].filter(([, r]) => r.id === name);
            const want = (named.find(([, r]) => r.status !== "freed") ?? named[0])?.[0];
            expect(regionNamed(w, name)?.[0]).toBe(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  /** First fit the slow way: every non-freed region starting inside the parent and every promised range, sorted. */
  function bruteFirstFit(
    t: PTable<RegionState>,
    parentId: number,
    size: bigint,
    reserved: readonly { base: bigint; size: bigint }[],
  ): bigint | undefined {
    const parent = t.get(parentId);
    if (parent === undefined) throw new Error("no parent");
    const end = parent.base + parent.size;
    const taken: { base: bigint; size: bigint }[] = [...reserved];
    for (const [id, r] of t.entries()) {
      if (id === parentId || r.status === "freed") continue;
      // A sub-region that runs past the parent's end still holds the memory it starts in.
      if (r.base >= parent.base && r.base < end) taken.push(r);
    }
    taken.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
    let at = parent.base;
    for (const x of taken) {
      if (x.base >= at + size) break;
      if (x.base + x.size > at) at = x.base + x.size;
    }
    return at + size <= end ? at : undefined;
  }

  it("firstFitIn finds the hole a sorted scan of the parent's live sub-regions and promised ranges finds", () => {
    fc.assert(
      fc.property(
        fc.array(regionArb, { maxLength: 12 }),
        fc.array(
          fc.record({
            base: fc.bigInt({ min: 0n, max: 140n }),
            size: fc.bigInt({ min: 1n, max: 16n }),
          }),
          {
            maxLength: 3,
          },
        ),
        fc.bigInt({ min: 1n, max: 40n }),
        fc.bigInt({ min: 0n, max: 40n }),
        (regions, reserved, size, parentBase) => {
          const w0 = boot(referenceMachine());
          let t = w0.regions;
          for (const id of [...t.keys()]) t = t.delete(id);
          t = t.set(1, {
            id: "parent",
            kind: "ram",
            busOffset: 0n,
            base: parentBase,
            size: 100n,
            status: "live",
          });
          regions.forEach((r, i) => {
            t = t.set(i + 2, { id: `r${String(i)}`, kind: "ram", busOffset: 0n, ...r });
          });
          const w: World = { ...w0, regions: t };
          expect(firstFitIn(w, "parent", size, reserved)).toBe(bruteFirstFit(t, 1, size, reserved));
        },
      ),
      { numRuns: 300 },
    );
  });
});
