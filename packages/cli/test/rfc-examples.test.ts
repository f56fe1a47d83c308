import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXAMPLES_DIR, renderExamples } from "@dmabuf-ref/cli";

// RFC documents embed these renderings; CI fails when the code and the
// committed text drift apart (DESIGN §3.8). `pnpm rfc:render` rewrites them.
describe("rendered RFC examples", () => {
  const examples = renderExamples();

  it.each(examples.map((ex) => [ex.name, ex] as const))(
    "%s.txt and .mmd are up to date",
    (name, ex) => {
      expect(readFileSync(join(EXAMPLES_DIR, `${name}.txt`), "utf8")).toBe(ex.text);
      expect(readFileSync(join(EXAMPLES_DIR, `${name}.mmd`), "utf8")).toBe(ex.mermaid);
    },
  );

  it("every rendered line is email-safe: ASCII and at most 72 columns", () => {
    for (const ex of examples) {
      for (const line of ex.text.split("\n")) {
        expect(line.length, `${ex.name}: ${line}`).toBeLessThanOrEqual(72);
        expect(line).toMatch(/^[\x20-\x7e]*$/);
      }
    }
  });

  it("the examples show the outcomes their titles claim", () => {
    const outcome = new Map(examples.map((ex) => [ex.name, ex.result]));
    expect(outcome.get("rfc-vfio-to-iommufd")).toMatchObject({
      ok: true,
      match: { exporterIndex: 0 },
    });
    expect(outcome.get("rfc-vfio-to-rdma")).toMatchObject({
      ok: true,
      match: { exporterIndex: 1 },
    });
    expect(outcome.get("rfc-vfio-to-rdma-unreachable")).toMatchObject({
      ok: false,
      error: { errno: "EINVAL" },
    });
    expect(outcome.get("linux-7.1-pal-absent")).toMatchObject({
      ok: false,
      error: { errno: "EINVAL" },
    });
    expect(outcome.get("rfc-no-common-type")).toMatchObject({
      ok: false,
      error: { errno: "EINVAL" },
    });
  });
});
