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

/**
 * For each field: writing the buffer's private data with that field changed
 * gives a different world that reads the change back, and writing the
 * original again gives a world equal to the first.
 */
function expectEveryFieldEncoded<P>(
  w: World,
  read: (w: World) => P,
  write: (w: World, priv: P) => World,
  mutators: readonly Mutator<P>[],
): void {
  const priv = read(w);
  for (const [field, change] of mutators) {
    const changed = write(w, change(priv));
    expectDiffer(changed, w, field);
    expect(read(changed)).toEqual(change(priv));
    expectSame(write(changed, priv), w, `${field} restored`);
  }
}

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
    ["kref", (p) => ({ ...p, kref: p.kref === "armed" ? "drained" : "armed" })],
    ["memattr", (p) => ({ ...p, memattr: 1 - p.memattr })],
  ];
  it("a change of any one field changes the world; writing it back restores an equal world", () => {
    const { m, w } = vfioWorld();
    const e = exportVfio(m, w);
    expectSame(
      withPriv(e.world, e.buf, { ...privOf(e.world, e.buf) }),
      e.world,
      "same priv rewritten",
    );
    expectEveryFieldEncoded(
      e.world,
      (w) => privOf(w, e.buf),
      (w, p) => withPriv(w, e.buf, p),
      mutators,
    );
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
    expectEveryFieldEncoded(
      e.world,
      (w) => gpuPrivOf(w, e.buf),
      (w, p) => withGpuPriv(w, e.buf, p),
      mutators,
    );
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
    expectEveryFieldEncoded(
      e.world,
      (w) => rdmaPrivOf(w, e.buf),
      (w, p) => withRdmaPriv(w, e.buf, p),
      mutators,
    );
  });
});
