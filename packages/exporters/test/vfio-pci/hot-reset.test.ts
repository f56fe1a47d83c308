/**
 * VFIO_DEVICE_PCI_HOT_RESET (`vfio_pci_dev_set_hot_reset`, kernel-model
 * §2.5), synchronous: every device of the dev_set is revoked, the bus is
 * reset, and each open device with memory enabled is restored, on success
 * and, through the undo path, on failure.
 */
import { describe, expect, it } from "vitest";
import {
  importerHolder,
  settle,
  linux710,
  linux71,
  linux72,
  proposalVfioDmabufMmap,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { vfioDeviceState, vfioOperations } from "@dmabuf-ref/exporters";
import { isFailedAfterEffects } from "../../src/vfio-pci/ioctl-outcome.js";
import {
  actOnce,
  attachMapped,
  exportVfio,
  makeWorld,
  regionStatus,
  revokedOf,
  runActs,
} from "./setup.js";

function hotReset(m: Machine, w: World, device = "vfio0"): StepOutcome {
  return actOnce(m, w, { op: "VFIO_DEVICE_PCI_HOT_RESET", device });
}

/** vfio0 and vfio1 (dev_set set0) each export one buffer that the reference importer maps. */
function twoMapped(
  m: Machine,
  w0: World,
): { world: World; buf0: number; att0: number; buf1: number; att1: number } {
  const e0 = exportVfio(m, w0);
  const a0 = attachMapped(m, e0.world, e0.buf, "dev1");
  const e1 = exportVfio(m, a0.world, [{ offset: 0n, length: 0x1000n }], "vfio1");
  const a1 = attachMapped(m, e1.world, e1.buf, "dev1");
  return { world: a1.world, buf0: e0.buf, att0: a0.att, buf1: e1.buf, att1: a1.att };
}

/** The attachments a trace invalidates, in order. */
const invalidated = (events: readonly TraceEvent[]): number[] =>
  events.flatMap((e) => (e.kind === "invalidate" ? [e.att] : []));

/** An async FLR of `device` left holding its memory_lock (an importer holds the buffer's resv). */
function lockHeld(m: Machine, w: World, device: string, buf: number, att: number): World {
  const held = runActs(m, w, [
    { kind: "lock", buf, holder: importerHolder("ref-importer", att) },
  ]).world;
  const flr = actOnce(m, held, { op: "flr", device });
  if (flr.status !== "done") throw new Error("flr did not start");
  expect(vfioOperations(m, flr.world, device).map((o) => o.kind)).toEqual(["flr"]);
  return flr.world;
}

describe.each([linux710, linux71, linux72, proposalVfioDmabufMmap])(
  "VFIO_DEVICE_PCI_HOT_RESET under $id",
  (profile) => {
    it("revokes every device of the dev_set, resets the bus and restores each device, before it returns 0", () => {
      const { m, w } = makeWorld({ profile });
      const t = twoMapped(m, w);
      const r = hotReset(m, t.world);
      if (r.status !== "done") throw new Error(`hot reset ${r.status}`);
      expect(r.returned?.ret).toBe(0);
      expect(invalidated(r.events)).toEqual(expect.arrayContaining([t.att0, t.att1]));
      const bar = r.events.flatMap((e) =>
        e.kind === "region" && e.region === "vfio1.bar0" ? [e.status] : [],
      );
      expect(bar).toEqual(["inaccessible", "live"]);
      expect(revokedOf(r.world, t.buf0)).toBe("usable");
      expect(revokedOf(r.world, t.buf1)).toBe("usable");
      expect(vfioOperations(m, r.world, "vfio0")).toEqual([]);
      expect(r.world.violations.size).toBe(0);
    });

    it("restores only the devices whose memory is enabled, and leaves every device in D0", () => {
      const { m, w } = makeWorld({ profile });
      const t = twoMapped(m, w);
      const prep = runActs(m, t.world, [
        { op: "config-write-command", device: "vfio1", memory: false },
        { op: "power", device: "vfio0", state: "D3hot" },
      ]).world;
      const r = hotReset(m, prep);
      if (r.status !== "done") throw new Error(`hot reset ${r.status}`);
      expect(revokedOf(r.world, t.buf0)).toBe("usable");
      expect(revokedOf(r.world, t.buf1)).toBe("temporary");
      expect(vfioDeviceState(m, r.world, "vfio0").power).toBe("D0");
      expect(regionStatus(r.world, "vfio1.bar0")).toBe("inaccessible");
    });

    it("EBUSY when the first device's memory_lock is held: nothing was revoked, nothing changes", () => {
      const { m, w } = makeWorld({ profile });
      const t = twoMapped(m, w);
      const busy = lockHeld(m, t.world, "vfio0", t.buf0, t.att0);
      const r = hotReset(m, busy);
      expect(r).toMatchObject({ status: "failed", error: { errno: "EBUSY" } });
      expect(r.world).toBe(busy);
      expect(isFailedAfterEffects(r)).toBe(false);
    });

    it("EBUSY when a later device's memory_lock is held: the devices locked before it were revoked and the undo path restored them", () => {
      const { m, w } = makeWorld({ profile });
      const t = twoMapped(m, w);
      const busy = lockHeld(m, t.world, "vfio1", t.buf1, t.att1);
      const r = hotReset(m, busy);
      expect(r).toMatchObject({ status: "failed", error: { errno: "EBUSY" } });
      expect(r.world).toBe(busy);
      if (!isFailedAfterEffects(r)) throw new Error("the undo path left nothing");
      const { world, events } = r.committed;
      expect(invalidated(events)).toContain(t.att0);
      expect(invalidated(events)).not.toContain(t.att1);
      // No bus reset happened.
      expect(events.some((e) => e.kind === "region")).toBe(false);
      expect(revokedOf(world, t.buf0)).toBe("usable");
      expect(events.at(-1)).toMatchObject({
        kind: "ioctl",
        name: "VFIO_DEVICE_PCI_HOT_RESET",
        result: { ok: false, error: { errno: "EBUSY" } },
      });
    });

    it("EAGAIN while an unbind holds a device lock: every device was revoked and restored, the bus not reset", () => {
      const { m, w } = makeWorld({ profile });
      const t = twoMapped(m, w);
      const unbinding = actOnce(m, t.world, { op: "unbind", device: "vfio1" });
      if (unbinding.status !== "done") throw new Error("unbind failed");
      const r = hotReset(m, unbinding.world);
      expect(r).toMatchObject({ status: "failed", error: { errno: "EAGAIN" } });
      expect(r.world).toBe(unbinding.world);
      if (!isFailedAfterEffects(r)) throw new Error("nothing committed");
      const { world, events } = r.committed;
      expect(invalidated(events)).toEqual(expect.arrayContaining([t.att0, t.att1]));
      expect(events.some((e) => e.kind === "region" && e.status === "inaccessible")).toBe(false);
      expect(revokedOf(world, t.buf0)).toBe("usable");
      expect(revokedOf(world, t.buf1)).toBe("usable");
    });

    it("the asynchronous hot-reset action takes the same undo path: EBUSY reported, the devices locked before the busy one restored", () => {
      const { m, w } = makeWorld({ profile });
      const t = twoMapped(m, w);
      const busy = lockHeld(m, t.world, "vfio1", t.buf1, t.att1);
      const r = actOnce(m, busy, { op: "hot-reset", devSet: "set0" });
      if (r.status !== "done") throw new Error(`hot-reset ${r.status}`);
      const errors = r.events.flatMap((e) => (e.kind === "error" ? [e.error.errno] : []));
      expect(errors).toEqual(["EBUSY"]);
      expect(vfioOperations(m, r.world, "vfio0").map((o) => o.kind)).toContain("hot-reset-unwind");
      const rest = settle(m, r.world);
      expect(invalidated([...r.events, ...rest.events])).toContain(t.att0);
      expect(vfioOperations(m, rest.world, "vfio0").map((o) => o.kind)).not.toContain(
        "hot-reset-unwind",
      );
      expect(revokedOf(rest.world, t.buf0)).toBe("usable");
    });

    it("a closed device fd fails with EBADF and changes nothing", () => {
      const { m, w } = makeWorld({ profile });
      const closed = runActs(m, w, [{ op: "close-device", device: "vfio0" }]).world;
      const r = hotReset(m, closed);
      expect(r).toMatchObject({ status: "failed", error: { errno: "EBADF" } });
      expect(r.world).toBe(closed);
    });
  },
);
