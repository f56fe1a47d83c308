import { describe, expect, it } from "vitest";
import { findProfile } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { computeMatrix, diffMatrix } from "../src/matrix/matrix.js";
import type { MatrixCell } from "../src/matrix/cell.js";
import { matrixMachine } from "../src/matrix/machine.js";
import { MATRIX_EXPORTERS, MATRIX_IMPORTERS } from "../src/matrix/registry.js";
import { json, runCli } from "./run-cli.js";

function profile(id: string): Profile {
  const p = findProfile(id);
  if (p === undefined) throw new Error(`no profile ${id}`);
  return p;
}

const matrices = new Map<string, MatrixCell[]>();
function cell(profileId: string, exporter: string, importer: string): MatrixCell {
  let m = matrices.get(profileId);
  if (m === undefined) {
    m = computeMatrix(profile(profileId), matrixMachine, MATRIX_EXPORTERS, MATRIX_IMPORTERS);
    matrices.set(profileId, m);
  }
  const c = m.find((x) => x.exporter === exporter && x.importer === importer);
  if (c === undefined) throw new Error(`no cell ${exporter} x ${importer}`);
  return c;
}

describe("the compatibility matrix (issue 5)", () => {
  it("has every built-in exporter x importer pair", () => {
    const m = computeMatrix(
      profile("linux-7.1"),
      matrixMachine,
      MATRIX_EXPORTERS,
      MATRIX_IMPORTERS,
    );
    expect(m.map((c) => `${c.exporter}/${c.importer}`)).toHaveLength(3 * 5);
    expect([...new Set(m.map((c) => c.exporter))]).toEqual(["vfio-pci", "gpu", "rdma"]);
    expect([...new Set(m.map((c) => c.importer))]).toEqual([
      "iommufd",
      "kvm",
      "rdma-odp",
      "rdma-pinned",
      "rdma-pinned-revocable",
    ]);
  });

  it("vfio-pci -> rdma-odp is EOPNOTSUPP under linux-6.19 and ok under linux-7.1", () => {
    expect(cell("linux-6.19", "vfio-pci", "rdma-odp")).toMatchObject({
      ok: false,
      errno: "EOPNOTSUPP",
    });
    expect(cell("linux-7.1", "vfio-pci", "rdma-odp")).toMatchObject({ ok: true, type: "sgt" });
  });

  it("under linux-7.1 VFIO refuses the pinned RDMA importer at attach: it is not revocable", () => {
    expect(cell("linux-7.1", "vfio-pci", "rdma-pinned")).toMatchObject({
      ok: false,
      errno: "EOPNOTSUPP",
      stage: "exporter attach",
    });
  });

  it("under linux-7.1 iommufd reaches VFIO through the private interconnect, pinned and revocable", () => {
    expect(cell("linux-7.1", "vfio-pci", "iommufd")).toMatchObject({
      ok: true,
      type: "vfio-iommufd-private",
      lifetime: { revocable: true, pinned: true, movable: false },
    });
  });

  it("under linux-7.1 a non-VFIO dma-buf fails MAP_FILE with EOPNOTSUPP, not the RFC's EINVAL", () => {
    expect(cell("linux-7.1", "gpu", "iommufd")).toMatchObject({ ok: false, errno: "EOPNOTSUPP" });
    expect(cell("rfc-mapping-types-v1", "gpu", "iommufd")).toMatchObject({
      ok: false,
      errno: "EINVAL",
    });
  });

  it("the RDMA exporter's pin always fails: rdma-pinned gets EOPNOTSUPP from dma_buf_pin", () => {
    expect(cell("linux-7.1", "rdma", "rdma-pinned")).toMatchObject({
      ok: false,
      errno: "EOPNOTSUPP",
      stage: "dma_buf_pin",
    });
  });

  it("a GPU buffer imported by a revocable, unpinned importer is movable; a pinned one is not", () => {
    expect(cell("linux-7.1", "gpu", "rdma-odp")).toMatchObject({
      ok: true,
      lifetime: { movable: true, pinned: false },
    });
    expect(cell("linux-6.19", "gpu", "rdma-odp")).toMatchObject({
      ok: true,
      lifetime: { movable: false, pinned: true },
    });
  });

  it("a driver absent from a profile says so in its cell, with a null errno", () => {
    expect(cell("linux-7.1", "vfio-pci", "kvm")).toEqual({
      exporter: "vfio-pci",
      importer: "kvm",
      ok: false,
      errno: null,
      reason: "not in linux-7.1",
    });
  });

  it("--diff lists only the cells that differ, with both outcomes", () => {
    const d = diffMatrix(
      computeMatrix(profile("linux-6.19"), matrixMachine, MATRIX_EXPORTERS, MATRIX_IMPORTERS),
      computeMatrix(profile("linux-7.1"), matrixMachine, MATRIX_EXPORTERS, MATRIX_IMPORTERS),
    );
    expect(d.some((x) => x.exporter === "vfio-pci" && x.importer === "rdma-odp")).toBe(true);
    expect(d.every((x) => JSON.stringify(x.before) !== JSON.stringify(x.after))).toBe(true);
    expect(d.some((x) => x.importer === "kvm")).toBe(false);
  });
});

describe("dmabuf-ref matrix", () => {
  it("prints a table that fits 100 columns, and JSON cells of the documented shape", () => {
    const text = runCli("matrix");
    expect(text.status).toBe(0);
    for (const line of text.stdout.trimEnd().split("\n"))
      expect(line.length).toBeLessThanOrEqual(100);
    const cells = json(runCli("matrix", "--profile", "linux-6.19", "--json")) as Record<
      string,
      unknown
    >[];
    expect(cells).toHaveLength(15);
    for (const c of cells) {
      const keys = Object.keys(c);
      expect(keys.slice(0, 3)).toEqual(["exporter", "importer", "ok"]);
      if (c["ok"] === true) expect(keys).toContain("lifetime");
      else expect(keys).toEqual(expect.arrayContaining(["errno", "reason"]));
    }
  });

  it("--diff P1 P2 --json prints {exporter, importer, before, after} for each differing cell", () => {
    const run = runCli("matrix", "--diff", "linux-6.19", "linux-7.1", "--json");
    // As diff(1): 1 when the profiles differ.
    expect(run.status).toBe(1);
    const diff = json(run) as Record<string, unknown>[];
    expect(diff.length).toBeGreaterThan(0);
    expect(Object.keys(diff[0] ?? {})).toEqual(["exporter", "importer", "before", "after"]);
    expect(runCli("matrix", "--diff", "linux-6.19").status).toBe(2);
  });

  it("matrix --diff exits 1 when the profiles disagree on a cell and 0 when they agree, as diff(1)", () => {
    expect(runCli("matrix", "--diff", "linux-6.19", "linux-7.1").status).toBe(1);
    const same = runCli("matrix", "--diff", "linux-7.1", "linux-7.2");
    expect(same.status).toBe(0);
    expect(same.stdout).toContain("cells that differ: linux-7.1 -> linux-7.2 (0)");
  });
});
