import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SCENARIO_GUIDE, currentScenarioGuide } from "../src/rfc/scenario-guide.js";

describe("the scenario guide (rfc/scenarios/README.md)", () => {
  const committed = readFileSync(SCENARIO_GUIDE, "utf8");

  it("its worked examples show what the explorer prints today (pnpm rfc:render rewrites them)", () => {
    expect(committed).toBe(currentScenarioGuide());
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
