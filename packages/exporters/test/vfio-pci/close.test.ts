/**
 * Device close and unbind (kernel-model §2.5, §7.9): a permanent revoke in
 * two steps, vfio_pci_core_disable() and vfio_pci_dma_buf_cleanup(), whose
 * order decides whether importers can reach a reset BAR.
 */
import { describe, expect, it } from "vitest";
import {
  findProfile,
  linux619,
  linux71,
  lookupBuf,
  runScript,
  settle,
  step,
} from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { vfioDeviceState, vfioDmaBufPriv, vfioOperations } from "@dmabuf-ref/exporters";
import {
  VFIO,
  actOnce,
  attachMapped,
  dmaBufRequest,
  dmaOutcomes,
  exportVfio,
  featureIoctl,
  makeWorld,
  regionStatus,
  revokedOf,
  runActs,
  settleOne,
} from "./setup.js";

function mapped(m: Machine, w0: World): { world: World; buf: number; att: number; dma: bigint } {
  const e = exportVfio(m, w0);
  const a = attachMapped(m, e.world, e.buf, "dev1");
  return { world: a.world, buf: e.buf, att: a.att, dma: a.dma };
}

/** vdev is NULL only once revoked is permanent (Matt Evans' invariant). */
function vdevInvariant(w: World): boolean {
  for (const [id, b] of w.bufs.entries()) {
    if (b.exporter !== VFIO || b.released) continue;
    if (vfioDmaBufPriv(w, id).vdev === null && b.revoked !== "permanent") return false;
  }
  return true;
}

/** Steps the driver's pending continuations (and tasks, importers) one op at a time. */
function stepwise(m: Machine, w0: World, check: (w: World) => void): World {
  let w = w0;
  for (let i = 0; i < 200; i++) {
    check(w);
    const s = settleOne(m, w);
    if (s === w) return w;
    w = s;
  }
  throw new Error("did not settle");
}

describe("device close (kernel-model §2.5)", () => {
  it("closing the device revokes every dma-buf for good; the dma-buf fd outlives it and stays revoked", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const run = runActs(m, mb.world, [{ op: "close-device", device: "vfio0" }]);
    expect(revokedOf(run.world, mb.buf)).toBe("permanent");
    expect(vfioDmaBufPriv(run.world, mb.buf).vdev).toBeNull();
    expect(lookupBuf(run.world, mb.buf)).toMatchObject({ released: false });
    expect(run.world.atts.get(mb.att)?.mapping).toBeNull();
    expect(vfioDeviceState(m, run.world, "vfio0")).toMatchObject({
      open: false,
      memoryEnabled: false,
    });
  });

  it("after close, attach and map of the dma-buf fail with ENODEV and nothing un-revokes it", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const closed = runActs(m, mb.world, [{ op: "close-device", device: "vfio0" }]).world;
    const a = step(m, closed, {
      kind: "attach",
      buf: mb.buf,
      importer: "ref-importer",
      device: "dev1",
      dynamic: true,
    });
    expect(a).toMatchObject({ status: "failed", error: { errno: "ENODEV" } });
    const map = runScript(m, closed, [
      { kind: "lock", buf: mb.buf, holder: "x" },
      { kind: "map", att: mb.att, holder: "x" },
    ]);
    expect(map.results[1]?.error?.errno).toBe("ENODEV");
    expect(
      actOnce(m, closed, { op: "config-write-command", device: "vfio0", memory: true }),
    ).toMatchObject({ status: "failed", error: { errno: "EBADF" } });
    expect(step(m, closed, { kind: "unrevoke", buf: mb.buf, by: "x" })).toMatchObject({
      status: "failed",
      error: { errno: "ENODEV" },
    });
  });

  it("vdev is NULL only after revoked is permanent, and revoked changes only under resv", () => {
    for (const closeOrder of ["disable-then-cleanup", "cleanup-then-disable"] as const) {
      const { m, w } = makeWorld({ closeOrder });
      const mb = mapped(m, w);
      const two = exportVfio(m, mb.world, [{ offset: 0x10000n, length: 0x1000n }]);
      const started = actOnce(m, two.world, { op: "close-device", device: "vfio0" });
      if (started.status !== "done") throw new Error("close failed");
      const end = stepwise(m, started.world, (w) => {
        expect(vdevInvariant(w)).toBe(true);
      });
      expect([...end.violations.values()].filter((v) => v.kind === "contract")).toEqual([]);
      expect(vfioDmaBufPriv(end, two.buf).vdev).toBeNull();
      expect(vfioDmaBufPriv(end, mb.buf).vdev).toBeNull();
    }
  });

  it("with the kref re-arm (c64a647c84f3) closing a device whose dma-bufs a memory-disable revoked drains none again: they become permanent at once", () => {
    for (const profile of [linux71, findProfile("linux-7.2") ?? linux71]) {
      const { m, w } = makeWorld({ profile });
      const mb = mapped(m, w);
      const off = runActs(m, mb.world, [
        { op: "config-write-command", device: "vfio0", memory: false },
      ]);
      const run = runActs(m, off.world, [{ op: "close-device", device: "vfio0" }]);
      const tasks = run.events.filter((e) => e.kind === "task");
      expect(tasks).toEqual([]);
      expect(run.events.filter((e) => e.kind === "invalidate")).toEqual([]);
      expect(revokedOf(run.world, mb.buf)).toBe("permanent");
      expect(vfioOperations(m, run.world, "vfio0")).toEqual([]);
      expect(run.world.violations.size).toBe(0);
    }
  });

  it("in 6.19 closing a device whose dma-bufs are already revoked revokes each once more for good (a second invalidate)", () => {
    const { m, w } = makeWorld({ profile: linux619 });
    const e = exportVfio(m, w);
    const off = runActs(m, e.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
    ]);
    const run = runActs(m, off.world, [{ op: "close-device", device: "vfio0" }]);
    const revokes = run.events.filter((x) => x.kind === "task" && x.phase === "complete");
    expect(revokes).toHaveLength(1);
    expect(revokedOf(run.world, e.buf)).toBe("permanent");
  });

  it("without the kref re-arm (v7.1-rc, krefRearm: false) close after a memory-disable revoke underflows the kref and never completes", () => {
    const { m, w } = makeWorld({ krefRearm: false });
    const mb = mapped(m, w);
    const off = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
    ]);
    const run = runActs(m, off.world, [{ op: "close-device", device: "vfio0" }]);
    expect(vfioOperations(m, run.world, "vfio0").map((o) => o.kind)).toEqual(["close"]);
    expect(settle(m, run.world).world).toBe(run.world);
    expect([...run.world.violations.values()]).toEqual([
      expect.objectContaining({ kind: "contract", actor: "vfio0" }),
    ]);
    expect(vfioDmaBufPriv(run.world, mb.buf).kref).toBe("underflowed");
  });

  it("without the kref re-arm a revoke that an un-revoke followed leaves close working (kref_init in un-revoke)", () => {
    const { m, w } = makeWorld({ krefRearm: false });
    const mb = mapped(m, w);
    const cycled = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { op: "config-write-command", device: "vfio0", memory: true },
      { op: "close-device", device: "vfio0" },
    ]);
    expect(vfioOperations(m, cycled.world, "vfio0")).toEqual([]);
    expect(revokedOf(cycled.world, mb.buf)).toBe("permanent");
    expect(cycled.world.violations.size).toBe(0);
  });

  it("in 7.1's order (disable before cleanup) a device whose IOMMU still maps the BAR reaches a reset BAR: a violation", () => {
    const { m, w } = makeWorld({ closeOrder: "disable-then-cleanup" });
    const mb = mapped(m, w);
    const window = actOnce(m, mb.world, { op: "close-device", device: "vfio0" });
    if (window.status !== "done") throw new Error("close failed");
    expect(regionStatus(window.world, "vfio0.bar0")).toBe("inaccessible");
    expect(revokedOf(window.world, mb.buf)).toBe("usable");
    const dma = step(m, window.world, {
      kind: "dma",
      device: "dev1",
      addr: mb.dma,
      len: 64n,
      dir: "read",
    });
    if (dma.status !== "done") throw new Error("dma did not run");
    expect(dmaOutcomes(dma.events)).toEqual(["violation"]);
    expect([...dma.world.violations.values()]).toEqual([
      expect.objectContaining({ kind: "access-after-revoke", actor: "dev1" }),
    ]);
    const after = settle(m, dma.world);
    expect(revokedOf(after.world, mb.buf)).toBe("permanent");
  });

  it("with Matt Evans' order (cleanup before disable) the BAR decodes until the revoke is done; later DMA faults", () => {
    const { m, w } = makeWorld({ closeOrder: "cleanup-then-disable" });
    const mb = mapped(m, w);
    const started = actOnce(m, mb.world, { op: "close-device", device: "vfio0" });
    if (started.status !== "done") throw new Error("close failed");
    expect(regionStatus(started.world, "vfio0.bar0")).toBe("live");
    const inFlight = step(m, started.world, {
      kind: "dma",
      device: "dev1",
      addr: mb.dma,
      len: 64n,
      dir: "read",
    });
    if (inFlight.status !== "done") throw new Error("dma did not run");
    expect(dmaOutcomes(inFlight.events)).toEqual(["ok"]);
    const run = runScript(m, settle(m, inFlight.world).world, [
      { kind: "dma", device: "dev1", addr: mb.dma, len: 64n, dir: "read" },
    ]);
    expect(regionStatus(run.world, "vfio0.bar0")).toBe("inaccessible");
    expect(dmaOutcomes(run.events)).toEqual(["fault"]);
    expect(run.world.violations.size).toBe(0);
  });

  it("closing a closed device fd fails with EBADF and changes nothing", () => {
    const { m, w: w0 } = makeWorld();
    const w = runActs(m, w0, [{ op: "close-device", device: "vfio0" }]).world;
    const r = actOnce(m, w, { op: "close-device", device: "vfio0" });
    expect(r).toMatchObject({ status: "failed", error: { errno: "EBADF" } });
    expect(r.world).toBe(w);
  });
});

describe("unbind (kernel-model §2.5: each dma-buf holds the device registration)", () => {
  it("unbind waits for the device fd to close and for every dma-buf to drop its registration", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const unbinding = runActs(m, mb.world, [{ op: "unbind", device: "vfio0" }]);
    expect(vfioDeviceState(m, unbinding.world, "vfio0")).toMatchObject({
      registered: false,
      bound: true,
    });
    const r = featureIoctl(
      m,
      unbinding.world,
      dmaBufRequest([{ offset: 0n, length: 0x1000n }]),
      "vfio0",
    );
    expect(r).toMatchObject({ status: "failed", error: { errno: "ENODEV" } });
    const closed = runActs(m, unbinding.world, [{ op: "close-device", device: "vfio0" }]);
    expect(vfioDeviceState(m, closed.world, "vfio0").bound).toBe(false);
    // The dma-buf fd is still open, revoked for good.
    expect(revokedOf(closed.world, mb.buf)).toBe("permanent");
    expect(actOnce(m, closed.world, { op: "unbind", device: "vfio0" })).toMatchObject({
      status: "failed",
      error: { errno: "ENODEV" },
    });
  });

  it("a second unbind while one is in progress fails with EBUSY", () => {
    const { m, w: w0 } = makeWorld();
    const w = runActs(m, w0, [{ op: "unbind", device: "vfio0" }]).world;
    expect(actOnce(m, w, { op: "unbind", device: "vfio0" })).toMatchObject({
      status: "failed",
      error: { errno: "EBUSY" },
      world: w,
    });
  });
});
