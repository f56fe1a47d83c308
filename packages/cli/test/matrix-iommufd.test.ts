/**
 * The matrix's iommufd cells under proposal-converters, where core maps
 * through the PAL->iommu-domain converter (kernel-model §3.3, §4.4).
 */
import { describe, expect, it } from "vitest";
import { findProfile } from "@dmabuf-ref/core";
import type { Profile } from "@dmabuf-ref/core";
import { computeMatrix, describeCell } from "../src/matrix/matrix.js";
import type { MatrixCell } from "../src/matrix/cell.js";
import { matrixMachine } from "../src/matrix/machine.js";
import { MATRIX_EXPORTERS, MATRIX_IMPORTERS } from "../src/matrix/registry.js";

function profile(id: string): Profile {
  const p = findProfile(id);
  if (p === undefined) throw new Error(`no profile ${id}`);
  return p;
}

const cells = computeMatrix(
  profile("proposal-converters"),
  matrixMachine,
  MATRIX_EXPORTERS,
  MATRIX_IMPORTERS,
);
function cell(exporter: string): MatrixCell {
  const c = cells.find((x) => x.exporter === exporter && x.importer === "iommufd");
  if (c === undefined) throw new Error(`no cell ${exporter} x iommufd`);
  return c;
}

describe("proposal-converters: iommufd through core's pal->iommu-domain converter", () => {
  it("vfio-pci -> iommufd is ok: iommu-domain via pal->iommu-domain, revocable and pinned", () => {
    expect(describeCell(cell("vfio-pci"))).toBe(
      "ok iommu-domain via pal->iommu-domain (revocable, pinned)",
    );
  });

  it("gpu -> iommufd is ok and not movable: iommufd pins the BO, so TTM cannot move it", () => {
    expect(cell("gpu")).toMatchObject({
      ok: true,
      type: "iommu-domain",
      converter: "pal->iommu-domain",
      lifetime: { revocable: true, movable: false, pinned: true },
    });
  });

  it("rdma -> iommufd stays EOPNOTSUPP at dma_buf_pin: the RDMA exporter cannot be pinned", () => {
    expect(cell("rdma")).toMatchObject({ ok: false, errno: "EOPNOTSUPP", stage: "dma_buf_pin" });
  });

  it("no iommufd cell reports a model gap any more", () => {
    for (const c of cells.filter((x) => x.importer === "iommufd")) {
      expect(describeCell(c)).not.toMatch(/model gap/);
    }
  });
});
