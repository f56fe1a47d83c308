/*
 * The bug zoo is caught (issue 13, item 4): every wrong driver fails its
 * suite, in the case its entry names and with a rule naming the broken
 * rule, and the same harness with the fixed driver passes that case (and
 * every other case of the suite), so each entry is wrong in exactly the
 * named way.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONTRACT_CASES, checkExporter, checkImporter, failureText } from "@dmabuf-ref/contracts";
import type { CaseResult, ContractOptions } from "@dmabuf-ref/contracts";
import { ZOO } from "@dmabuf-ref/contracts/zoo";
import type { ZooBug } from "@dmabuf-ref/contracts/zoo";

/** A fixed seed, so a model-run verdict replays the same on every machine. */
const OPTIONS: ContractOptions = { seed: 13 };

/** Each entry's suite verdicts, wrong and fixed, computed once. */
const verdicts = new Map<string, { wrong: CaseResult[]; fixed: CaseResult[] }>();

function run(bug: ZooBug): { wrong: CaseResult[]; fixed: CaseResult[] } {
  const hit = verdicts.get(bug.id);
  if (hit !== undefined) return hit;
  const both =
    bug.role === "exporter"
      ? { wrong: checkExporter(bug.harness(), OPTIONS), fixed: checkExporter(bug.fixed(), OPTIONS) }
      : {
          wrong: checkImporter(bug.harness(), OPTIONS),
          fixed: checkImporter(bug.fixed(), OPTIONS),
        };
  verdicts.set(bug.id, both);
  return both;
}

/** A result's verdict as the text a failing test prints. */
function text(r: CaseResult): string {
  const v = r.verdict;
  return v.status === "fail" ? failureText(r.id, v.rule, v.run, v.detail) : `${r.id}: ${v.status}`;
}

describe("the bug zoo", () => {
  it("has at least ten entries with unique kebab-case ids, each naming a suite case", () => {
    expect(ZOO.length).toBeGreaterThanOrEqual(10);
    const ids = ZOO.map((b) => b.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const b of ZOO) {
      expect(b.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(CONTRACT_CASES.map((c) => c.id)).toContain(b.caughtBy.case);
      expect(b.caughtBy.case.startsWith(`${b.role}/`)).toBe(true);
    }
  });

  for (const bug of ZOO) {
    describe(`${bug.id}: ${bug.title}`, () => {
      it(`fails ${bug.caughtBy.case}, breaking a rule that says "${bug.caughtBy.rule}"`, () => {
        const caught = run(bug).wrong.find((r) => r.id === bug.caughtBy.case);
        expect(caught, "the case ran").toBeDefined();
        if (caught === undefined) return;
        expect(caught.verdict.status, text(caught)).toBe("fail");
        if (caught.verdict.status === "fail")
          expect(caught.verdict.rule, text(caught)).toContain(bug.caughtBy.rule);
      });

      it("passes every case of its suite with the fixed driver in the same harness", () => {
        const { fixed } = run(bug);
        expect(fixed.find((r) => r.id === bug.caughtBy.case)?.verdict.status).toBe("pass");
        const broken = fixed.filter(
          (r) => r.verdict.status !== "pass" && r.verdict.status !== "not-applicable",
        );
        expect(broken.map(text)).toEqual([]);
      });
    });
  }
});

describe("the README's sample failure", () => {
  it("is what the importer suite prints for ignores-invalidate (packages/contracts/README.md)", () => {
    const readme = readFileSync(join(import.meta.dirname, "../README.md"), "utf8");
    const sample =
      /checked by: packages\/contracts\/test\/zoo\.test\.ts -->\n\n```text\n([\s\S]*?)```/.exec(
        readme,
      )?.[1];
    expect(sample).toBeDefined();
    const bug = ZOO.find((b) => b.id === "ignores-invalidate");
    if (bug === undefined || sample === undefined) throw new Error("no ignores-invalidate");
    const caught = run(bug).wrong.find((r) => r.id === bug.caughtBy.case);
    expect(caught === undefined ? "" : text(caught)).toContain(sample.trimEnd());
  });
});
