/**
 * Properties of negotiation (kernel-model §4.2, §7.12, §7.14) over generated
 * offer/accept lists drawn from a small pool of test types whose match()
 * answers 0, EOPNOTSUPP or an aborting errno from a generated table.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { negotiate, p2pTopology } from "@dmabuf-ref/core";
import type { NegotiationResult } from "@dmabuf-ref/core";
import { at, expectFailure, expectMatch } from "./helpers.js";
import {
  ABSENT,
  SPARE,
  acceptsArb,
  buildWorld,
  converts,
  offersArb,
  reference,
  worldArb,
} from "./world.js";
import type { AcceptSpec, OfferSpec, WorldSpec } from "./world.js";

const runs = { numRuns: 300 };
const extraArb = fc.record({ pick: fc.nat(), v: fc.integer({ min: 0, max: 2 }) });

function run(spec: WorldSpec, os: readonly OfferSpec[], as: readonly AcceptSpec[], conv: boolean) {
  const w = buildWorld(spec, conv);
  return { w, r: negotiate(w.offers(os), w.accepts(as), w.profile, p2pTopology()) };
}

/** The chosen pair, or the errno: what an appended unreachable offer must not change. */
function decision(r: NegotiationResult): string {
  return r.ok ? `match ${r.match.exporterIndex},${r.match.importerIndex}` : `fail ${r.error.errno}`;
}

/** A type no accept names and no converter takes to an accepted type. */
function unreachableType(as: readonly AcceptSpec[], conv: boolean, pick: number): number {
  const candidates = [0, 1, 2, 3, ABSENT, SPARE].filter((t) =>
    as.every((a) => a.t !== t && !converts(conv, t, a.t)),
  );
  return at(candidates, pick % candidates.length);
}

describe.each([
  ["without converters", false],
  ["with converters", true],
] as const)("negotiation properties %s", (_label, conv) => {
  it("negotiation is deterministic: the same lists give deep-equal results", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const w = buildWorld(spec, conv);
        const first = negotiate(w.offers(os), w.accepts(as), w.profile, p2pTopology());
        const again = negotiate(w.offers(os), w.accepts(as), w.profile, p2pTopology());
        expect(again).toEqual(first);
      }),
      runs,
    );
  });

  it("the report lists every (exporterIndex, importerIndex) pair exactly once, exporter-major", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const { w, r } = run(spec, os, as, conv);
        expect(r.pairs).toHaveLength(os.length * as.length);
        r.pairs.forEach((p, k) => {
          const e = Math.floor(k / as.length);
          const i = k % as.length;
          expect([p.exporterIndex, p.importerIndex]).toEqual([e, i]);
          expect(p.exporterType).toBe(at(w.types, at(os, e).t).id);
          expect(p.importerType).toBe(at(w.types, at(as, i).t).id);
        });
      }),
      runs,
    );
  });

  it("appending an offer whose type no accept names and no converter reaches changes nothing", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, extraArb, (spec, os, as, extra) => {
        const appended = { t: unreachableType(as, conv, extra.pick), v: extra.v };
        const before = run(spec, os, as, conv).r;
        const after = run(spec, [...os, appended], as, conv).r;
        expect(decision(after)).toBe(decision(before));
        for (const p of after.pairs.filter((q) => q.exporterIndex === os.length)) {
          expect(["no-common-type", "not-considered"]).toContain(p.outcome.kind);
        }
      }),
      runs,
    );
  });

  it("a success is the reference loop's first acceptable pair in exporter-major order", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const want = reference(spec, os, as, conv);
        fc.pre(want.ok);
        const { w, r } = run(spec, os, as, conv);
        const m = expectMatch(r);
        expect([m.exporterIndex, m.importerIndex]).toEqual([want.e, want.i]);
        expect(m.type).toBe(at(w.types, at(as, m.importerIndex).t));
        expect(m.exporterType).toBe(at(w.types, at(os, m.exporterIndex).t));
        expect(m.converter !== undefined).toBe(want.converted);
      }),
      runs,
    );
  });

  it("a failure is the aborting errno unchanged, or EINVAL when no pair is acceptable", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const want = reference(spec, os, as, conv);
        fc.pre(!want.ok);
        const f = expectFailure(run(spec, os, as, conv).r);
        expect(f.stage).toBe("negotiation");
        expect(f.error.errno).toBe(want.errno);
        if (want.message !== undefined) expect(f.error.message).toBe(want.message);
      }),
      runs,
    );
  });
});

describe("negotiation properties without converters: the loop stops at the decision", () => {
  it("pairs after an aborting errno are not-considered (aborted-earlier); pairs before it were judged", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const { r } = run(spec, os, as, false);
        const k = r.pairs.findIndex((p) => p.outcome.kind === "aborted");
        fc.pre(k >= 0);
        expect(at(r.pairs, k).outcome).toEqual({ kind: "aborted", error: expectFailure(r).error });
        for (const p of r.pairs.slice(k + 1)) {
          expect(p.outcome).toEqual({ kind: "not-considered", because: "aborted-earlier" });
        }
        for (const p of r.pairs.slice(0, k)) expect(p.outcome.kind).not.toBe("not-considered");
      }),
      runs,
    );
  });

  it("pairs after the matched pair are not-considered (matched-earlier); pairs before it were judged", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const { r } = run(spec, os, as, false);
        const k = r.pairs.findIndex((p) => p.outcome.kind === "matched");
        fc.pre(k >= 0);
        for (const p of r.pairs.slice(k + 1)) {
          expect(p.outcome).toEqual({ kind: "not-considered", because: "matched-earlier" });
        }
        for (const p of r.pairs.slice(0, k)) expect(p.outcome.kind).not.toBe("not-considered");
      }),
      runs,
    );
  });
});

describe("negotiation properties with converters: a direct match beats a converted one", () => {
  it("when a direct pair matches or aborts, every pair that needs a converter is not-considered (direct-preferred)", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const { r } = run(spec, os, as, true);
        const direct = r.pairs.find(
          (p) => p.converter === undefined && ["matched", "aborted"].includes(p.outcome.kind),
        );
        fc.pre(direct !== undefined);
        for (const p of r.pairs.filter((q) => q.converter !== undefined)) {
          expect(p.outcome).toEqual({ kind: "not-considered", because: "direct-preferred" });
        }
      }),
      runs,
    );
  });

  it("a converted pair wins only when no same-type pair matched or aborted", () => {
    fc.assert(
      fc.property(worldArb, offersArb, acceptsArb, (spec, os, as) => {
        const { r } = run(spec, os, as, true);
        fc.pre(r.ok && r.match.converter !== undefined);
        for (const p of r.pairs.filter((q) => q.exporterType === q.importerType)) {
          expect(["skipped", "type-absent", "not-exported"]).toContain(p.outcome.kind);
        }
      }),
      runs,
    );
  });
});
