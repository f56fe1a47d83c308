/**
 * The revoke triggers of kernel-facts §2.5: every reset or power path
 * revokes, lets the revokes complete before the BARs stop decoding, and
 * un-revokes at its own end iff memory is enabled.
 */
import { describe, expect, it } from "vitest";
import { importerHolder, runScript, settle } from "@dmabuf-ref/core";
import type { TraceEvent, World } from "@dmabuf-ref/core";
import { vfioDeviceResetIoctl, vfioDeviceState, vfioOperations } from "@dmabuf-ref/exporters";
import {
  actOnce,
  attachMapped,
  dmaOutcomes,
  exportVfio,
  makeWorld,
  regionStatus,
  revokedOf,
  runActs,
} from "./setup.js";

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
function mapped(w0: World = makeWorld()): { world: World; buf: number; att: number; dma: bigint } {
  const e = exportVfio(w0);
  const m = attachMapped(e.world, e.buf, "dev1");
  return { world: m.world, buf: e.buf, att: m.att, dma: m.dma };
}

describe("FLR and VFIO_DEVICE_RESET (kernel-facts §2.5)", () => {
  it("an FLR with memory on revokes, waits for the unmap, resets the BAR, then un-revokes with no memory-enable write", () => {
    const m = mapped();
    const run = runActs(m.world, [{ op: "flr", device: "vfio0" }]);
    const b = m.buf;
    expect(milestones(run.events)).toEqual([
      `revoke start ${b}`,
      `revoked temporary ${b}`,
      `invalidate ${m.att}`,
      `unmap ${m.att}`,
      `revoke complete ${b}`,
      "bar0 inaccessible",
      "bar0 live",
      `unrevoke start ${b}`,
      `invalidate ${m.att}`,
      `revoked usable ${b}`,
      `unrevoke complete ${b}`,
    ]);
    expect(revokedOf(run.world, b)).toBe("usable");
    expect(vfioOperations(run.world, "vfio0")).toEqual([]);
    expect(run.world.violations.size).toBe(0);
  });

  it("the BAR keeps decoding until DMA in flight has signalled and the importer has unmapped", () => {
    const m = mapped();
    const holder = importerHolder("ref-importer", m.att);
    const started = runActs(m.world, [
      { kind: "lock", buf: m.buf, holder },
      { kind: "dma-submit", att: m.att, addr: m.dma, len: 64n, dir: "write", holder },
      { kind: "unlock", buf: m.buf, holder },
      { op: "flr", device: "vfio0" },
    ]);
    const job = started.results[1]?.created ?? -1;
    expect(regionStatus(started.world, "vfio0.bar0")).toBe("live");
    expect(revokedOf(started.world, m.buf)).toBe("temporary");
    const finish = runScript(started.world, [
      { kind: "dma-access", job },
      { kind: "signal", job },
    ]);
    expect(dmaOutcomes(finish.events)).toEqual(["ok"]);
    expect(milestones(finish.events)).toContain("bar0 inaccessible");
    expect(finish.world.violations.size).toBe(0);
  });

  it("after the FLR, DMA through the old mapping faults in the IOMMU and is no violation; a new map works", () => {
    const m = mapped();
    const reset = runActs(m.world, [
      { op: "flr", device: "vfio0" },
      { kind: "dma", device: "dev1", addr: m.dma, len: 64n, dir: "read" },
    ]);
    expect(dmaOutcomes(reset.events)).toEqual(["fault"]);
    const again = attachMapped(reset.world, m.buf, "dev1");
    const dma = runScript(again.world, [
      { kind: "dma", device: "dev1", addr: again.dma, len: 64n, dir: "write" },
    ]);
    expect(dmaOutcomes(dma.events)).toEqual(["ok"]);
    expect(dma.world.violations.size).toBe(0);
  });

  it("an FLR with memory disabled leaves the dma-bufs revoked and the BAR dark", () => {
    const m = mapped();
    const run = runActs(m.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { op: "flr", device: "vfio0" },
    ]);
    expect(revokedOf(run.world, m.buf)).toBe("temporary");
    expect(regionStatus(run.world, "vfio0.bar0")).toBe("inaccessible");
    expect(milestones(run.events).filter((x) => x.startsWith("unrevoke"))).toEqual([]);
  });

  it("VFIO_DEVICE_RESET sets D0, revokes, resets and un-revokes; the ioctl returns 0 when all that is over", () => {
    const m = mapped();
    const d3 = runActs(m.world, [{ op: "power", device: "vfio0", state: "D3hot" }]).world;
    expect(revokedOf(d3, m.buf)).toBe("temporary");
    const r = vfioDeviceResetIoctl(d3, "vfio0", "qemu");
    if (r.status !== "done") throw new Error("reset failed");
    expect(milestones(r.events)).not.toContain("ioctl VFIO_DEVICE_RESET");
    const s = settle(r.world);
    const ms = milestones([...r.events, ...s.events]);
    expect(ms.at(-1)).toBe("ioctl VFIO_DEVICE_RESET");
    expect(ms.indexOf("bar0 inaccessible")).toBeLessThan(ms.indexOf(`unrevoke start ${m.buf}`));
    expect(vfioDeviceState(s.world, "vfio0").power).toBe("D0");
    expect(revokedOf(s.world, m.buf)).toBe("usable");
  });

  it("VFIO_DEVICE_RESET on a closed device fd fails with EBADF and changes nothing", () => {
    const w = runActs(makeWorld(), [{ op: "close", device: "vfio0" }]).world;
    const r = vfioDeviceResetIoctl(w, "vfio0");
    expect(r).toMatchObject({ status: "failed", error: { errno: "EBADF" } });
    expect(r.world).toBe(w);
  });
});

describe("PCI_COMMAND, PMCSR and low power (kernel-facts §2.5)", () => {
  it("a config write clearing PCI_COMMAND.MEMORY revokes, then stops the BAR decoding; nothing un-revokes", () => {
    const m = mapped();
    const run = runActs(m.world, [{ op: "config-write-command", device: "vfio0", memory: false }]);
    const ms = milestones(run.events);
    expect(ms.indexOf(`revoke complete ${m.buf}`)).toBeLessThan(ms.indexOf("bar0 inaccessible"));
    expect(ms.filter((x) => x.startsWith("unrevoke"))).toEqual([]);
    expect(vfioDeviceState(run.world, "vfio0").memoryEnabled).toBe(false);
    expect(revokedOf(run.world, m.buf)).toBe("temporary");
  });

  it("a config write setting PCI_COMMAND.MEMORY un-revokes, and the un-revoke also invalidates", () => {
    const m = mapped();
    const off = runActs(m.world, [{ op: "config-write-command", device: "vfio0", memory: false }]);
    const on = runActs(off.world, [{ op: "config-write-command", device: "vfio0", memory: true }]);
    expect(milestones(on.events)).toEqual([
      "bar0 live",
      `unrevoke start ${m.buf}`,
      `invalidate ${m.att}`,
      `revoked usable ${m.buf}`,
      `unrevoke complete ${m.buf}`,
    ]);
  });

  it("setting PCI_COMMAND.MEMORY in D3hot un-revokes nothing: memory is enabled only below D3hot", () => {
    const m = mapped();
    const run = runActs(m.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { op: "power", device: "vfio0", state: "D3hot" },
      { op: "config-write-command", device: "vfio0", memory: true },
    ]);
    expect(revokedOf(run.world, m.buf)).toBe("temporary");
    expect(regionStatus(run.world, "vfio0.bar0")).toBe("inaccessible");
    const d0 = runActs(run.world, [{ op: "power", device: "vfio0", state: "D0" }]);
    expect(revokedOf(d0.world, m.buf)).toBe("usable");
    expect(regionStatus(d0.world, "vfio0.bar0")).toBe("live");
  });

  it("a PMCSR write to D3hot revokes before the BAR goes dark; back to D0 un-revokes if memory is enabled", () => {
    const m = mapped();
    const d3 = runActs(m.world, [{ op: "power", device: "vfio0", state: "D3hot" }]);
    const ms = milestones(d3.events);
    expect(ms.indexOf(`revoke complete ${m.buf}`)).toBeLessThan(ms.indexOf("bar0 inaccessible"));
    const d0 = runActs(d3.world, [{ op: "power", device: "vfio0", state: "D0" }]);
    expect(revokedOf(d0.world, m.buf)).toBe("usable");
  });

  it("low-power entry revokes; a second entry fails with EINVAL; exit un-revokes if memory is enabled", () => {
    const m = mapped();
    const low = runActs(m.world, [{ op: "low-power", device: "vfio0", enter: true }]);
    expect(revokedOf(low.world, m.buf)).toBe("temporary");
    expect(regionStatus(low.world, "vfio0.bar0")).toBe("inaccessible");
    const again = actOnce(low.world, { op: "low-power", device: "vfio0", enter: true });
    expect(again).toMatchObject({ status: "failed", error: { errno: "EINVAL" } });
    expect(again.world).toBe(low.world);
    const exit = runActs(low.world, [{ op: "low-power", device: "vfio0", enter: false }]);
    expect(revokedOf(exit.world, m.buf)).toBe("usable");
  });

  it("a trigger issued while another operation holds memory_lock sleeps and runs after it, in order", () => {
    const m = mapped();
    const blocked = runActs(m.world, [
      { kind: "lock", buf: m.buf, holder: "someone" },
      { op: "flr", device: "vfio0" },
      { op: "config-write-command", device: "vfio0", memory: false },
    ]);
    expect(vfioOperations(blocked.world, "vfio0").map((o) => o.kind)).toEqual([
      "flr",
      "memory-off",
    ]);
    const done = runScript(blocked.world, [{ kind: "unlock", buf: m.buf, holder: "someone" }]);
    expect(vfioOperations(done.world, "vfio0")).toEqual([]);
    expect(vfioDeviceState(done.world, "vfio0").memoryEnabled).toBe(false);
    expect(revokedOf(done.world, m.buf)).toBe("temporary");
    expect(done.world.violations.size).toBe(0);
  });

  it("an action on an unknown device, or a malformed action, fails with EBADF / EINVAL and changes nothing", () => {
    const w = makeWorld();
    expect(actOnce(w, { op: "flr", device: "nope" })).toMatchObject({
      status: "failed",
      error: { errno: "EBADF" },
      world: w,
    });
    expect(actOnce(w, { op: "warp", device: "vfio0" })).toMatchObject({
      status: "failed",
      error: { errno: "EINVAL" },
      world: w,
    });
    expect(actOnce(w, { op: "continue", id: 99 })).toMatchObject({
      status: "failed",
      error: { errno: "EINVAL" },
      world: w,
    });
  });
});

describe("hot reset of a dev_set (kernel-facts §2.5)", () => {
  it("revokes every device of the dev_set and un-revokes only open devices with memory enabled", () => {
    const a = exportVfio(makeWorld(), [{ offset: 0n, length: 0x1000n }], "vfio0");
    const b = exportVfio(a.world, [{ offset: 0n, length: 0x1000n }], "vfio1");
    const off = runActs(b.world, [{ op: "config-write-command", device: "vfio1", memory: false }]);
    const run = runActs(off.world, [{ op: "hot-reset", devSet: "set0" }]);
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
    const m = mapped();
    const busy = runActs(m.world, [
      { kind: "lock", buf: m.buf, holder: "someone" },
      { op: "flr", device: "vfio0" },
    ]).world;
    const r = actOnce(busy, { op: "hot-reset", devSet: "set0" });
    expect(r).toMatchObject({ status: "failed", error: { errno: "EBUSY" } });
    expect(r.world).toBe(busy);
  });

  it("an unknown dev_set fails with EINVAL", () => {
    const w = makeWorld();
    expect(actOnce(w, { op: "hot-reset", devSet: "nope" })).toMatchObject({
      status: "failed",
      error: { errno: "EINVAL" },
      world: w,
    });
  });
});
