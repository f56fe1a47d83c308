import { describe, expect, it } from "vitest";
import { json, runCli } from "./run-cli.js";

const FIX = "packages/cli/test/fixtures/explore-command";
const FLR = "rfc/scenarios/flr-races-p2p-dma.yaml";

interface Report {
  scenario: string;
  profile: string;
  complete: boolean;
  states: number;
  transitions: number;
  depth: number;
  seconds: number;
  expectations: {
    kind: string;
    expr: string;
    holds: boolean | null;
    witness?: { thread: string; call: string; outcome: string; events: unknown[] }[];
  }[];
}

describe("dmabuf-ref explore", () => {
  it("exits 0 and prints one verdict line per expectation when every expectation holds", () => {
    const r = runCli("explore", FLR);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    for (const v of [
      "forall no-violation: holds",
      "exists dev1[0] == fault: holds",
      "exists dev1[0] == ok: holds",
      "forall vmm[0] == ok: holds",
    ])
      expect(r.stdout).toContain(v);
  });

  it("exits 1 when a forall fails and prints a numbered counterexample with threads as actors", () => {
    const r = runCli("explore", `${FIX}/dma-always-ok.yaml`);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("forall dev1[0] == ok: FAILS");
    expect(r.stdout).toMatch(/counterexample for expect\[1\], \d+ steps:/);
    expect(r.stdout).toMatch(/^ {2}1\. vmm: flr vfio0 -> started$/m);
    expect(r.stdout).toMatch(/\. dev1: dma dev1 write .*-> fault/);
  });

  it("every line of the text output is at most 72 columns", () => {
    for (const file of [FLR, `${FIX}/dma-always-ok.yaml`]) {
      const lines = runCli("explore", file).stdout.split("\n");
      expect(lines.filter((l) => l.length > 72)).toEqual([]);
    }
  });

  it("--json prints the documented report, expectations in file order, witnesses for failed foralls", () => {
    const r = runCli("explore", `${FIX}/dma-always-ok.yaml`, "--json");
    expect(r.status).toBe(1);
    const rep = json(r) as Report;
    expect(rep.scenario).toBe("dma-always-ok");
    expect(rep.profile).toBe("linux-7.1");
    expect(rep.complete).toBe(true);
    expect(rep.states).toBeGreaterThan(1);
    expect(rep.transitions).toBeGreaterThanOrEqual(rep.states - 1);
    expect(typeof rep.seconds).toBe("number");
    expect(rep.expectations.map((e) => [e.kind, e.expr, e.holds])).toEqual([
      ["forall", "no-violation", true],
      ["forall", "dev1[0] == ok", false],
    ]);
    const w = rep.expectations[1]?.witness ?? [];
    expect(w.length).toBeGreaterThan(0);
    expect(w.some((s) => s.thread === "dev1" && s.outcome === "fault")).toBe(true);
    expect(Object.keys(w[0] ?? {})).toEqual(
      expect.arrayContaining(["thread", "call", "outcome", "events"]),
    );
  });

  it("a bound that stops the search before an answer exits 3 with holds null, never true", () => {
    const r = runCli("explore", FLR, "--max-states", "3", "--json");
    expect(r.status).toBe(3);
    const rep = json(r) as Report;
    expect(rep.complete).toBe(false);
    const forall = rep.expectations.filter((e) => e.kind === "forall");
    expect(forall.every((e) => e.holds === null)).toBe(true);
  });

  it("--max-depth also bounds the search", () => {
    const rep = json(runCli("explore", FLR, "--max-depth", "2", "--json")) as Report;
    expect(rep.complete).toBe(false);
    expect(rep.depth).toBeLessThanOrEqual(2);
  });

  it("a thread reading a name another thread binds runs only after that call returned", () => {
    const r = runCli("explore", `${FIX}/late-binding.yaml`);
    expect(r.stdout).toContain("forall vmm[0] == ok and dev1[0] == ok: holds");
    expect(r.status).toBe(0);
  });

  it("--format markdown prints tables, --format mermaid sequence diagrams of the witnesses", () => {
    const md = runCli("explore", `${FIX}/dma-always-ok.yaml`, "--format", "markdown").stdout;
    expect(md).toContain("| # | kind | condition | verdict |");
    expect(md).toContain("| step | actor | call | outcome |");
    const mmd = runCli("explore", `${FIX}/dma-always-ok.yaml`, "--format", "mermaid").stdout;
    expect(mmd).toContain("sequenceDiagram");
  });

  it.each([
    ["bad-thread.yaml", /expect\[0\]\.exists: "dev2" is neither/],
    ["bad-value.yaml", /expect\[0\]\.exists: "maybe" is not an outcome/],
    ["bad-key.yaml", /threads\.dev1\[0\]: Unrecognized key: "lenght"/],
    ["bad-event.yaml", /threads\.vmm\[0\]\.event: .*'flr'/],
    ["bad-reference.yaml", /threads\.dev1\[0\]\.iova: "map9\.iova" names no earlier result/],
    ["bad-as.yaml", /init\[1\]\.as: "buf0" is already bound by init\[0\]/],
    ["bad-profile.yaml", /bad-profile\.yaml: profile: unknown profile "linux-9"/],
  ])("a bad scenario file (%s) exits 2 naming the file and the field", (file, message) => {
    const r = runCli("explore", `${FIX}/${file}`);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(message);
  });

  it("--json and --format text together are refused", () => {
    const r = runCli("explore", FLR, "--json", "--format", "text");
    expect(r.status).toBe(2);
  });
});

describe("symmetry reduction", () => {
  it("interchangeable threads (same calls, no names, named by no expectation) are explored as a multiset, with the same verdicts", () => {
    const reduced = json(runCli("explore", `${FIX}/symmetric-dma.yaml`, "--json")) as Report & {
      reductions: string[];
    };
    const partly = json(
      runCli("explore", `${FIX}/symmetric-dma-named.yaml`, "--json"),
    ) as Report & { reductions: string[] };
    expect(reduced.reductions).toEqual(["thread symmetry {a, b, c}"]);
    // a is named by an expectation: only b and c are merged.
    expect(partly.reductions).toEqual(["thread symmetry {b, c}"]);
    expect(reduced.states).toBeLessThan(partly.states);
    expect(reduced.expectations.map((e) => e.holds)).toEqual([true, true]);
    expect(partly.expectations.map((e) => e.holds)).toEqual([true, true, true]);
  });
});

describe("--workers", () => {
  it("splits the search over worker threads and reaches the same verdicts and the same distinct states", () => {
    for (const file of [`${FIX}/symmetric-dma-named.yaml`]) {
      const serial = json(runCli("explore", file, "--json")) as Report & { reductions: string[] };
      const r = runCli("explore", file, "--json", "--workers", "2");
      const parallel = json(r) as Report & { reductions: string[] };
      expect(r.status).toBe(runCli("explore", file).status);
      expect(parallel.states).toBe(serial.states);
      // One shared visited set: no state is expanded twice.
      expect(parallel.transitions).toBe(serial.transitions);
      expect(parallel.complete).toBe(true);
      expect(parallel.expectations.map((e) => [e.expr, e.holds])).toEqual(
        serial.expectations.map((e) => [e.expr, e.holds]),
      );
      // A shortest witness is as short as the serial search's.
      expect(parallel.expectations.map((e) => e.witness?.length)).toEqual(
        serial.expectations.map((e) => e.witness?.length),
      );
      expect(
        parallel.reductions.some((x) =>
          /^2 workers sharing one visited set from \d+ states at depth \d+$/.test(x),
        ),
      ).toBe(true);
    }
  });

  it("rejects a worker count that is not a positive integer", () => {
    expect(runCli("explore", FLR, "--workers", "0").status).toBe(2);
    expect(runCli("explore", FLR, "--workers", "two").status).toBe(2);
  });
});

describe("set-up that fails", () => {
  it("an init call that does not return ok is named in the output, as text and JSON", () => {
    // gpu-to-iommufd-spdk is written for proposal-converters; linux-7.1's
    // iommufd refuses a dma-buf that is not VFIO's.
    const file = "rfc/scenarios/gpu-to-iommufd-spdk.yaml";
    const text = runCli("explore", file, "--profile", "linux-7.1").stdout;
    expect(text).toMatch(
      /# note: set-up call failed, init\[\d+\]: IOMMU_IOAS_MAP_FILE .*EOPNOTSUPP/s,
    );
    const rep = json(runCli("explore", file, "--profile", "linux-7.1", "--json")) as {
      initFailures: string[];
    };
    expect(rep.initFailures.some((f) => f.includes("EOPNOTSUPP"))).toBe(true);
    const own = json(runCli("explore", file, "--json")) as { initFailures: string[] };
    expect(own.initFailures).toEqual([]);
  });
});

describe("why a run is stuck", () => {
  it("a counterexample ending with unfinished threads says why each is stuck (a name a failed call left unbound)", () => {
    // Close the dma-buf first: the MAP_FILE fails, the DMA that reads map0 never runs.
    const text = runCli("explore", `${FIX}/unbound-read.yaml`).stdout;
    expect(text).toContain("forall no-deadlock: FAILS");
    expect(text).toMatch(
      /stuck: dev1\[0\] reads map0, unbound: threads\.vmm\[1\]\s+\(IOMMU_IOAS_MAP_FILE\) failed with EBADF/,
    );
  });

  it("a name an op call left unbound is named by the op (attach), not a blank", () => {
    const text = runCli("explore", `${FIX}/unbound-op-read.yaml`).stdout;
    expect(text).toContain("forall no-deadlock: FAILS");
    expect(text).toMatch(/unbound: threads\.exp\[1\]\s+\(attach\) failed with\s+ENODEV/);
    expect(text).not.toContain("(undefined)");
  });
});
