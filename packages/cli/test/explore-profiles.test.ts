/**
 * Scenario files whose doc shows a kernel that had the bug (issue 12: "the
 * scenario's expectation fails under the old profile with a counterexample
 * and holds under the new one"): explored under the old profile (or with
 * the old vfio-pci behaviour switched back on in the machine's `vfio:`
 * section), the named expectation fails with a shortest counterexample of
 * at most 12 steps that shows the violation or the hang (OLD_PROFILE_BUGS
 * records the few that need more, and why); under the file's own profile
 * every expectation holds.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ExploreReport, WitnessStep } from "../src/explore/explore.js";
import {
  exploreExitCode,
  exploreFile,
  exploreScenario,
  loadScenario,
  readScenarioFile,
} from "../src/explore/explore.js";
import type { ScenarioFile } from "../src/explore/scenario-file.js";

const DIR = join(import.meta.dirname, "../../../rfc/scenarios");
const path = (name: string): string => join(DIR, `${name}.yaml`);

/** The verdict on the expectation written as `kind: expr`. */
function verdict(r: ExploreReport, kind: "forall" | "exists", expr: string) {
  const v = r.expectations.find((e) => e.kind === kind && e.expr === expr);
  if (v === undefined) throw new Error(`${r.scenario} has no expectation ${kind}: ${expr}`);
  return v;
}

/** The oracle's findings in a run: each violation's kind and rule. */
function violations(w: readonly WitnessStep[]): { kind: string; rule: string }[] {
  return w.flatMap((s) =>
    s.events.flatMap((e) =>
      e.kind === "violation" ? [{ kind: e.violation.kind, rule: e.violation.rule }] : [],
    ),
  );
}

/** The witness of a failed `forall`: present, at most 12 steps. */
function counterexample(r: ExploreReport, expr: string): readonly WitnessStep[] {
  const v = verdict(r, "forall", expr);
  expect(v.holds).toBe(false);
  const w = v.witness ?? [];
  expect(w.length).toBeGreaterThan(0);
  expect(w.length).toBeLessThanOrEqual(12);
  return w;
}

/** Every expectation of the file holds under its own profile and machine. */
function holdsAsWritten(name: string): void {
  const r = exploreFile(path(name));
  const failed = r.expectations.filter((e) => e.holds !== true).map((e) => e.expr);
  expect(failed).toEqual([]);
  expect(r.complete).toBe(true);
  expect(exploreExitCode(r)).toBe(0);
}

describe("close-order-window: the close-order window (d97708701434, CVE-2026-53322)", () => {
  it("under linux-7.1 the cleanup revokes before the disable: no DMA reaches the disabled BAR", () => {
    holdsAsWritten("close-order-window");
  });

  it("under linux-6.19 (disable, then cleanup) a DMA between the two reaches the disabled BAR", () => {
    const r = exploreFile(path("close-order-window"), { profile: "linux-6.19" });
    expect(exploreExitCode(r)).toBe(1);
    const w = counterexample(r, "no-violation");
    expect(w[0]?.thread).toBe("vmm");
    expect(w.some((s) => s.thread === "dev1" && s.outcome === "violation")).toBe(true);
    expect(violations(w)).toEqual([
      {
        kind: "access-after-revoke",
        rule: "no access after the owner reset, disabled or freed the memory",
      },
    ]);
  });
});

describe("close-races-map-file: MAP_FILE racing the device close", () => {
  it("under linux-7.1 MAP_FILE is ok before the cleanup revoke or ENODEV after it; never a violation", () => {
    holdsAsWritten("close-races-map-file");
  });

  it("under linux-6.19 a MAP_FILE between the disable and the cleanup maps a BAR that no longer decodes", () => {
    const r = exploreFile(path("close-races-map-file"), { profile: "linux-6.19" });
    expect(exploreExitCode(r)).toBe(1);
    const w = counterexample(r, "no-violation");
    const map = w.findIndex((s) => s.thread === "mapper" && s.outcome === "ok");
    const dma = w.findIndex((s) => s.thread === "dev1" && s.outcome === "violation");
    expect(map).toBeGreaterThan(0);
    expect(dma).toBeGreaterThan(map);
    expect(violations(w).map((v) => v.kind)).toEqual(["access-after-revoke"]);
  });
});

describe("iommufd-release-without-resv: iommufd unpins under resv (e745cd2c749e, CVE-2026-80633)", () => {
  it("under linux-7.1 (7.1.5 on) the release races a revoke with no contract violation", () => {
    holdsAsWritten("iommufd-release-without-resv");
  });

  it("under linux-7.1.0 the release's dma_buf_unpin() without resv is a contract violation", () => {
    const r = exploreFile(path("iommufd-release-without-resv"), { profile: "linux-7.1.0" });
    expect(exploreExitCode(r)).toBe(1);
    const w = counterexample(r, "no-violation");
    expect(violations(w)).toContainEqual({
      kind: "contract",
      rule: "dma_buf_unpin() holds dmabuf->resv",
    });
  });

  it("under linux-6.19 (no pin yet) only the pages-state bug of the same path is left (f2d70dbd3dce)", () => {
    const r = exploreFile(path("iommufd-release-without-resv"), { profile: "linux-6.19" });
    const w = counterexample(r, "no-violation");
    const rules = violations(w).map((v) => v.rule);
    expect(rules).not.toContain("dma_buf_unpin() holds dmabuf->resv");
    expect(rules.some((rule) => rule.includes("f2d70dbd3dce"))).toBe(true);
  });
});

describe("kref-underflow-close: close after a memory-disable revoke (c64a647c84f3)", () => {
  /** The file with the machine's `vfio: { krefRearm }` set. */
  function withRearm(rearm: boolean): ScenarioFile {
    const file = readScenarioFile(path("kref-underflow-close"));
    if (file.machine === "default") throw new Error("kref-underflow-close describes its machine");
    return {
      ...file,
      machine: { ...file.machine, vfio: { ...file.machine.vfio, krefRearm: rearm } },
    };
  }

  it("with the kref re-arm (7.1.0 on) every close returns and nothing underflows", () => {
    holdsAsWritten("kref-underflow-close");
  });

  it("without the re-arm (v7.1-rc) the close after the memory-disable never returns: no-deadlock fails", () => {
    const r = exploreScenario(loadScenario(withRearm(false)));
    expect(exploreExitCode(r)).toBe(1);
    const w = counterexample(r, "no-deadlock");
    const disable = w.findIndex((s) => s.returned.some((x) => x.thread === "guest"));
    const close = w.findIndex((s) => s.thread === "vmm");
    expect(disable).toBeGreaterThanOrEqual(0);
    expect(close).toBeGreaterThan(disable);
    expect(w.some((s) => s.returned.some((x) => x.thread === "vmm"))).toBe(false);
    expect(violations(w)).toEqual([
      { kind: "contract", rule: "a dma-buf's kref is put once per get (refcount_t: underflow)" },
    ]);
  });

  it("kref-underflow.yaml states the same v7.1-rc hang as expectations that hold", () => {
    holdsAsWritten("kref-underflow");
  });
});

/**
 * The other files whose doc names an old profile with a bug. Where the
 * shortest counterexample is longer than 12 steps it is because a
 * terminal state needs the whole FLR or close to finish, not because the
 * bug is deep; the bound is the length the doc records.
 */
const OLD_PROFILE_BUGS = [
  {
    name: "qemu-p2p-flr",
    profile: "linux-7.1.0",
    steps: 22,
    rules: ["dma_buf_unpin() holds dmabuf->resv"],
  },
  {
    name: "flr-without-unmap",
    profile: "linux-7.1.0",
    steps: 23,
    rules: ["dma_buf_unpin() holds dmabuf->resv"],
  },
  {
    name: "close-revokes-forever",
    profile: "linux-6.19",
    steps: 13,
    rules: ["no access after the owner reset, disabled or freed the memory"],
  },
  {
    name: "iommufd-selftest-dmabuf-revoke",
    profile: "linux-7.1.0",
    steps: 22,
    rules: ["dma_buf_unpin() holds dmabuf->resv"],
  },
  {
    name: "kref-underflow-close",
    profile: "linux-6.19",
    steps: 11,
    rules: ["no access after the owner reset, disabled or freed the memory"],
  },
] as const;

describe("a bug of an older kernel the doc names is found there, and not under the file's profile", () => {
  it.each(OLD_PROFILE_BUGS)(
    "$name under $profile: forall no-violation fails, in at most $steps steps",
    ({ name, profile, steps, rules }) => {
      holdsAsWritten(name);
      const r = exploreFile(path(name), { profile });
      expect(exploreExitCode(r)).toBe(1);
      const w = verdict(r, "forall", "no-violation").witness ?? [];
      expect(w.length).toBeGreaterThan(0);
      expect(w.length).toBeLessThanOrEqual(steps);
      const found = violations(w).map((v) => v.rule);
      for (const rule of rules) expect(found.some((f) => f.includes(rule))).toBe(true);
    },
  );
});
