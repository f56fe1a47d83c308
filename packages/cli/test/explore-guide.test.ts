import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runCollected } from "../src/program.js";
import {
  SCENARIO_GUIDE,
  currentDocument,
  outputDocuments,
  renderOutputs,
} from "../src/rfc/scenario-guide.js";

describe("the scenario guide (rfc/scenarios/README.md)", () => {
  const committed = readFileSync(SCENARIO_GUIDE, "utf8");

  it("its worked examples show what the explorer prints today (pnpm rfc:render rewrites them)", () => {
    expect(committed).toBe(currentDocument(SCENARIO_GUIDE, runCollected));
  });

  it("has two worked examples, one that holds and one with a counterexample", () => {
    const blocks = committed.match(/<!-- output: explore [^>]*-->/g) ?? [];
    expect(blocks).toHaveLength(2);
    expect(committed).toContain("(exit 0)");
    expect(committed).toContain("(exit 1)");
    expect(committed).toMatch(/counterexample for expect\[\d\], \d+ steps:/);
  });

  it("every line of the worked examples is at most 72 columns", () => {
    const inBlocks = committed
      .split("<!-- output:")
      .slice(1)
      .flatMap((b) => (b.split("<!-- end output -->")[0] ?? "").split("\n").slice(1));
    expect(inBlocks.filter((l) => l.length > 72)).toEqual([]);
  });
});

describe("the RFC documents (rfc/NNNN-*.md) and the guides (docs/guides)", () => {
  const documents = outputDocuments().filter((d) => d !== SCENARIO_GUIDE);

  it("there are RFC documents with outputs of the tool in them", () => {
    expect(documents.length).toBeGreaterThanOrEqual(1);
  });

  it.each(documents.map((path) => ({ path, name: path.split("/").pop() ?? path })))(
    "$name shows what the tool prints today (pnpm rfc:render rewrites its output blocks)",
    ({ path }) => {
      const committed = readFileSync(path, "utf8");
      // An RFC document exists to show the tool's answers; a guide may teach without one.
      if (path.includes("/rfc/")) expect(committed).toMatch(/<!-- output: /);
      expect(committed).toBe(currentDocument(path, runCollected));
    },
  );
});

describe("output blocks", () => {
  it("a marker whose block was broken (no text fence) is an error, not a block left stale", () => {
    const broken = "<!-- output: profiles -->\nno fence here\n<!-- end output -->\n";
    expect(() => renderOutputs(broken, runCollected)).toThrow(/not followed by/);
  });

  it("a block is rendered with the command as typed, the output and the exit status", () => {
    const doc = "<!-- output: uapi ioctl IOMMU_DESTROY -->\n```text\n```\n<!-- end output -->\n";
    const out = renderOutputs(doc, runCollected);
    expect(out).toContain("$ dmabuf-ref uapi ioctl IOMMU_DESTROY\nIOMMU_DESTROY = ");
    expect(out).toContain("(exit 0)\n```\n\n<!-- end output -->");
  });
});
