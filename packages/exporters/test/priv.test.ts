/**
 * Each exporter stores its `dmabuf->priv` with a codec of its own (issue
 * 10: no reflective encoding): two worlds whose buffers differ in one
 * private field differ in equality and hash, and a buffer's private data
 * reads back as it was stored.
 */
import { describe, expect, it } from "vitest";
import { encodedWith, mustBuf } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";
import { gpuPrivOf, rdmaPrivOf } from "@dmabuf-ref/exporters";
import type { GpuBoPriv, RdmaDmaBufPriv, VfioDmaBufPriv } from "@dmabuf-ref/exporters";
import { privOf, withPriv } from "../src/vfio-pci/vfio_pci_dmabuf.js";
import { withGpuPriv } from "../src/gpu/state.js";
import { rdmaDmaBufPrivCodec } from "../src/rdma/driver.js";
import { exportVfio, makeWorld as vfioWorld } from "./vfio-pci/setup.js";
import { exportBuf, makeWorld as gpuWorld } from "./gpu/setup.js";
import { expectDiffer, expectSame } from "./support/worlds.js";

/** One changed field: its name and the private data with it changed. */
type Mutator<T> = readonly [string, (x: T) => T];

describe("VFIO's dmabuf->priv (struct vfio_pci_dma_buf) enters the World field by field", () => {
  const mutators: readonly Mutator<VfioDmaBufPriv>[] = [
    ["vdev", (p) => ({ ...p, vdev: p.vdev === null ? "vfio0" : null })],
    ["bar", (p) => ({ ...p, bar: p.bar + 1 })],
    [
      "phys[0].paddr",
      (p) => ({
        ...p,
        phys: p.phys.map((v, i) => (i === 0 ? { ...v, paddr: v.paddr + 0x1000n } : v)),
      }),
    ],
    [
      "phys[0].len",
      (p) => ({ ...p, phys: p.phys.map((v, i) => (i === 0 ? { ...v, len: v.len + 1n } : v)) }),
    ],
    ["phys.length", (p) => ({ ...p, phys: [...p.phys, { paddr: 0n, len: 1n }] })],
    ["provider", (p) => ({ ...p, provider: `${p.provider}'` })],
    ["nrRanges", (p) => ({ ...p, nrRanges: p.nrRanges + 1 })],
    ["openFlags", (p) => ({ ...p, openFlags: p.openFlags ^ 2 })],
  ];
  it("a change of any one field changes the world; writing it back restores an equal world", () => {
    const { m, w } = vfioWorld();
    const e = exportVfio(m, w);
    const priv = privOf(e.world, e.buf);
    expectSame(withPriv(e.world, e.buf, { ...priv }), e.world, "same priv rewritten");
    for (const [field, change] of mutators) {
      const changed = withPriv(e.world, e.buf, change(priv));
      expectDiffer(changed, e.world, field);
      expect(privOf(changed, e.buf)).toEqual(change(priv));
      expectSame(withPriv(changed, e.buf, priv), e.world, `${field} restored`);
    }
  });
});

describe("the GPU exporter's dmabuf->priv (the BO) enters the World field by field", () => {
  const mutators: readonly Mutator<GpuBoPriv>[] = [
    ["device", (p) => ({ ...p, device: `${p.device}'` })],
    ["placement", (p) => ({ ...p, placement: p.placement === "vram" ? "system" : "vram" })],
    ["phys", (p) => ({ ...p, phys: p.phys + 0x1000n })],
    ["region", (p) => ({ ...p, region: `${p.region}'` })],
    ["generation", (p) => ({ ...p, generation: 1 - p.generation })],
  ];
  it("a change of any one field changes the world; writing it back restores an equal world", () => {
    const { m, w } = gpuWorld();
    const e = exportBuf(m, w, "gpu", "gpu0", { size: 0x10000n, placement: "vram" });
    const priv = gpuPrivOf(e.world, e.buf);
    for (const [field, change] of mutators) {
      const changed = withGpuPriv(e.world, e.buf, change(priv));
      expectDiffer(changed, e.world, field);
      expect(gpuPrivOf(changed, e.buf)).toEqual(change(priv));
      expectSame(withGpuPriv(changed, e.buf, priv), e.world, `${field} restored`);
    }
  });
});

describe("the RDMA exporter's dmabuf->priv enters the World field by field", () => {
  const mutators: readonly Mutator<RdmaDmaBufPriv>[] = [
    ["nic", (p) => ({ ...p, nic: `${p.nic}'` })],
    ["phys", (p) => ({ ...p, phys: p.phys + 0x1000n })],
    ["len", (p) => ({ ...p, len: p.len + 0x1000n })],
    ["mmapEntry", (p) => ({ ...p, mmapEntry: !p.mmapEntry })],
  ];
  const withRdmaPriv = (w: World, buf: number, priv: RdmaDmaBufPriv): World => ({
    ...w,
    bufs: w.bufs.set(buf, { ...mustBuf(w, buf), priv: encodedWith(rdmaDmaBufPrivCodec, priv) }),
  });
  it("a change of any one field changes the world; writing it back restores an equal world", () => {
    const { m, w } = gpuWorld();
    const e = exportBuf(m, w, "rdma", "nic0", { size: 0x10000n, offset: 0x1000n });
    const priv = rdmaPrivOf(e.world, e.buf);
    for (const [field, change] of mutators) {
      const changed = withRdmaPriv(e.world, e.buf, change(priv));
      expectDiffer(changed, e.world, field);
      expect(rdmaPrivOf(changed, e.buf)).toEqual(change(priv));
      expectSame(withRdmaPriv(changed, e.buf, priv), e.world, `${field} restored`);
    }
  });
});
