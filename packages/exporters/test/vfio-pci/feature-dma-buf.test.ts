/**
 * VFIO_DEVICE_FEATURE with VFIO_DEVICE_FEATURE_DMA_BUF, driven by bytes
 * (kernel-model §2.1–2.2, §7.6): each check, its errno, its place in the
 * kernel's order, and "a failed call changes nothing".
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  U64_MAX,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  encodeDmaBufFeature,
  findProfile,
  linux619,
  runScript,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, VfioRegionDmaRange, World } from "@dmabuf-ref/core";
import { KMALLOC_MAX_SIZE, O_CLOEXEC, O_RDWR, vfioDmaBufPriv } from "@dmabuf-ref/exporters";
import {
  BAR0,
  BAR0_SIZE,
  dmaBufRequest,
  exportVfio,
  featureIoctl,
  makeWorld,
  revokedOf,
  runActs,
  vfioOp,
} from "./setup.js";

const PAGE = 0x1000n;

function errnoOf(r: StepOutcome): string {
  return r.status === "failed" ? r.error.errno : r.status;
}

/** Steps the ioctl's op and checks that a failure leaves the very same world. */
function call(m: Machine, w: World, argp: Uint8Array, device = "vfio0"): StepOutcome {
  const r = featureIoctl(m, w, argp, device);
  if (r.status !== "done") expect(r.world).toBe(w);
  return r;
}

function request(
  over: {
    flags?: number;
    feature?: number;
    argsz?: number;
    data?: Partial<Record<string, number>>;
  },
  ranges: readonly VfioRegionDmaRange[] = [{ offset: 0n, length: PAGE }],
): Uint8Array {
  return encodeDmaBufFeature({
    flags: over.flags ?? VFIO_DEVICE_FEATURE_GET,
    ...(over.feature === undefined ? {} : { feature: over.feature }),
    ...(over.argsz === undefined ? {} : { argsz: over.argsz }),
    data: { region_index: 0, open_flags: O_RDWR, flags: 0, ...over.data },
    ranges,
  });
}

describe("VFIO_DEVICE_FEATURE core checks (kernel-model §2.1)", () => {
  it("argsz below 8 fails with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ argsz: 7 })))).toBe("EINVAL");
  });

  it("a user buffer shorter than the 8-byte header fails with EFAULT", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, new Uint8Array(4)))).toBe("EFAULT");
  });

  it("unknown flag bits fail with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ flags: VFIO_DEVICE_FEATURE_GET | (1 << 19) })))).toBe(
      "EINVAL",
    );
  });

  it("GET and SET together without PROBE fail with EINVAL", () => {
    const flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET;
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ flags })))).toBe("EINVAL");
  });

  it("an unknown feature index fails with ENOTTY", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ feature: 12 })))).toBe("ENOTTY");
  });

  it("without CONFIG_VFIO_PCI_DMABUF the DMA_BUF feature fails with ENOTTY", () => {
    const { m, w } = makeWorld({ dmabufConfigured: false });
    expect(errnoOf(call(m, w, request({})))).toBe("ENOTTY");
  });

  it("an unknown or closed device fd fails with EBADF", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({}), "nope"))).toBe("EBADF");
    const closed = runActs(m, w, [{ op: "close-device", device: "vfio0" }]).world;
    expect(errnoOf(call(m, closed, request({})))).toBe("EBADF");
  });
});

describe("vfio_pci_core_feature_dma_buf validation order (kernel-model §2.2)", () => {
  it("a device without get_dmabuf_phys fails with EOPNOTSUPP, even for PROBE", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({}), "vfio2"))).toBe("EOPNOTSUPP");
    const probe = request({ flags: VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE });
    expect(errnoOf(call(m, w, probe, "vfio2"))).toBe("EOPNOTSUPP");
  });

  it("SET of DMA_BUF fails with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ flags: VFIO_DEVICE_FEATURE_SET })))).toBe("EINVAL");
  });

  it("PROBE of DMA_BUF returns 0 and creates nothing, whatever the payload", () => {
    const { m, w } = makeWorld();
    const probe = request(
      { flags: VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE, argsz: 8 },
      [],
    );
    const r = call(m, w, probe);
    expect(r).toMatchObject({ status: "done", returned: { ret: 0 } });
    expect(r.world).toBe(w);
  });

  it("a GET whose payload (argsz - 8) is below 16 bytes fails with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ argsz: 8 + 15 })))).toBe("EINVAL");
  });

  it("a user buffer too short for the 16-byte payload header fails with EFAULT", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({}).subarray(0, 8 + 12)))).toBe("EFAULT");
  });

  it("nr_ranges == 0 fails with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ data: { nr_ranges: 0 } })))).toBe("EINVAL");
  });

  it("non-zero flags in the payload fail with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ data: { flags: 1 } })))).toBe("EINVAL");
  });

  it("region_index >= VFIO_PCI_ROM_REGION_INDEX fails with ENODEV", () => {
    fc.assert(
      fc.property(fc.integer({ min: 6, max: 0xffffffff }), (index) => {
        const { m, w } = makeWorld();
        expect(errnoOf(call(m, w, request({ data: { region_index: index } })))).toBe("ENODEV");
      }),
      { numRuns: 30 },
    );
  });

  it("a user buffer shorter than 16 + 16 * nr_ranges fails with EFAULT (argsz does not bound the copy)", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ data: { nr_ranges: 2 } })))).toBe("EFAULT");
    // The kernel reads the ranges through the user pointer: a small argsz with
    // every range present in memory works.
    const two = [
      { offset: 0n, length: PAGE },
      { offset: PAGE, length: PAGE },
    ];
    expect(call(m, w, request({ argsz: 8 + 16 }, two))).toMatchObject({ status: "done" });
  });

  it("a dma_ranges[] copy larger than KMALLOC_MAX_SIZE fails with ENOMEM before the copy faults", () => {
    const n = KMALLOC_MAX_SIZE / 16 + 1;
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ data: { nr_ranges: n } })))).toBe("ENOMEM");
    expect(errnoOf(call(m, w, request({ data: { nr_ranges: n - 1 } })))).toBe("EFAULT");
  });

  it("a range of length 0 or not PAGE_ALIGNED fails with EINVAL", () => {
    for (const r of [
      { offset: 0n, length: 0n },
      { offset: 0x800n, length: PAGE },
      { offset: 0n, length: 0x800n },
    ]) {
      const { m, w } = makeWorld();
      expect(errnoOf(call(m, w, request({}, [r])))).toBe("EINVAL");
    }
  });

  it("a total length that overflows size_t or has bit 63 set fails with EINVAL", () => {
    const big = 1n << 63n;
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({}, [{ offset: 0n, length: big }])))).toBe("EINVAL");
    const wraps = [
      { offset: 0n, length: U64_MAX - PAGE + 1n },
      { offset: 0n, length: PAGE },
    ];
    expect(errnoOf(call(m, w, request({}, wraps)))).toBe("EINVAL");
  });

  it("a BAR without a p2pdma provider fails with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ data: { region_index: 3 } })))).toBe("EINVAL");
  });

  it("without the BAR resource check (6.19, 7.0.0-7.0.10) a BAR the device lacks fails with EINVAL (no provider)", () => {
    const { m, w } = makeWorld({ profile: linux619 });
    expect(errnoOf(call(m, w, request({ data: { region_index: 5 } })))).toBe("EINVAL");
  });

  describe.each(
    ["linux-7.1.0", "linux-7.1", "linux-7.2", "proposal-vfio-dmabuf-mmap"].map((id) => ({
      profile: findProfile(id) ?? linux619,
    })),
  )("$profile.id: BAR resources are checked before export (702809dabdec)", ({ profile }) => {
    it("an empty BAR (one the device lacks) fails with ENODEV", () => {
      const { m, w } = makeWorld({ profile });
      expect(errnoOf(call(m, w, request({ data: { region_index: 5 } })))).toBe("ENODEV");
    });

    it.each(["ENODEV", "EBUSY", "ENOMEM"] as const)(
      "a BAR whose claim stored %s fails with ENODEV, before the ranges are read",
      (stored) => {
        const { m, w } = makeWorld({ profile, claimed: { 0: stored } });
        // A zero-length range would be EINVAL if the ranges were read first.
        const r = call(m, w, request({}, [{ offset: 0n, length: 0n }]));
        expect(r).toMatchObject({ status: "failed", error: { errno: "ENODEV" } });
        expect(r.world).toBe(w);
      },
    );
  });

  it("without the BAR resource check a BAR another driver claimed (EBUSY) still exports (CVE-2026-64042)", () => {
    const { m, w } = makeWorld({ profile: linux619, claimed: { 0: "EBUSY" } });
    expect(call(m, w, request({}))).toMatchObject({ status: "done" });
  });

  it("a range whose physical address overflows fails with EOVERFLOW", () => {
    // BAR start + offset is the last page of the address space: + length wraps.
    const r = { offset: U64_MAX - PAGE + 1n - BAR0, length: PAGE };
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({}, [r])))).toBe("EOVERFLOW");
  });

  it("a range ending past the end of the BAR fails with EINVAL", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({}, [{ offset: BAR0_SIZE, length: PAGE }])))).toBe("EINVAL");
    expect(call(m, w, request({}, [{ offset: BAR0_SIZE - PAGE, length: PAGE }]))).toMatchObject({
      status: "done",
    });
  });

  it("per range in array order: the first failing range decides between EOVERFLOW and EINVAL", () => {
    const overflow = { offset: (U64_MAX / PAGE) * PAGE - PAGE, length: PAGE };
    const past = { offset: BAR0_SIZE, length: PAGE };
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({}, [past, overflow])))).toBe("EINVAL");
    expect(errnoOf(call(m, w, request({}, [overflow, past])))).toBe("EOVERFLOW");
  });

  it("an unregistering device (unbind started) fails with ENODEV, after every argument check", () => {
    const { m, w: w0 } = makeWorld();
    const w = runActs(m, w0, [{ op: "unbind", device: "vfio0" }]).world;
    expect(errnoOf(call(m, w, request({})))).toBe("ENODEV");
    expect(errnoOf(call(m, w, request({}, [{ offset: 0x800n, length: PAGE }])))).toBe("EINVAL");
  });

  it("earlier checks win: flags before region_index, region_index before the copy, the copy before the ranges", () => {
    const { m, w } = makeWorld();
    expect(errnoOf(call(m, w, request({ data: { flags: 1, region_index: 9 } })))).toBe("EINVAL");
    expect(errnoOf(call(m, w, request({ data: { region_index: 9, nr_ranges: 5 } })))).toBe(
      "ENODEV",
    );
    const bad = [{ offset: 0x800n, length: 0n }];
    expect(errnoOf(call(m, w, request({ data: { nr_ranges: 3 } }, bad)))).toBe("EFAULT");
    expect(errnoOf(call(m, w, request({ data: { region_index: 3 } }, bad)))).toBe("EINVAL");
  });
});

describe("the new dma-buf (kernel-model §2.2 step 7)", () => {
  it("the ioctl returns the new fd, which names a dma-buf of size = the sum of the range lengths", () => {
    const ranges = [
      { offset: 0x8000n, length: 0x2000n },
      { offset: 0n, length: PAGE },
    ];
    const { m, w } = makeWorld();
    const r = call(m, w, dmaBufRequest(ranges, 0, { open_flags: O_RDWR | O_CLOEXEC }));
    if (r.status !== "done" || r.returned === undefined) throw new Error("export failed");
    const fd = r.returned.ret;
    const b = r.world.bufs.get(fd);
    expect(b).toMatchObject({
      exporter: "vfio-pci",
      owner: "vfio0",
      size: 0x3000n,
      revoked: "usable",
    });
    expect(vfioDmaBufPriv(r.world, fd)).toEqual({
      vdev: "vfio0",
      bar: 0,
      phys: [
        { paddr: BAR0 + 0x8000n, len: 0x2000n },
        { paddr: BAR0, len: PAGE },
      ],
      provider: "vfio0",
      nrRanges: 2,
      openFlags: O_RDWR | O_CLOEXEC,
      kref: "armed",
      memattr: 0,
    });
    expect(r.events.at(-1)).toMatchObject({
      kind: "ioctl",
      name: "VFIO_DEVICE_FEATURE",
      result: { ok: true, ret: fd },
    });
  });

  it("a dma-buf exported while PCI_COMMAND.MEMORY is clear is born revoked", () => {
    const { m, w } = makeWorld();
    const off = runActs(m, w, [{ op: "config-write-command", device: "vfio0", memory: false }]);
    const e = exportVfio(m, off.world);
    expect(revokedOf(e.world, e.buf)).toBe("temporary");
  });

  it("a dma-buf exported in D3hot or in low power is born revoked", () => {
    for (const action of [
      { op: "power", device: "vfio0", state: "D3hot" } as const,
      { op: "low-power", device: "vfio0", enter: true } as const,
    ]) {
      const { m, w: w0 } = makeWorld();
      const w = runActs(m, w0, [action]).world;
      const e = exportVfio(m, w);
      expect(revokedOf(e.world, e.buf)).toBe("temporary");
    }
  });

  it("the export sleeps on memory_lock while an operation of the device holds it", () => {
    const { m, w } = makeWorld();
    const e = exportVfio(m, w);
    const attached = runScript(m, e.world, [
      { kind: "attach", buf: e.buf, importer: "ref-importer", device: "dev1", dynamic: true },
    ]);
    // Hold resv so the FLR's revoke cannot finish.
    const held = runScript(m, attached.world, [
      { kind: "lock", buf: e.buf, holder: "someone" },
      vfioOp({ op: "flr", device: "vfio0" }),
    ]);
    const r = call(m, held.world, dmaBufRequest([{ offset: 0n, length: PAGE }]));
    expect(r).toMatchObject({ status: "blocked", waitFor: "lock" });
  });
});

describe("random range lists (kernel-model §2.2 steps 4–5)", () => {
  const rangeArb = fc.record({
    offset: fc.oneof(
      fc.bigInt({ min: 0n, max: BAR0_SIZE / PAGE }).map((p) => p * PAGE),
      fc.bigInt({ min: 0n, max: BAR0_SIZE * 2n }),
    ),
    length: fc.oneof(
      fc.bigInt({ min: 0n, max: 64n }).map((p) => p * PAGE),
      fc.bigInt({ min: 0n, max: BAR0_SIZE }),
    ),
  });

  it("EINVAL iff some range is zero, unaligned or past the BAR; otherwise size = sum of lengths", () => {
    fc.assert(
      fc.property(fc.array(rangeArb, { minLength: 1, maxLength: 6 }), (ranges) => {
        const { m, w } = makeWorld();
        const r = call(m, w, dmaBufRequest(ranges));
        const bad = ranges.some(
          (x) =>
            x.length === 0n ||
            x.offset % PAGE !== 0n ||
            x.length % PAGE !== 0n ||
            x.offset + x.length > BAR0_SIZE,
        );
        if (bad) {
          expect(errnoOf(r)).toBe("EINVAL");
          expect(r.world).toBe(w);
        } else {
          if (r.status !== "done" || r.returned === undefined) {
            throw new Error(`unexpected ${errnoOf(r)}`);
          }
          const sum = ranges.reduce((s, x) => s + x.length, 0n);
          expect(r.world.bufs.get(r.returned.ret)?.size).toBe(sum);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("any byte string: the ioctl either creates exactly one buffer or leaves the world as it was", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        const { m, w } = makeWorld();
        const r = featureIoctl(m, w, bytes, "vfio0");
        if (r.status === "done" && (r.returned?.ret ?? 0) > 0) {
          expect(r.world.bufs.size).toBe(1);
        } else {
          expect(r.world).toBe(w);
        }
      }),
      { numRuns: 300 },
    );
  });
});
