/**
 * The device-info ioctls a VMM issues before it maps anything
 * (drivers/vfio/pci/vfio_pci_core.c `vfio_pci_ioctl_get_info`,
 * `vfio_pci_ioctl_get_region_info`, `vfio_pci_ioctl_get_irq_info`) and the
 * header checks of `vfio_pci_ioctl_pci_hot_reset`: each errno in the
 * kernel's order with the World unchanged, and the values copied back.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  boot,
  defineMachine,
  linux71,
  referenceImporter,
  topologySchema,
  vfioDeviceInfo,
  vfioIrqInfo,
  vfioPciHotReset,
  vfioRegionInfo,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { vfioPciExporter } from "@dmabuf-ref/exporters";
import {
  BAR0_SIZE,
  BAR2_SIZE,
  BAR4_SIZE,
  actOnce,
  attachMapped,
  exportVfio,
  makeWorld,
  revokedOf,
  runActs,
  topology,
} from "./setup.js";

const RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;

function ioctl(m: Machine, w: World, op: string, argp: Uint8Array, device = "vfio0"): StepOutcome {
  return actOnce(m, w, { op, device, argp });
}

function regionInfoArg(index: number, over: { argsz?: number; cap_offset?: number } = {}) {
  return vfioRegionInfo.encode({
    argsz: over.argsz ?? vfioRegionInfo.size,
    flags: 0,
    index,
    cap_offset: over.cap_offset ?? 0,
    size: 0n,
    offset: 0n,
  });
}

function irqInfoArg(index: number, argsz = vfioIrqInfo.size) {
  return vfioIrqInfo.encode({ argsz, flags: 0, index, count: 0 });
}

function deviceInfoArg(argsz: number): Uint8Array {
  const head = vfioDeviceInfo.encode({
    argsz,
    flags: 0xffff,
    num_regions: 77,
    num_irqs: 77,
    cap_offset: 0xaaaa,
    pad: 0xbbbb,
  });
  // The user memory is as long as argsz says (at least the struct).
  const out = new Uint8Array(Math.max(argsz, head.length));
  out.set(head);
  return out;
}

function hotResetArg(h: { argsz?: number; flags?: number; count?: number }): Uint8Array {
  return vfioPciHotReset.encode({
    argsz: h.argsz ?? vfioPciHotReset.size,
    flags: h.flags ?? 0,
    count: h.count ?? 0,
  });
}

/** The bytes the kernel copied back, or a failure. */
function copied(r: StepOutcome): Uint8Array {
  if (r.status !== "done") {
    throw new Error(r.status === "failed" ? `failed ${r.error.errno}` : r.status);
  }
  expect(r.returned?.ret).toBe(0);
  const out = r.returned?.out;
  if (out === undefined) throw new Error("nothing copied back");
  return out;
}

function failedWith(r: StepOutcome, w: World, errno: string): void {
  expect(r).toMatchObject({ status: "failed", error: { errno } });
  expect(r.world).toBe(w);
}

const invalidated = (events: readonly TraceEvent[]): number[] =>
  events.flatMap((e) => (e.kind === "invalidate" ? [e.att] : []));

describe("VFIO_DEVICE_GET_INFO (vfio_pci_ioctl_get_info)", () => {
  const { m, w } = makeWorld();

  it("reports a PCI device that can reset, with 9 regions and 5 IRQs, and no capability chain", () => {
    const r = ioctl(m, w, "VFIO_DEVICE_GET_INFO", deviceInfoArg(24));
    expect(vfioDeviceInfo.decode(copied(r))).toEqual({
      argsz: 24,
      flags: VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
      num_regions: 9,
      num_irqs: 5,
      cap_offset: 0,
      pad: 0,
    });
    expect(r.world).toBe(w);
  });

  it("copies back min(argsz, sizeof) bytes, whatever argsz says past that", () => {
    fc.assert(
      fc.property(fc.integer({ min: 16, max: 64 }), (argsz) => {
        const out = copied(ioctl(m, w, "VFIO_DEVICE_GET_INFO", deviceInfoArg(argsz)));
        expect(out.length).toBe(Math.min(argsz, 24));
      }),
    );
  });

  it("argsz below minsz 16 fails with EINVAL and changes nothing", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 15 }), (argsz) => {
        failedWith(ioctl(m, w, "VFIO_DEVICE_GET_INFO", deviceInfoArg(argsz)), w, "EINVAL");
      }),
    );
  });

  it("a NULL or short argument fails with EFAULT before argsz is read", () => {
    failedWith(ioctl(m, w, "VFIO_DEVICE_GET_INFO", new Uint8Array(0)), w, "EFAULT");
    failedWith(ioctl(m, w, "VFIO_DEVICE_GET_INFO", new Uint8Array(15)), w, "EFAULT");
  });

  it("an ioctl on a closed device fd fails with EBADF", () => {
    const closed = runActs(m, w, [{ op: "close-device", device: "vfio0" }]).world;
    failedWith(ioctl(m, closed, "VFIO_DEVICE_GET_INFO", deviceInfoArg(24)), closed, "EBADF");
  });
});

describe("VFIO_DEVICE_GET_REGION_INFO (vfio_get_region_info, vfio_pci_ioctl_get_region_info)", () => {
  const { m, w } = makeWorld();

  it.each([
    [0, BAR0_SIZE],
    [2, BAR2_SIZE],
    [3, 0x1000n],
    [4, BAR4_SIZE],
  ] as const)("BAR %i: offset index << 40, the BAR's size, READ|WRITE|MMAP", (index, size) => {
    const r = ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(index));
    expect(vfioRegionInfo.decode(copied(r))).toEqual({
      argsz: 32,
      flags: RW | VFIO_REGION_INFO_FLAG_MMAP,
      index,
      cap_offset: 0,
      size,
      offset: BigInt(index) << 40n,
    });
    expect(r.world).toBe(w);
  });

  it.each([1, 5])("BAR %i, which the function does not implement: size 0 and flags 0", (index) => {
    const info = vfioRegionInfo.decode(
      copied(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(index))),
    );
    expect(info).toMatchObject({ flags: 0, size: 0n, offset: BigInt(index) << 40n });
  });

  it("an empty BAR (vfio_pci_core_enable kept ENODEV for it) has size 0 and flags 0; an unclaimed one keeps its size", () => {
    const { m: m2, w: w2 } = makeWorld({ claimed: { 2: "ENODEV", 4: "EBUSY" } });
    const info = (index: number) =>
      vfioRegionInfo.decode(
        copied(ioctl(m2, w2, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(index))),
      );
    expect(info(2)).toMatchObject({ flags: 0, size: 0n, offset: 2n << 40n });
    expect(info(4)).toMatchObject({ flags: RW | VFIO_REGION_INFO_FLAG_MMAP, size: BAR4_SIZE });
  });

  it("the ROM (6) has size 0 and flags 0: no modelled function has an option ROM", () => {
    const info = vfioRegionInfo.decode(
      copied(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(6))),
    );
    expect(info).toMatchObject({ flags: 0, size: 0n, offset: 6n << 40n });
  });

  it("the config region (7) is the PCIe function's 4 KiB config space, READ|WRITE, not mmappable", () => {
    const info = vfioRegionInfo.decode(
      copied(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(7))),
    );
    expect(info).toMatchObject({ flags: RW, size: 0x1000n, offset: 7n << 40n });
  });

  it("the VGA region (8) of a non-VGA function fails with EINVAL", () => {
    failedWith(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(8)), w, "EINVAL");
  });

  it("an index past VFIO_PCI_NUM_REGIONS fails with EINVAL (no device-specific regions)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 9, max: 0xffff_ffff }), (index) => {
        failedWith(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(index)), w, "EINVAL");
      }),
    );
  });

  it("argsz below minsz 32 fails with EINVAL, before the index is looked at", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 12 }), (argsz, i) => {
        const arg = regionInfoArg(i, { argsz });
        failedWith(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", arg), w, "EINVAL");
      }),
    );
  });

  it("a NULL or short argument fails with EFAULT (the whole 32-byte struct is copied in)", () => {
    failedWith(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", new Uint8Array(0)), w, "EFAULT");
    failedWith(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", new Uint8Array(31)), w, "EFAULT");
  });

  it("cap_offset and a larger argsz come back as the caller wrote them (no capability chain)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 32, max: 4096 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (argsz, cap) => {
          const arg = new Uint8Array(argsz);
          arg.set(regionInfoArg(0, { argsz, cap_offset: cap }));
          const out = copied(ioctl(m, w, "VFIO_DEVICE_GET_REGION_INFO", arg));
          expect(out.length).toBe(32);
          expect(vfioRegionInfo.decode(out)).toMatchObject({ argsz, cap_offset: cap });
        },
      ),
    );
  });

  it("a BAR smaller than a page is mmappable only when it starts on a page boundary", () => {
    const topo = topologySchema.parse({
      ...topology,
      regions: [
        ...topology.regions,
        { id: "vfio3.bar0", kind: "bar", base: 0x43_0000_0000n, size: 0x800n, device: "vfio3" },
        { id: "vfio3.bar1", kind: "bar", base: 0x43_0000_1800n, size: 0x800n, device: "vfio3" },
      ],
      devices: [...topology.devices, { id: "vfio3", switch: "sw0" }],
    });
    const vfio = vfioPciExporter({
      devices: [
        {
          id: "vfio3",
          bars: [
            { index: 0, region: "vfio3.bar0" },
            { index: 1, region: "vfio3.bar1" },
          ],
        },
      ],
    });
    const m3 = defineMachine({
      profile: linux71,
      topology: topo,
      exporters: [vfio],
      importers: [referenceImporter()],
    });
    const w3 = boot(m3);
    const flags = (index: number) =>
      vfioRegionInfo.decode(
        copied(ioctl(m3, w3, "VFIO_DEVICE_GET_REGION_INFO", regionInfoArg(index), "vfio3")),
      ).flags;
    expect(flags(0)).toBe(RW | VFIO_REGION_INFO_FLAG_MMAP);
    expect(flags(1)).toBe(RW);
  });
});

describe("VFIO_DEVICE_GET_IRQ_INFO (vfio_pci_ioctl_get_irq_info)", () => {
  const { m, w } = makeWorld();

  it.each([
    [0, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED, 1],
    [1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 0],
    [2, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 0],
    [3, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 1],
    [4, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 1],
  ] as const)("IRQ index %i reports flags %i and count %i", (index, flags, count) => {
    const r = ioctl(m, w, "VFIO_DEVICE_GET_IRQ_INFO", irqInfoArg(index));
    expect(vfioIrqInfo.decode(copied(r))).toEqual({ argsz: 16, flags, index, count });
    expect(r.world).toBe(w);
  });

  it("an index past VFIO_PCI_NUM_IRQS, or argsz below 16, fails with EINVAL", () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 0xffff_ffff }), (index) => {
        failedWith(ioctl(m, w, "VFIO_DEVICE_GET_IRQ_INFO", irqInfoArg(index)), w, "EINVAL");
      }),
    );
    failedWith(ioctl(m, w, "VFIO_DEVICE_GET_IRQ_INFO", irqInfoArg(0, 15)), w, "EINVAL");
  });

  it("a NULL argument fails with EFAULT", () => {
    failedWith(ioctl(m, w, "VFIO_DEVICE_GET_IRQ_INFO", new Uint8Array(0)), w, "EFAULT");
  });
});

describe("VFIO_DEVICE_PCI_HOT_RESET's argument (vfio_pci_ioctl_pci_hot_reset)", () => {
  function mapped(): { m: Machine; world: World; buf: number; att: number } {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    const a = attachMapped(m, e.world, e.buf, "dev1");
    return { m, world: a.world, buf: e.buf, att: a.att };
  }

  it("count 0 (a cdev device's zero-length array) resets the dev_set: revoked, reset, restored before it returns 0", () => {
    const { m, world, buf, att } = mapped();
    const r = ioctl(m, world, "VFIO_DEVICE_PCI_HOT_RESET", hotResetArg({}));
    if (r.status !== "done") throw new Error(`hot reset ${r.status}`);
    expect(r.returned?.ret).toBe(0);
    expect(invalidated(r.events)).toContain(att);
    expect(revokedOf(r.world, buf)).toBe("usable");
  });

  it.each<[string, { argsz?: number; flags?: number; count?: number }]>([
    ["argsz below minsz 12", { argsz: 11 }],
    ["non-zero flags", { flags: 1 }],
    ["a non-zero count (group fds) on a cdev device", { count: 1, argsz: 16 }],
  ])("%s fails with EINVAL before anything is revoked", (_what, h) => {
    const { m, world } = mapped();
    // The user memory holds argsz bytes: the header and, with count 1, one fd.
    const arg = new Uint8Array(Math.max(h.argsz ?? 12, 12));
    arg.set(hotResetArg(h));
    const r = ioctl(m, world, "VFIO_DEVICE_PCI_HOT_RESET", arg);
    failedWith(r, world, "EINVAL");
    if (r.status !== "failed") throw new Error(r.status);
    expect(invalidated(r.events ?? [])).toEqual([]);
    expect(r.committed).toBeUndefined();
  });

  it("any non-zero flags or count fails with EINVAL", () => {
    const { m, world } = mapped();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (flags, count) => {
          fc.pre(flags !== 0 || count !== 0);
          const r = ioctl(m, world, "VFIO_DEVICE_PCI_HOT_RESET", hotResetArg({ flags, count }));
          failedWith(r, world, "EINVAL");
        },
      ),
      { numRuns: 50 },
    );
  });

  it("a NULL argument fails with EFAULT; a closed fd with EBADF first", () => {
    const { m, world } = mapped();
    failedWith(ioctl(m, world, "VFIO_DEVICE_PCI_HOT_RESET", new Uint8Array(0)), world, "EFAULT");
    const closed = runActs(m, world, [{ op: "close-device", device: "vfio0" }]).world;
    failedWith(ioctl(m, closed, "VFIO_DEVICE_PCI_HOT_RESET", new Uint8Array(0)), closed, "EBADF");
  });
});
