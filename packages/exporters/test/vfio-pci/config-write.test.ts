/**
 * A pwrite() to the device's VFIO config region (`vfio_pci_config_rw()`,
 * kernel-model §2.5): PCI_COMMAND's MEMORY bit, the PM capability's PMCSR,
 * and the PCIe Device Control "initiate FLR" bit revoke and restore the
 * dma-bufs before the write returns; everything else is accepted with no
 * effect; an access outside the 4 KiB config space is EFAULT.
 */
import { describe, expect, it } from "vitest";
import { fc } from "@fast-check/vitest";
import { linux710, linux71, linux72, proposalVfioDmabufMmap } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import {
  PCI_COMMAND,
  PCI_COMMAND_MEMORY,
  PCI_EXP_DEVCTL_BCR_FLR,
  VFIO_CONFIG_SPACE_SIZE,
  VFIO_PCIE_DEVCTL,
  VFIO_PMCSR,
  configChunks,
  vfioDeviceState,
  vfioOperations,
} from "@dmabuf-ref/exporters";
import {
  actOnce,
  attachMapped,
  exportVfio,
  makeWorld,
  regionStatus,
  revokedOf,
  runActs,
} from "./setup.js";

function configWrite(
  m: Machine,
  w: World,
  offset: number,
  size: 1 | 2 | 4,
  value: number,
  device = "vfio0",
): StepOutcome {
  return actOnce(m, w, { op: "config-write", device, offset, size, value });
}

function mapped(m: Machine, w0: World): { world: World; buf: number; att: number } {
  const e = exportVfio(m, w0);
  const a = attachMapped(m, e.world, e.buf, "dev1");
  return { world: a.world, buf: e.buf, att: a.att };
}

function done(r: StepOutcome): { world: World; events: readonly TraceEvent[]; ret: number } {
  if (r.status !== "done") {
    throw new Error(
      `config write ${r.status}: ${r.status === "failed" ? r.error.errno : r.reason}`,
    );
  }
  return { world: r.world, events: r.events, ret: r.returned?.ret ?? -1 };
}

const count = (events: readonly TraceEvent[], kind: TraceEvent["kind"]): number =>
  events.filter((e) => e.kind === kind).length;

/** The BAR decode changes of vfio0's BAR0 in a trace. */
const bar0 = (events: readonly TraceEvent[]): string[] =>
  events.flatMap((e) => (e.kind === "region" && e.region === "vfio0.bar0" ? [e.status] : []));

/** Bytes of config space whose writes the model acts on. */
const ACTIVE_BYTES = [PCI_COMMAND, VFIO_PMCSR, VFIO_PCIE_DEVCTL + 1];

describe.each([linux710, linux71, linux72, proposalVfioDmabufMmap])(
  "config-space writes under $id",
  (profile) => {
    it("clearing PCI_COMMAND.MEMORY revokes the dma-bufs before the BAR stops decoding; setting it un-revokes; the write returns its size", () => {
      const { m, w } = makeWorld({ profile });
      const mb = mapped(m, w);
      const off = done(configWrite(m, mb.world, PCI_COMMAND, 2, 0));
      expect(off.ret).toBe(2);
      expect(revokedOf(off.world, mb.buf)).toBe("temporary");
      expect(vfioDeviceState(m, off.world, "vfio0").memoryEnabled).toBe(false);
      expect(regionStatus(off.world, "vfio0.bar0")).toBe("inaccessible");
      expect(count(off.events, "invalidate")).toBe(1);
      const on = done(configWrite(m, off.world, PCI_COMMAND, 2, PCI_COMMAND_MEMORY));
      expect(revokedOf(on.world, mb.buf)).toBe("usable");
      expect(regionStatus(on.world, "vfio0.bar0")).toBe("live");
    });

    it("PMCSR <- D3hot revokes; PMCSR <- D0 restores only if memory is enabled", () => {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      const d3 = done(configWrite(m, e.world, VFIO_PMCSR, 2, 3));
      expect(vfioDeviceState(m, d3.world, "vfio0").power).toBe("D3hot");
      expect(revokedOf(d3.world, e.buf)).toBe("temporary");
      const d0 = done(configWrite(m, d3.world, VFIO_PMCSR, 2, 0));
      expect(vfioDeviceState(m, d0.world, "vfio0").power).toBe("D0");
      expect(revokedOf(d0.world, e.buf)).toBe("usable");
      // With memory decoding off, D0 brings nothing back.
      const memOff = done(configWrite(m, d3.world, PCI_COMMAND, 2, 0));
      const d0Off = done(configWrite(m, memOff.world, VFIO_PMCSR, 2, 0));
      expect(revokedOf(d0Off.world, e.buf)).toBe("temporary");
    });

    it("the d3hot and d0 ops are the 2-byte PMCSR writes", () => {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      const viaOp = done(actOnce(m, e.world, { op: "d3hot", device: "vfio0" }));
      const viaWrite = done(configWrite(m, e.world, VFIO_PMCSR, 2, 3));
      expect(viaOp.ret).toBe(2);
      expect(viaOp.world.bufs.get(e.buf)).toEqual(viaWrite.world.bufs.get(e.buf));
      expect(vfioDeviceState(m, viaOp.world, "vfio0")).toEqual(
        vfioDeviceState(m, viaWrite.world, "vfio0"),
      );
      const back = done(actOnce(m, viaOp.world, { op: "d0", device: "vfio0" }));
      expect(revokedOf(back.world, e.buf)).toBe("usable");
      expect(vfioDeviceState(m, back.world, "vfio0").power).toBe("D0");
    });

    it("Device Control with 'initiate FLR' revokes, resets the function and restores, all before the write returns", () => {
      const { m, w } = makeWorld({ profile });
      const mb = mapped(m, w);
      const r = done(configWrite(m, mb.world, VFIO_PCIE_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR));
      expect(r.ret).toBe(2);
      expect(bar0(r.events)).toEqual(["inaccessible", "live"]);
      expect(revokedOf(r.world, mb.buf)).toBe("usable");
      expect(vfioOperations(m, r.world, "vfio0")).toEqual([]);
      expect(r.world.violations.size).toBe(0);
    });

    it("an FLR write while an unbind holds the device lock resets nothing but still revokes and restores, and returns its size", () => {
      const { m, w } = makeWorld({ profile });
      const mb = mapped(m, w);
      const unbinding = done(actOnce(m, mb.world, { op: "unbind", device: "vfio0" }));
      const r = done(configWrite(m, unbinding.world, VFIO_PCIE_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR));
      expect(r.ret).toBe(2);
      expect(bar0(r.events)).toEqual([]);
      expect(count(r.events, "invalidate")).toBeGreaterThanOrEqual(1);
      expect(revokedOf(r.world, mb.buf)).toBe("usable");
    });

    it("a write on a closed device fd fails with EBADF", () => {
      const { m, w } = makeWorld({ profile });
      const closed = runActs(m, w, [{ op: "close-device", device: "vfio0" }]).world;
      const r = configWrite(m, closed, PCI_COMMAND, 2, 0);
      expect(r).toMatchObject({ status: "failed", error: { errno: "EBADF" } });
      expect(r.world).toBe(closed);
    });
  },
);

describe("config access checks and chunking (vfio_pci_config_rw)", () => {
  it("any access that ends past the 4 KiB config space fails with EFAULT and changes nothing", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    fc.assert(
      fc.property(
        fc.constantFrom<1 | 2 | 4>(1, 2, 4),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (size, rawOffset, value) => {
          const offset = Math.max(rawOffset, VFIO_CONFIG_SPACE_SIZE - size + 1);
          const r = configWrite(m, e.world, offset, size, value);
          expect(r).toMatchObject({ status: "failed", error: { errno: "EFAULT" } });
          expect(r.world).toBe(e.world);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("an access is cut into naturally aligned 1-, 2- and 4-byte chunks that cover it and carry its bytes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 4),
        fc.integer({ min: 0, max: VFIO_CONFIG_SPACE_SIZE - 4 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (size, offset, raw) => {
          const value = raw % 2 ** (size * 8);
          const chunks = configChunks(offset, size, value);
          if ("errno" in chunks) throw new Error("in range but refused");
          let pos = offset;
          let rebuilt = 0;
          for (const c of chunks) {
            expect(c.offset).toBe(pos);
            expect([1, 2, 4]).toContain(c.size);
            expect(c.offset % c.size).toBe(0);
            rebuilt += c.value * 2 ** ((c.offset - offset) * 8);
            pos += c.size;
          }
          expect(pos).toBe(offset + size);
          expect(rebuilt).toBe(value);
        },
      ),
    );
  });

  it("an unaligned write that spans PCI_COMMAND is split, and its COMMAND byte still clears MEMORY", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    // Bytes 0x03..0x06: 0x03 <- 0xff, COMMAND (0x04) <- 0x00, 0x05 <- 0, 0x06 <- 0.
    const r = done(configWrite(m, e.world, PCI_COMMAND - 1, 4, 0xff));
    expect(r.ret).toBe(4);
    expect(vfioDeviceState(m, r.world, "vfio0").memoryEnabled).toBe(false);
    expect(revokedOf(r.world, e.buf)).toBe("temporary");
  });

  it("a write to a register with no effect in the model returns its size and leaves the world as it was", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    fc.assert(
      fc.property(
        fc.constantFrom<1 | 2 | 4>(1, 2, 4),
        fc.integer({ min: 0, max: VFIO_CONFIG_SPACE_SIZE - 4 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (size, offset, raw) => {
          fc.pre(!ACTIVE_BYTES.some((b) => b >= offset && b < offset + size));
          const r = done(configWrite(m, e.world, offset, size, raw % 2 ** (size * 8)));
          expect(r.ret).toBe(size);
          expect(r.world).toBe(e.world);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("writes that leave MEMORY set, keep D0 and do not initiate an FLR change nothing", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (cmd, pm, devctl) => {
          const writes: [number, number][] = [
            [PCI_COMMAND, cmd | PCI_COMMAND_MEMORY],
            [VFIO_PMCSR, pm & ~3],
            [VFIO_PCIE_DEVCTL, devctl & ~PCI_EXP_DEVCTL_BCR_FLR],
          ];
          for (const [offset, value] of writes) {
            const r = done(configWrite(m, e.world, offset, 2, value));
            expect(r.world).toBe(e.world);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
