import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderExamples, rfcRenderings } from "@dmabuf-ref/cli";

// RFC documents embed these renderings; CI fails when the code and the
// committed text drift apart (DESIGN §3.8). `pnpm rfc:render` rewrites them.
describe("rendered RFC examples", () => {
  const examples = renderExamples();
  const renderings = rfcRenderings();

  it.each(renderings.map((r) => [`${basename(r.dir)}/${r.name}`, r] as const))(
    "%s.txt and .mmd are up to date",
    (_name, r) => {
      expect(readFileSync(join(r.dir, `${r.name}.txt`), "utf8")).toBe(r.text);
      expect(readFileSync(join(r.dir, `${r.name}.mmd`), "utf8")).toBe(r.mermaid);
    },
  );

  it("every rendered line is email-safe: ASCII and at most 72 columns", () => {
    for (const r of renderings) {
      for (const line of r.text.split("\n")) {
        expect(line.length, `${r.name}: ${line}`).toBeLessThanOrEqual(72);
        expect(line).toMatch(/^[\x20-\x7e]*$/);
      }
    }
  });

  it("every Mermaid rendering is a sequence diagram", () => {
    for (const r of renderings) expect(r.mermaid.split("\n")[0], r.name).toBe("sequenceDiagram");
  });

  it("every scenario has a committed trace and no trace outlives its scenario", () => {
    const traces = renderings.filter((r) => basename(r.dir) === "traces");
    const committed = readdirSync(traces[0]?.dir ?? ".")
      .filter((f) => f.endsWith(".txt"))
      .map((f) => f.slice(0, -4))
      .sort();
    expect(committed).toEqual(traces.map((r) => r.name).sort());
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
