/**
 * The kvm column of `dmabuf-ref matrix` (issue 5; Xu Yilun's KVM RFC,
 * kernel-model §5.1, §4.4): driven through KVM_MEM_VFIO_DMABUF and the
 * guest's first fault; only VFIO offers get_pfn in the RFC; the GPU's
 * hypothetical get_pfn under proposal-converters is movable.
 */
import { describe, expect, it } from "vitest";
import { boot, findProfile, kvmPfn, mustAtt, payloadAs, runScript } from "@dmabuf-ref/core";
import type { Machine, Profile, World } from "@dmabuf-ref/core";
import { kvmStateOf } from "@dmabuf-ref/importers";
import { computeMatrix, describeCell } from "../src/matrix/matrix.js";
import type { MatrixCell } from "../src/matrix/cell.js";
import { kvmRecipe } from "../src/matrix/kvm-recipe.js";
import { matrixMachine } from "../src/matrix/machine.js";
import { vfioRecipe } from "../src/matrix/recipes.js";
import { MATRIX_EXPORTERS, MATRIX_IMPORTERS } from "../src/matrix/registry.js";

function profile(id: string): Profile {
  const p = findProfile(id);
  if (p === undefined) throw new Error(`no profile ${id}`);
  return p;
}

const matrices = new Map<string, MatrixCell[]>();
function cell(profileId: string, exporter: string): MatrixCell {
  let m = matrices.get(profileId);
  if (m === undefined) {
    m = computeMatrix(profile(profileId), matrixMachine, MATRIX_EXPORTERS, [kvmRecipe]);
    matrices.set(profileId, m);
  }
  const c = m.find((x) => x.exporter === exporter && x.importer === "kvm");
  if (c === undefined) throw new Error(`no cell ${exporter} x kvm`);
  return c;
}

function vfioBuffer(p: string): { machine: Machine; world: World; buf: number } {
  const machine = matrixMachine(profile(p));
  const e = vfioRecipe.export(machine, boot(machine));
  if (!e.ok) throw new Error(e.reason);
  return { machine, world: e.world, buf: e.buf };
}

describe("the kvm column of the matrix (kernel-model §5.1)", () => {
  it("the matrix's kvm column is the KVM recipe of kvm-recipe.ts", () => {
    expect(MATRIX_IMPORTERS.find((i) => i.name === "kvm")).toBe(kvmRecipe);
  });

  it("KVM imports a VFIO BAR as kvm-pfn, revocable and neither movable nor pinned, under rfc-mapping-types-v1 and proposal-converters", () => {
    for (const p of ["rfc-mapping-types-v1", "proposal-converters"]) {
      expect(cell(p, "vfio-pci")).toEqual({
        exporter: "vfio-pci",
        importer: "kvm",
        ok: true,
        type: "kvm-pfn",
        lifetime: { revocable: true, movable: false, pinned: false },
      });
    }
  });

  it("under rfc-mapping-types-v1 a GPU or RDMA dma-buf fails KVM import in negotiation with EINVAL: only VFIO has get_pfn", () => {
    for (const e of ["gpu", "rdma"]) {
      const c = cell("rfc-mapping-types-v1", e);
      expect(c).toMatchObject({ ok: false, errno: "EINVAL", stage: "negotiation" });
      expect(c.ok ? "" : c.reason).toContain(
        `${e} has no get_pfn (in Xu Yilun's RFC only VFIO does)`,
      );
    }
  });

  it("under proposal-converters the hypothetical GPU get_pfn gives KVM a revocable, movable kvm-pfn import", () => {
    expect(describeCell(cell("proposal-converters", "gpu"))).toBe(
      "ok kvm-pfn (revocable, movable)",
    );
  });

  it("under proposal-converters the RDMA exporter still offers no get_pfn: EINVAL at negotiation", () => {
    expect(cell("proposal-converters", "rdma")).toMatchObject({
      ok: false,
      errno: "EINVAL",
      stage: "negotiation",
    });
  });

  it("KVM is not in linux-6.19 or linux-7.1: the memslot flag does not exist there", () => {
    for (const p of ["linux-6.19", "linux-7.1"]) {
      for (const e of ["vfio-pci", "gpu", "rdma"]) {
        expect(cell(p, e)).toEqual({
          exporter: e,
          importer: "kvm",
          ok: false,
          errno: null,
          reason: `not in ${p}`,
        });
      }
    }
  });
});

describe("the kvm recipe drives KVM's own entry points (kernel-model §5.1)", () => {
  it("the import leaves one KVM_MEM_VFIO_DMABUF memslot the size of the buffer, faulted in through get_pfn", () => {
    const e = vfioBuffer("rfc-mapping-types-v1");
    const r = kvmRecipe.import(e.machine, e.world, e.buf);
    if (!r.ok) throw new Error(r.reason);
    const [slot, ...more] = kvmStateOf(e.machine, r.world).slots;
    expect(more).toEqual([]);
    expect(slot).toMatchObject({ buf: e.buf, att: r.att, npages: 0x200n, zapped: false });
    const a = mustAtt(r.world, r.att);
    expect(a).toMatchObject({ importer: "kvm", device: null, dynamic: true, pins: 0 });
    expect(payloadAs(kvmPfn, a.mapping?.payload)).toMatchObject({ mmio: true, cache: "uncached" });
  });

  it("a memslot over a revoked VFIO dma-buf is refused by the exporter's attach with ENODEV", () => {
    const e = vfioBuffer("rfc-mapping-types-v1");
    const off = memoryOff(e.machine, e.world);
    expect(kvmRecipe.import(e.machine, off, e.buf)).toMatchObject({
      ok: false,
      errno: "ENODEV",
      stage: "exporter attach",
    });
  });
});

/** vfio0's PCI_COMMAND.MEMORY cleared: its dma-bufs are revoked until it is set again. */
function memoryOff(m: Machine, w: World): World {
  const action = { op: "config-write-command", device: "vfio0", memory: false };
  return runScript(m, w, [{ kind: "driver", driver: "vfio-pci", action }]).world;
}
