/**
 * The revoke triggers of kernel-model §2.5: every reset or power path
 * revokes, lets the revokes complete before the BARs stop decoding, and
 * un-revokes at its own end iff memory is enabled.
 */
import { describe, expect, it } from "vitest";
import { importerHolder, runScript } from "@dmabuf-ref/core";
import type { Machine, TraceEvent, World } from "@dmabuf-ref/core";
import { vfioDeviceState, vfioOperations } from "@dmabuf-ref/exporters";
import {
  actOnce,
  attachMapped,
  dmaOutcomes,
  exportVfio,
  makeWorld,
  regionStatus,
  resetIoctl,
  revokedOf,
  runActs,
} from "./setup.js";
import { isFailedAfterEffects } from "../../src/vfio-pci/ioctl-outcome.js";

/** The lifetime milestones of a trace, as short strings. */
function milestones(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e): string[] => {
    if (e.kind === "task") return [`${e.task} ${e.phase} ${e.buf}`];
    if (e.kind === "region" && e.region === "vfio0.bar0") return [`bar0 ${e.status}`];
    if (e.kind === "revoked") return [`revoked ${e.state} ${e.buf}`];
    if (e.kind === "invalidate") return [`invalidate ${e.att}`];
    if (e.kind === "unmap") return [`unmap ${e.att}`];
    if (e.kind === "ioctl") return [`ioctl ${e.name}`];
    return [];
  });
}

/** vfio0 exports one buffer, mapped by the reference importer for dev1. */
function mapped(m: Machine, w0: World): { world: World; buf: number; att: number; dma: bigint } {
  const e = exportVfio(m, w0);
  const a = attachMapped(m, e.world, e.buf, "dev1");
  return { world: a.world, buf: e.buf, att: a.att, dma: a.dma };
}

describe("FLR and VFIO_DEVICE_RESET (kernel-model §2.5)", () => {
  it("an FLR with memory on revokes, waits for the unmap, resets the BAR, then un-revokes with no memory-enable write", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const run = runActs(m, mb.world, [{ op: "flr", device: "vfio0" }]);
    const b = mb.buf;
    expect(milestones(run.events)).toEqual([
      `revoke start ${b}`,
      `revoked temporary ${b}`,
      `invalidate ${mb.att}`,
      `unmap ${mb.att}`,
      `revoke complete ${b}`,
      "bar0 inaccessible",
      "bar0 live",
      `unrevoke start ${b}`,
      `invalidate ${mb.att}`,
      `revoked usable ${b}`,
      `unrevoke complete ${b}`,
    ]);
    expect(revokedOf(run.world, b)).toBe("usable");
    expect(vfioOperations(m, run.world, "vfio0")).toEqual([]);
    expect(run.world.violations.size).toBe(0);
  });

  it("the BAR keeps decoding until DMA in flight has signalled and the importer has unmapped", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const holder = importerHolder("ref-importer", mb.att);
    const started = runActs(m, mb.world, [
      { kind: "lock", buf: mb.buf, holder },
      { kind: "dma-submit", att: mb.att, addr: mb.dma, len: 64n, dir: "write", holder },
      { kind: "unlock", buf: mb.buf, holder },
      { op: "flr", device: "vfio0" },
    ]);
    const job = started.results[1]?.created ?? -1;
    expect(regionStatus(started.world, "vfio0.bar0")).toBe("live");
    expect(revokedOf(started.world, mb.buf)).toBe("temporary");
    const finish = runScript(m, started.world, [
      { kind: "dma-access", job },
      { kind: "signal", job },
    ]);
    expect(dmaOutcomes(finish.events)).toEqual(["ok"]);
    expect(milestones(finish.events)).toContain("bar0 inaccessible");
    expect(finish.world.violations.size).toBe(0);
  });

  it("after the FLR, DMA through the old mapping faults in the IOMMU and is no violation; a new map works", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const reset = runActs(m, mb.world, [
      { op: "flr", device: "vfio0" },
      { kind: "dma", device: "dev1", addr: mb.dma, len: 64n, dir: "read" },
    ]);
    expect(dmaOutcomes(reset.events)).toEqual(["fault"]);
    const again = attachMapped(m, reset.world, mb.buf, "dev1");
    const dma = runScript(m, again.world, [
      { kind: "dma", device: "dev1", addr: again.dma, len: 64n, dir: "write" },
    ]);
    expect(dmaOutcomes(dma.events)).toEqual(["ok"]);
    expect(dma.world.violations.size).toBe(0);
  });

  it("an FLR with memory disabled leaves the dma-bufs revoked and the BAR dark", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const run = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { op: "flr", device: "vfio0" },
    ]);
    expect(revokedOf(run.world, mb.buf)).toBe("temporary");
    expect(regionStatus(run.world, "vfio0.bar0")).toBe("inaccessible");
    expect(milestones(run.events).filter((x) => x.startsWith("unrevoke"))).toEqual([]);
  });

  it("VFIO_DEVICE_RESET sets D0, revokes, resets and un-revokes; the ioctl returns 0 when all that is over", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const d3 = runActs(m, mb.world, [{ op: "power", device: "vfio0", state: "D3hot" }]).world;
    expect(revokedOf(d3, mb.buf)).toBe("temporary");
    const r = resetIoctl(m, d3, "vfio0", "qemu");
    if (r.status !== "done") throw new Error("reset failed");
    // Synchronous: everything happened before the ioctl returned.
    const ms = milestones(r.events);
    expect(ms.at(-1)).toBe("ioctl VFIO_DEVICE_RESET");
    expect(r.returned?.ret).toBe(0);
    expect(ms.indexOf("bar0 inaccessible")).toBeLessThan(ms.indexOf(`unrevoke start ${mb.buf}`));
    expect(vfioDeviceState(m, r.world, "vfio0").power).toBe("D0");
    expect(revokedOf(r.world, mb.buf)).toBe("usable");
    expect(vfioOperations(m, r.world, "vfio0")).toEqual([]);
  });

  it("VFIO_DEVICE_RESET is synchronous: revoke, reset and un-revoke are over when it returns", () => {
    const { m, w } = makeWorld();
    const mb = exportVfio(m, w);
    const r = resetIoctl(m, mb.world, "vfio0");
    if (r.status !== "done") throw new Error("reset failed");
    expect(milestones(r.events)).toContain(`revoke complete ${mb.buf}`);
    expect(milestones(r.events)).toContain(`unrevoke complete ${mb.buf}`);
    expect(revokedOf(r.world, mb.buf)).toBe("usable");
    expect(r.world.tasks.size).toBe(0);
    expect(vfioOperations(m, r.world, "vfio0")).toEqual([]);
  });

  it("VFIO_DEVICE_RESET sleeps until the importer's deferred unmap has run: it returns 0 with the unmap inside it", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const r = resetIoctl(m, mb.world, "vfio0");
    if (r.status !== "done") throw new Error(`reset ${r.status}`);
    const ms = milestones(r.events);
    expect(ms.indexOf(`unmap ${mb.att}`)).toBeLessThan(ms.indexOf(`revoke complete ${mb.buf}`));
    expect(ms.indexOf(`revoke complete ${mb.buf}`)).toBeLessThan(ms.indexOf("bar0 inaccessible"));
    expect(ms.at(-1)).toBe("ioctl VFIO_DEVICE_RESET");
    expect(r.returned?.ret).toBe(0);
  });

  it("VFIO_DEVICE_RESET that would sleep on a resv an importer holds is blocked, never EAGAIN, and changes nothing", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const held = runActs(m, mb.world, [
      { kind: "lock", buf: mb.buf, holder: importerHolder("ref-importer", mb.att) },
    ]).world;
    const r = resetIoctl(m, held, "vfio0");
    expect(r.status).toBe("blocked");
    expect(r.world).toBe(held);
  });

  it("VFIO_DEVICE_RESET while memory_lock is held by another operation is blocked, world unchanged", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const held = runActs(m, mb.world, [
      { kind: "lock", buf: mb.buf, holder: importerHolder("ref-importer", mb.att) },
    ]).world;
    const flr = actOnce(m, held, { op: "flr", device: "vfio0" });
    if (flr.status !== "done") throw new Error("flr failed");
    const r = resetIoctl(m, flr.world, "vfio0");
    expect(r).toMatchObject({ status: "blocked", waitFor: "lock" });
    expect(r.world).toBe(flr.world);
  });

  it("VFIO_DEVICE_RESET while an unbind holds the device lock fails with EAGAIN (pci_try_reset_function), after the revoke and the un-revoke ran", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const unbinding = actOnce(m, mb.world, { op: "unbind", device: "vfio0" });
    if (unbinding.status !== "done") throw new Error("unbind failed");
    const r = resetIoctl(m, unbinding.world, "vfio0");
    expect(r).toMatchObject({ status: "failed", error: { errno: "EAGAIN" } });
    // Core's contract: the failed arm carries the input world ...
    expect(r.world).toBe(unbinding.world);
    // ... and what the kernel did before it returned, which it does not undo.
    if (!isFailedAfterEffects(r)) throw new Error("nothing committed");
    const committed = r.committed;
    const ms = milestones(committed.events);
    expect(ms).toContain(`invalidate ${mb.att}`);
    expect(ms).toContain(`revoke complete ${mb.buf}`);
    expect(ms).toContain(`unrevoke complete ${mb.buf}`);
    // The function was not reset: its BAR never stopped decoding.
    expect(ms).not.toContain("bar0 inaccessible");
    expect(ms.at(-1)).toBe("ioctl VFIO_DEVICE_RESET");
    expect(revokedOf(committed.world, mb.buf)).toBe("usable");
    expect(vfioOperations(m, committed.world, "vfio0").map((o) => o.kind)).toEqual(["unbind"]);
  });

  it("VFIO_DEVICE_RESET on a closed device fd fails with EBADF and changes nothing", () => {
    const { m, w: w0 } = makeWorld();
    const w = runActs(m, w0, [{ op: "close-device", device: "vfio0" }]).world;
    const r = resetIoctl(m, w, "vfio0");
    expect(r).toMatchObject({ status: "failed", error: { errno: "EBADF" } });
    expect(r.world).toBe(w);
  });
});

describe("PCI_COMMAND, PMCSR and low power (kernel-model §2.5)", () => {
  it("a config write clearing PCI_COMMAND.MEMORY revokes, then stops the BAR decoding; nothing un-revokes", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const run = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
    ]);
    const ms = milestones(run.events);
    expect(ms.indexOf(`revoke complete ${mb.buf}`)).toBeLessThan(ms.indexOf("bar0 inaccessible"));
    expect(ms.filter((x) => x.startsWith("unrevoke"))).toEqual([]);
    expect(vfioDeviceState(m, run.world, "vfio0").memoryEnabled).toBe(false);
    expect(revokedOf(run.world, mb.buf)).toBe("temporary");
  });

  it("a config write setting PCI_COMMAND.MEMORY un-revokes, and the un-revoke also invalidates", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const off = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
    ]);
    const on = runActs(m, off.world, [
      { op: "config-write-command", device: "vfio0", memory: true },
    ]);
    expect(milestones(on.events)).toEqual([
      "bar0 live",
      `unrevoke start ${mb.buf}`,
      `invalidate ${mb.att}`,
      `revoked usable ${mb.buf}`,
      `unrevoke complete ${mb.buf}`,
    ]);
  });

  it("setting PCI_COMMAND.MEMORY in D3hot un-revokes nothing: memory is enabled only below D3hot", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const run = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { op: "power", device: "vfio0", state: "D3hot" },
      { op: "config-write-command", device: "vfio0", memory: true },
    ]);
    expect(revokedOf(run.world, mb.buf)).toBe("temporary");
    expect(regionStatus(run.world, "vfio0.bar0")).toBe("inaccessible");
    const d0 = runActs(m, run.world, [{ op: "power", device: "vfio0", state: "D0" }]);
    expect(revokedOf(d0.world, mb.buf)).toBe("usable");
    expect(regionStatus(d0.world, "vfio0.bar0")).toBe("live");
  });

  it("a PMCSR write to D3hot revokes before the BAR goes dark; back to D0 un-revokes if memory is enabled", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const d3 = runActs(m, mb.world, [{ op: "power", device: "vfio0", state: "D3hot" }]);
    const ms = milestones(d3.events);
    expect(ms.indexOf(`revoke complete ${mb.buf}`)).toBeLessThan(ms.indexOf("bar0 inaccessible"));
    const d0 = runActs(m, d3.world, [{ op: "power", device: "vfio0", state: "D0" }]);
    expect(revokedOf(d0.world, mb.buf)).toBe("usable");
  });

  it("low-power entry revokes; a second entry fails with EINVAL; exit un-revokes if memory is enabled", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const low = runActs(m, mb.world, [{ op: "low-power", device: "vfio0", enter: true }]);
    expect(revokedOf(low.world, mb.buf)).toBe("temporary");
    expect(regionStatus(low.world, "vfio0.bar0")).toBe("inaccessible");
    const again = actOnce(m, low.world, { op: "low-power", device: "vfio0", enter: true });
    expect(again).toMatchObject({ status: "failed", error: { errno: "EINVAL" } });
    expect(again.world).toBe(low.world);
    const exit = runActs(m, low.world, [{ op: "low-power", device: "vfio0", enter: false }]);
    expect(revokedOf(exit.world, mb.buf)).toBe("usable");
  });

  it("a trigger issued while another operation holds memory_lock sleeps and runs after it, in order", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const blocked = runActs(m, mb.world, [
      { kind: "lock", buf: mb.buf, holder: "someone" },
      { op: "flr", device: "vfio0" },
      { op: "config-write-command", device: "vfio0", memory: false },
    ]);
    expect(vfioOperations(m, blocked.world, "vfio0").map((o) => o.kind)).toEqual([
      "flr",
      "memory-off",
    ]);
    const done = runScript(m, blocked.world, [{ kind: "unlock", buf: mb.buf, holder: "someone" }]);
    expect(vfioOperations(m, done.world, "vfio0")).toEqual([]);
    expect(vfioDeviceState(m, done.world, "vfio0").memoryEnabled).toBe(false);
    expect(revokedOf(done.world, mb.buf)).toBe("temporary");
    expect(done.world.violations.size).toBe(0);
  });

  it("an action on an unknown device, or a malformed action, fails with EBADF / EINVAL and changes nothing", () => {
    const { m, w } = makeWorld();
    expect(actOnce(m, w, { op: "flr", device: "nope" })).toMatchObject({
      status: "failed",
      error: { errno: "EBADF" },
      world: w,
    });
    expect(actOnce(m, w, { op: "warp", device: "vfio0" })).toMatchObject({
      status: "failed",
      error: { errno: "EINVAL" },
      world: w,
    });
    expect(actOnce(m, w, { op: "continue", id: 99 })).toMatchObject({
      status: "failed",
      error: { errno: "EINVAL" },
      world: w,
    });
  });
});

describe("hot reset of a dev_set (kernel-model §2.5)", () => {
  it("revokes every device of the dev_set and un-revokes only open devices with memory enabled", () => {
    const { m, w } = makeWorld();
    const a = exportVfio(m, w, [{ offset: 0n, length: 0x1000n }], "vfio0");
    const b = exportVfio(m, a.world, [{ offset: 0n, length: 0x1000n }], "vfio1");
    const off = runActs(m, b.world, [
      { op: "config-write-command", device: "vfio1", memory: false },
    ]);
    const run = runActs(m, off.world, [{ op: "hot-reset", devSet: "set0" }]);
    const regions = run.events.flatMap((e) =>
      e.kind === "region" ? [`${e.region} ${e.status}`] : [],
    );
    expect(regions).toContain("vfio0.bar0 inaccessible");
    expect(regions).toContain("vfio0.bar0 live");
    expect(revokedOf(run.world, a.buf)).toBe("usable");
    expect(revokedOf(run.world, b.buf)).toBe("temporary");
    expect(regionStatus(run.world, "vfio1.bar0")).toBe("inaccessible");
  });

  it("a hot reset while a device of the set holds memory_lock fails with EBUSY (trylock)", () => {
    const { m, w } = makeWorld();
    const mb = mapped(m, w);
    const busy = runActs(m, mb.world, [
      { kind: "lock", buf: mb.buf, holder: "someone" },
      { op: "flr", device: "vfio0" },
    ]).world;
    const r = actOnce(m, busy, { op: "hot-reset", devSet: "set0" });
    expect(r).toMatchObject({ status: "failed", error: { errno: "EBUSY" } });
    expect(r.world).toBe(busy);
  });

  it("an unknown dev_set fails with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(actOnce(m, w, { op: "hot-reset", devSet: "nope" })).toMatchObject({
      status: "failed",
      error: { errno: "EINVAL" },
      world: w,
    });
  });
});
