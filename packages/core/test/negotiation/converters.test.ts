/**
 * Converters with test types (kernel-model §4.4, §7.14): core joins an
 * exporter type to a different importer type; converted pairs are tried
 * only after every direct pair, in the same exporter-major order, with the
 * same verdict rules as match().
 */
import { describe, it, expect } from "vitest";
import { accept, defineConverter, kernelError, negotiate, offer } from "@dmabuf-ref/core";
import type { Converter, MatchVerdict } from "@dmabuf-ref/core";
import { expectFailure, expectMatch, pairAt, testProfile, testType } from "./helpers.js";

const P = testType("conv-p");
const Q = testType("conv-q");
const R = testType("conv-r");
const gone = testType("conv-gone", () => kernelError("ENODEV", "exporter device is gone"));

/** A P->Q converter whose predicate answers from the importer's tag. */
function pToQ(answer: (tag: string) => MatchVerdict): Converter {
  return defineConverter({
    from: P,
    to: Q,
    kernelModel: "§7.14",
    summary: "test converter",
    match: (_ctx, _exp, imp) => answer(imp.tag),
  });
}
const byTag = pToQ((tag) =>
  tag === "ok" ? 0 : kernelError(tag === "busy" ? "EBUSY" : "EOPNOTSUPP", `tag ${tag}`),
);
const profile = testProfile("conv", [P, Q, R, gone], [byTag]);
const mod = "test_importer";
const q = (tag: string) => accept(Q, { tag }, mod);

describe("converted pairs: tried after all direct pairs, exporter-major (kernel-model §7.14)", () => {
  it("exporter [P] x importer [Q] matches through the P->Q converter and reports it on the pair", () => {
    const r = negotiate([offer(P, {})], [q("ok")], profile);
    const m = expectMatch(r);
    expect(m.type).toBe(Q);
    expect(m.exporterType).toBe(P);
    expect(m.converter).toBe(byTag);
    expect(pairAt(r, 0, 0)).toMatchObject({
      converter: "conv-p->conv-q",
      outcome: { kind: "matched" },
    });
  });

  it("exporter [P, R] x importer [Q, R] picks the direct R-R at (1, 1) over the converted P-Q at (0, 0)", () => {
    const r = negotiate([offer(P, {}), offer(R, {})], [q("ok"), accept(R, {}, mod)], profile);
    const m = expectMatch(r);
    expect([m.exporterIndex, m.importerIndex]).toEqual([1, 1]);
    expect(m.converter).toBeUndefined();
    expect(pairAt(r, 0, 0).outcome).toEqual({
      kind: "not-considered",
      because: "direct-preferred",
    });
  });

  it("a converter predicate returning EOPNOTSUPP skips to the next converted pair", () => {
    const r = negotiate([offer(P, {})], [q("no"), q("ok")], profile);
    expect(expectMatch(r).importerIndex).toBe(1);
    expect(pairAt(r, 0, 0).outcome).toMatchObject({
      kind: "skipped",
      error: { errno: "EOPNOTSUPP" },
    });
  });

  it("converted pairs follow exporter order: [P(a), P(b)] x [Q(no), Q(ok)] picks (0, 1), not (1, 0)", () => {
    const r = negotiate(
      [offer(P, { tag: "a" }), offer(P, { tag: "b" })],
      [q("no"), q("ok")],
      profile,
    );
    const m = expectMatch(r);
    expect([m.exporterIndex, m.importerIndex]).toEqual([0, 1]);
    expect(m.exporterData).toEqual({ tag: "a" });
  });

  it("a converter predicate returning another errno (EBUSY) aborts with that errno unchanged", () => {
    const r = negotiate([offer(P, {})], [q("busy"), q("ok")], profile);
    expect(expectFailure(r).error).toEqual({ errno: "EBUSY", message: "tag busy" });
    expect(pairAt(r, 0, 1).outcome).toEqual({ kind: "not-considered", because: "aborted-earlier" });
  });

  it("a direct abort ends negotiation before any converted pair is tried, even an earlier one", () => {
    const r = negotiate([offer(P, {}), offer(gone, {})], [q("ok"), accept(gone, {}, mod)], profile);
    expect(expectFailure(r).error.errno).toBe("ENODEV");
    expect(pairAt(r, 1, 1).outcome.kind).toBe("aborted");
  });

  it("only converter-joined types convert: R x Q has no common type", () => {
    const r = negotiate([offer(R, {})], [q("ok")], profile);
    expect(pairAt(r, 0, 0)).toMatchObject({ outcome: { kind: "no-common-type" } });
    expect(pairAt(r, 0, 0).converter).toBeUndefined();
    expect(expectFailure(r).error.errno).toBe("EINVAL");
  });

  it("a profile may not hold a converter whose types it lacks (defineProfile throws)", () => {
    expect(() => testProfile("conv-broken", [P], [byTag])).toThrow(/needs type conv-q/);
  });
});

describe("why a converted pair was not considered (NotConsideredBecause)", () => {
  it("a converted pair after a direct match is not-considered because direct-preferred", () => {
    // [R, P] x [R, Q]: the direct R-R wins at (0, 0) and the loop stops there.
    const r = negotiate([offer(R, {}), offer(P, {})], [accept(R, {}, mod), q("ok")], profile);
    const m = expectMatch(r);
    expect([m.exporterIndex, m.importerIndex]).toEqual([0, 0]);
    // (1, 1) is P-Q: it needs a converter, and the converter pass never ran because a
    // direct pair matched; the loop never reached it, which must not change the reason.
    expect(pairAt(r, 1, 1).outcome).toEqual({
      kind: "not-considered",
      because: "direct-preferred",
    });
  });

  it("a converted pair before a direct abort is not-considered because direct-preferred, not aborted-earlier", () => {
    const r = negotiate([offer(P, {}), offer(gone, {})], [q("ok"), accept(gone, {}, mod)], profile);
    expect(expectFailure(r).error.errno).toBe("ENODEV");
    // (0, 0) is P-Q, before the abort at (1, 1): no match() aborted earlier than it;
    // it was never tried because the converter pass never ran.
    expect(pairAt(r, 0, 0).outcome).toEqual({
      kind: "not-considered",
      because: "direct-preferred",
    });
  });
});
