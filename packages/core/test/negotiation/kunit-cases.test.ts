/**
 * The RFC's kunit cases (drivers/dma-buf/st-dma-mapping.c, RFC 26/26) and
 * the match() verdict rules of kernel-model §4.2, with test types A and B
 * that have no match() and test types whose match() returns a chosen verdict.
 */
import { describe, it, expect } from "vitest";
import { accept, kernelError, negotiate, offer } from "@dmabuf-ref/core";
import type { AnyMappingType, KernelError } from "@dmabuf-ref/core";
import { expectFailure, expectMatch, pairAt, testProfile, testType } from "./helpers.js";

const A = testType("kunit-a");
const B = testType("kunit-b");

/** VFIO's match_mapping once vdev is NULL: every pair of this type aborts with ENODEV. */
const noDevice: KernelError = kernelError("ENODEV", "vfio device is gone (vdev == NULL)");
const gone = testType("kunit-gone", () => noDevice);
/** A type whose match() declines every pair: "skip and keep looking". */
const declines = testType("kunit-declines", () => kernelError("EOPNOTSUPP", "not this pair"));
/** A type that matches only when exporter and importer carry the same tag. */
const tagged = testType("kunit-tagged", (exp, imp) =>
  exp.tag === imp.tag ? 0 : kernelError("EOPNOTSUPP", `tag ${exp.tag} != ${imp.tag}`),
);

const kunit = testProfile("kunit", [A, B, gone, declines, tagged]);
const mod = "kunit_importer";

const exp = (...types: AnyMappingType[]) => types.map((t) => offer(t, {}));
const imp = (...types: AnyMappingType[]) => types.map((t) => accept(t, {}, mod));

describe("st-dma-mapping: exporter order sets priority (kernel-model §4.2)", () => {
  it("exporter [A,B] x importer [B,A] picks A at exporter index 0, importer index 1", () => {
    const r = negotiate(exp(A, B), imp(B, A), kunit);
    const m = expectMatch(r);
    expect(m.type).toBe(A);
    expect(m.exporterType).toBe(A);
    expect(m.exporterIndex).toBe(0);
    expect(m.importerIndex).toBe(1);
    expect(m.converter).toBeUndefined();
  });

  it("exporter [A,B] x importer [B,A]: A-B is no common type, B-B is never looked at", () => {
    const r = negotiate(exp(A, B), imp(B, A), kunit);
    expect(pairAt(r, 0, 0).outcome).toEqual({ kind: "no-common-type" });
    expect(pairAt(r, 0, 1).outcome).toEqual({ kind: "matched" });
    expect(pairAt(r, 1, 0).outcome).toEqual({ kind: "not-considered", because: "matched-earlier" });
    expect(pairAt(r, 1, 1).outcome).toEqual({ kind: "not-considered", because: "matched-earlier" });
  });

  it("exporter [A,B] x importer [B] picks B at exporter index 1, importer index 0", () => {
    const m = expectMatch(negotiate(exp(A, B), imp(B), kunit));
    expect(m.type).toBe(B);
    expect(m.exporterIndex).toBe(1);
    expect(m.importerIndex).toBe(0);
  });

  it("exporter [B,A] x importer [A,B] picks B: the exporter's first type wins, not the importer's", () => {
    const m = expectMatch(negotiate(exp(B, A), imp(A, B), kunit));
    expect(m.type).toBe(B);
    expect([m.exporterIndex, m.importerIndex]).toEqual([0, 1]);
  });

  it("the winning match carries the winning offer's and accept's data", () => {
    const r = negotiate(
      [offer(A, { tag: "exp0" }), offer(B, { tag: "exp1" })],
      [accept(B, { tag: "imp0" }, mod), accept(A, { tag: "imp1" }, mod)],
      kunit,
    );
    const m = expectMatch(r);
    expect(m.exporterData).toEqual({ tag: "exp0" });
    expect(m.importerData).toEqual({ tag: "imp1" });
  });
});

describe("st-dma-mapping: failures are -EINVAL (kernel-model §4.2)", () => {
  it("an empty exporter list fails with EINVAL at the negotiation stage", () => {
    const r = negotiate([], imp(A, B), kunit);
    const f = expectFailure(r);
    expect(f.error.errno).toBe("EINVAL");
    expect(f.stage).toBe("negotiation");
    expect(r.pairs).toEqual([]);
  });

  it("an empty importer list fails with EINVAL at the negotiation stage", () => {
    const r = negotiate(exp(A, B), [], kunit);
    const f = expectFailure(r);
    expect(f.error.errno).toBe("EINVAL");
    expect(f.stage).toBe("negotiation");
    expect(r.pairs).toEqual([]);
  });

  it("empty exporter and importer lists fail with EINVAL", () => {
    expect(expectFailure(negotiate([], [], kunit)).error.errno).toBe("EINVAL");
  });

  it("exporter [A] x importer [B] has no common type and fails with EINVAL", () => {
    const r = negotiate(exp(A), imp(B), kunit);
    expect(expectFailure(r).error.errno).toBe("EINVAL");
    expect(pairAt(r, 0, 0).outcome).toEqual({ kind: "no-common-type" });
  });

  it("same-type pairs whose match() all return EOPNOTSUPP fail with EINVAL, not EOPNOTSUPP", () => {
    const r = negotiate(exp(declines, declines), imp(declines), kunit);
    expect(expectFailure(r).error.errno).toBe("EINVAL");
    expect(pairAt(r, 1, 0).outcome.kind).toBe("skipped");
  });
});

describe("match() verdicts: 0 matches, EOPNOTSUPP skips, any other errno aborts (kernel-model §4.2)", () => {
  it("match() returning ENODEV (VFIO with vdev == NULL) aborts with the same errno and message", () => {
    const r = negotiate(exp(gone, A), imp(A, gone), kunit);
    const f = expectFailure(r);
    expect(f.error).toEqual({ errno: "ENODEV", message: noDevice.message });
    expect(f.stage).toBe("negotiation");
    expect(pairAt(r, 0, 1).outcome).toEqual({ kind: "aborted", error: noDevice });
  });

  it("an abort ends the loop: later pairs, even a matching A-A, are not considered", () => {
    const r = negotiate(exp(gone, A), imp(A, gone), kunit);
    for (const [e, i] of [
      [1, 0],
      [1, 1],
    ] as const) {
      expect(pairAt(r, e, i).outcome).toEqual({
        kind: "not-considered",
        because: "aborted-earlier",
      });
    }
  });

  it("an abort after a skip still aborts: the skip does not end the loop, the abort does", () => {
    const r = negotiate(exp(declines, gone, A), imp(gone, declines, A), kunit);
    expect(expectFailure(r).error.errno).toBe("ENODEV");
    expect(pairAt(r, 0, 1).outcome.kind).toBe("skipped");
    expect(pairAt(r, 1, 0).outcome.kind).toBe("aborted");
    expect(pairAt(r, 2, 2).outcome).toEqual({ kind: "not-considered", because: "aborted-earlier" });
  });

  it("a match found before the aborting pair wins: match() of later pairs is never called", () => {
    const r = negotiate(exp(A, gone), imp(gone, A), kunit);
    const m = expectMatch(r);
    expect([m.exporterIndex, m.importerIndex]).toEqual([0, 1]);
    expect(pairAt(r, 1, 0).outcome).toEqual({ kind: "not-considered", because: "matched-earlier" });
  });

  it("match() returning EOPNOTSUPP skips the pair and the loop moves on to the next pair", () => {
    const r = negotiate(exp(declines, A), imp(A, declines), kunit);
    const m = expectMatch(r);
    expect(m.type).toBe(A);
    expect([m.exporterIndex, m.importerIndex]).toEqual([1, 0]);
    expect(pairAt(r, 0, 1).outcome).toMatchObject({
      kind: "skipped",
      error: { errno: "EOPNOTSUPP", message: "not this pair" },
    });
  });

  it("EOPNOTSUPP skips to the next importer entry of the same offer before the next offer", () => {
    const r = negotiate(
      [offer(tagged, { tag: "x" }), offer(A, {})],
      [accept(tagged, { tag: "y" }, mod), accept(A, {}, mod), accept(tagged, { tag: "x" }, mod)],
      kunit,
    );
    const m = expectMatch(r);
    expect(m.type).toBe(tagged);
    expect([m.exporterIndex, m.importerIndex]).toEqual([0, 2]);
    expect(pairAt(r, 0, 0).outcome.kind).toBe("skipped");
  });

  it("match() sees the exporter's data and the importer's data of the pair it judges", () => {
    const seen: string[] = [];
    const spy = testType("kunit-spy", (e, i) => {
      seen.push(`${e.tag}/${i.tag}`);
      return kernelError("EOPNOTSUPP", "record only");
    });
    const profile = testProfile("kunit-spy", [spy, A]);
    negotiate(
      [offer(spy, { tag: "e0" }), offer(A, {}), offer(spy, { tag: "e2" })],
      [accept(spy, { tag: "i0" }, mod), accept(A, {}, mod), accept(spy, { tag: "i2" }, mod)],
      profile,
    );
    // Same-type pairs only, exporter-major, and nothing after A-A matched at (1,1).
    expect(seen).toEqual(["e0/i0", "e0/i2"]);
  });
});
