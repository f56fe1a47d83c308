import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exploreExitCode, exploreFile } from "../src/explore/explore.js";
import { exploreText } from "../src/explore/render.js";

const DIR = join(import.meta.dirname, "../../../rfc/scenarios");
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("every scenario in rfc/scenarios verifies (dmabuf-ref explore exits 0)", () => {
  it.each(FILES)("%s: every expectation holds under its own profile", (f) => {
    const r = exploreFile(join(DIR, f));
    const failed = r.expectations.filter((e) => e.holds !== true).map((e) => `${e.kind} ${e.expr}`);
    expect(failed).toEqual([]);
    expect(exploreExitCode(r)).toBe(0);
    // Its report pastes into an email: every line at most 72 columns.
    const wide = exploreText(r)
      .split("\n")
      .filter((l) => l.length > 72);
    expect(wide).toEqual([]);
  });
});
