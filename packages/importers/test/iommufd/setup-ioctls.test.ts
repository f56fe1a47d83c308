/**
 * The ioctls a VMM issues while it sets iommufd up, each with the kernel's
 * order of checks and errnos: IOMMU_HWPT_ALLOC, IOMMU_GET_HW_INFO,
 * IOMMU_IOAS_ALLOW_IOVAS, IOMMU_IOAS_COPY, IOMMU_OPTION (RLIMIT_MODE),
 * IOMMU_DESTROY of each object kind, IOMMU_IOAS_IOVA_RANGES' user copy,
 * and the iommufd ioctl frame (drivers/iommu/iommufd/{main,ioas,device,
 * hw_pagetable}.c).
 */
import { describe, expect, it } from "vitest";
import {
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_OPTION,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  boot,
  iommuHwInfo,
  iommuHwptAlloc,
  iommuIoasAllowIovas,
  iommuIoasCopy,
  iommuIoasIovaRanges,
  iommuIovaRange,
  iommuOption,
  step,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  FIXED,
  PAGE,
  RW,
  USER_VA,
  allocIoas,
  attachDevice,
  destroy,
  detachDeviceStep,
  dma,
  done,
  expectErrno,
  ioctl,
  iovaRanges,
  makeMachine,
  mapUserOk,
} from "./fixtures.js";

/** A bound (not attached) device through the VFIO cdev BIND ioctl; returns its device id. */
function bind(m: Machine, w: World, device: string): { world: World; devid: number } {
  const r = step(m, w, {
    kind: "driver",
    driver: "iommufd",
    action: {
      op: "vfio-cdev-ioctl",
      device,
      number: 0x3b76,
      buffer: new Uint8Array([16, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]),
    },
  });
  const d = done(r);
  const out = d.returned.out;
  return { world: d.world, devid: new DataView(out.buffer, out.byteOffset).getUint32(12, true) };
}

function hwptAlloc(
  m: Machine,
  w: World,
  fields: Partial<ReturnType<typeof iommuHwptAlloc.decode>>,
): StepOutcome {
  return ioctl(
    m,
    w,
    IOMMU_HWPT_ALLOC,
    iommuHwptAlloc.encode({
      size: iommuHwptAlloc.size,
      flags: 0,
      dev_id: 0,
      pt_id: 0,
      out_hwpt_id: 0,
      __reserved: 0,
      data_type: 0,
      data_len: 0,
      data_uptr: 0n,
      fault_id: 0,
      __reserved2: 0,
      ...fields,
    }),
  );
}

function allowIovas(
  m: Machine,
  w: World,
  ioas: number,
  ranges: readonly { start: bigint; last: bigint }[],
  ptr = 0x6000_0000n,
): StepOutcome {
  const bytes = new Uint8Array(ranges.length * iommuIovaRange.size);
  ranges.forEach((r, i) => {
    bytes.set(iommuIovaRange.encode(r), i * iommuIovaRange.size);
  });
  return step(m, w, {
    kind: "driver",
    driver: "iommufd",
    action: {
      op: "ioctl",
      number: IOMMU_IOAS_ALLOW_IOVAS,
      buffer: iommuIoasAllowIovas.encode({
        size: iommuIoasAllowIovas.size,
        ioas_id: ioas,
        num_iovas: ranges.length,
        __reserved: 0,
        allowed_iovas: ptr,
      }),
      user: [{ addr: 0x6000_0000n, bytes }],
    },
  });
}

describe("IOMMU_HWPT_ALLOC", () => {
  it("allocates a paging domain on an IOAS for a bound device and writes back out_hwpt_id", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m)); // 1
    const b = bind(m, a.world, "dev1"); // 2
    const r = done(hwptAlloc(m, b.world, { dev_id: b.devid, pt_id: a.ioas }));
    expect(iommuHwptAlloc.decode(r.returned.out).out_hwpt_id).toBe(3);
    expect(iommufdStateOf(m, r.world).hwpts.map((h) => h.id)).toEqual([3]);
    expect(iommufdStateOf(m, r.world).ioas[0]?.domains).toHaveLength(1);
  });

  it("checks in the kernel's order: __reserved EOPNOTSUPP, data_len EINVAL, dev_id ENOENT, pt_id EINVAL, flags EOPNOTSUPP", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const { world, devid } = bind(m, a.world, "dev1");
    const errno = (f: Parameters<typeof hwptAlloc>[2]): string => {
      const r = hwptAlloc(m, world, { dev_id: devid, pt_id: a.ioas, ...f });
      return r.status === "failed" ? r.error.errno : r.status;
    };
    expect(errno({ __reserved: 1, dev_id: 99 })).toBe("EOPNOTSUPP");
    expect(errno({ data_len: 8, dev_id: 99 })).toBe("EINVAL");
    expect(errno({ dev_id: 99, pt_id: 77 })).toBe("ENOENT");
    expect(errno({ dev_id: a.ioas })).toBe("ENOENT");
    expect(errno({ pt_id: 77 })).toBe("EINVAL");
    expect(errno({ pt_id: devid })).toBe("EINVAL");
    expect(errno({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING })).toBe("EOPNOTSUPP");
    expect(errno({ flags: 1 << 9 })).toBe("EOPNOTSUPP");
  });

  it("a manual HWPT is not picked by an attach to its IOAS, takes a device by its id, and is EBUSY while used", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const b = bind(m, a.world, "dev1");
    const h = done(hwptAlloc(m, b.world, { dev_id: b.devid, pt_id: a.ioas }));
    const hwpt = iommuHwptAlloc.decode(h.returned.out).out_hwpt_id;
    const auto = attachDevice(m, h.world, "dev0", a.ioas);
    expect(iommufdStateOf(m, auto).hwpts).toHaveLength(2);
    const attach = done(
      step(m, h.world, {
        kind: "driver",
        driver: "iommufd",
        action: {
          op: "vfio-cdev-ioctl",
          device: "dev1",
          number: 0x3b77,
          buffer: new Uint8Array([16, 0, 0, 0, 0, 0, 0, 0, hwpt, 0, 0, 0, 0, 0, 0, 0]),
        },
      }),
    );
    expect(attach.returned.out[8]).toBe(hwpt);
    expectErrno(attach.world, destroy(m, attach.world, hwpt), "EBUSY");
    expectErrno(attach.world, destroy(m, attach.world, a.ioas), "EBUSY");
    const detached = detachDeviceStep(m, attach.world, "dev1");
    if (detached.status !== "done") throw new Error(detached.status);
    // A manual HWPT outlives its devices: it goes with IOMMU_DESTROY.
    expect(iommufdStateOf(m, detached.world).hwpts.map((x) => x.id)).toEqual([hwpt]);
    const gone = done(destroy(m, detached.world, hwpt));
    expect(iommufdStateOf(m, gone.world).ioas[0]?.domains).toEqual([]);
  });
});

describe("IOMMU_GET_HW_INFO", () => {
  it("reports the VT-d info: data copied to data_uptr, the rest of a larger buffer zeroed, data_len 24", () => {
    const m = makeMachine();
    const b = bind(m, boot(m), "dev1");
    const r = done(
      ioctl(
        m,
        b.world,
        IOMMU_GET_HW_INFO,
        iommuHwInfo.encode({
          size: iommuHwInfo.size,
          flags: 0,
          dev_id: b.devid,
          data_len: 32,
          data_uptr: 0x5000_0000n,
          out_data_type: 0,
          out_max_pasid_log2: 0,
          __reserved: 0,
          __reserved_1: 0,
          __reserved_2: 0,
          out_capabilities: 0n,
        }),
      ),
    );
    const out = iommuHwInfo.decode(r.returned.out);
    expect(out.out_data_type).toBe(IOMMU_HW_INFO_TYPE_INTEL_VTD);
    expect(out.data_len).toBe(24);
    expect(r.returned.written?.map((x) => [x.addr, x.bytes.length])).toEqual([
      [0x5000_0000n, 24],
      [0x5000_0018n, 8],
    ]);
  });

  it("unknown flags or __reserved EOPNOTSUPP, an unknown device ENOENT, a NULL data_uptr EFAULT", () => {
    const m = makeMachine();
    const b = bind(m, boot(m), "dev1");
    const call = (f: Partial<ReturnType<typeof iommuHwInfo.decode>>): StepOutcome =>
      ioctl(
        m,
        b.world,
        IOMMU_GET_HW_INFO,
        iommuHwInfo.encode({
          size: iommuHwInfo.size,
          flags: 0,
          dev_id: b.devid,
          data_len: 24,
          data_uptr: 0x5000_0000n,
          out_data_type: 0,
          out_max_pasid_log2: 0,
          __reserved: 0,
          __reserved_1: 0,
          __reserved_2: 0,
          out_capabilities: 0n,
          ...f,
        }),
      );
    expectErrno(b.world, call({ flags: 2 }), "EOPNOTSUPP");
    expectErrno(b.world, call({ __reserved_2: 1 }), "EOPNOTSUPP");
    expectErrno(b.world, call({ dev_id: 42 }), "ENOENT");
    expectErrno(b.world, call({ flags: 1, out_data_type: 2 }), "EOPNOTSUPP");
    expectErrno(b.world, call({ data_uptr: 0n }), "EFAULT");
    expect(call({ data_uptr: 0n, data_len: 0 }).status).toBe("done");
  });
});

describe("IOMMU_IOAS_ALLOW_IOVAS", () => {
  it("automatic placement stays inside the allowed ranges", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = done(
      allowIovas(m, a.world, a.ioas, [{ start: 0x4000_0000n, last: 0x4fff_ffffn }]),
    ).world;
    expect(mapUserOk(m, w, { ioas: a.ioas, length: PAGE }).iova).toBe(0x4000_0000n);
  });

  it("start >= last or overlapping ranges are EINVAL, a NULL array EFAULT, and the old list stays", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const r1 = { start: 0x1000n, last: 0x1000n };
    expectErrno(a.world, allowIovas(m, a.world, a.ioas, [r1]), "EINVAL");
    const overlapping = [
      { start: 0x1000n, last: 0x2fffn },
      { start: 0x2000n, last: 0x3fffn },
    ];
    expectErrno(a.world, allowIovas(m, a.world, a.ioas, overlapping), "EINVAL");
    expectErrno(a.world, allowIovas(m, a.world, a.ioas, [{ start: 0n, last: 1n }], 0n), "EFAULT");
  });

  it("an allowed range over a reserved one is EADDRINUSE; a device reserving inside an allowed range fails to attach with EADDRINUSE", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const msi = { start: 0xfee0_0000n, last: 0xfeef_ffffn };
    const allowed = done(allowIovas(m, a.world, a.ioas, [msi])).world;
    const r = step(m, allowed, {
      kind: "driver",
      driver: "iommufd",
      action: { op: "attach-device", device: "dev1", ioas: a.ioas },
    });
    expectErrno(allowed, r, "EADDRINUSE");
    const attached = attachDevice(m, a.world, "dev1", a.ioas);
    expectErrno(attached, allowIovas(m, attached, a.ioas, [msi]), "EADDRINUSE");
  });
});

describe("IOMMU_IOAS_COPY", () => {
  function copy(
    m: Machine,
    w: World,
    f: Partial<ReturnType<typeof iommuIoasCopy.decode>>,
  ): StepOutcome {
    return ioctl(
      m,
      w,
      IOMMU_IOAS_COPY,
      iommuIoasCopy.encode({
        size: iommuIoasCopy.size,
        flags: RW,
        dst_ioas_id: 0,
        src_ioas_id: 0,
        length: 0n,
        dst_iova: 0n,
        src_iova: 0n,
        ...f,
      }),
    );
  }

  it("maps the same pages in another IOAS: DMA through either IOVA reaches the same memory", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const src = mapUserOk(m, attachDevice(m, a.world, "dev0", a.ioas), {
      ioas: a.ioas,
      length: 0x4000n,
      iova: 0x10_0000n,
      flags: FIXED | RW,
    });
    const b = allocIoas(m, src.world);
    const w = attachDevice(m, b.world, "dev1", b.ioas);
    const c = done(
      copy(m, w, {
        dst_ioas_id: b.ioas,
        src_ioas_id: a.ioas,
        length: 0x4000n,
        src_iova: 0x10_0000n,
      }),
    );
    const dst = iommuIoasCopy.decode(c.returned.out).dst_iova;
    expect(dma(m, c.world, "dev1", dst + 0x1000n).detail).toBe(
      dma(m, c.world, "dev0", 0x10_1000n).detail,
    );
    expect(dma(m, c.world, "dev1", dst + 0x1000n).detail).toBe(
      `vmm.anon+0x${(USER_VA + 0x1000n).toString(16)}`,
    );
  });

  it("checks in the kernel's order: flags EOPNOTSUPP, sizes EOVERFLOW, no R/W EINVAL, source ENOENT, range ENOENT, destination ENOENT", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const src = mapUserOk(m, a.world, {
      ioas: a.ioas,
      length: 0x2000n,
      iova: 0x10_0000n,
      flags: FIXED | RW,
    });
    const w = src.world;
    const ok = { dst_ioas_id: a.ioas, src_ioas_id: a.ioas, length: 0x1000n, src_iova: 0x10_0000n };
    expectErrno(w, copy(m, w, { ...ok, flags: 8 }), "EOPNOTSUPP");
    expectErrno(w, copy(m, w, { ...ok, length: (1n << 64n) - 1n }), "EOVERFLOW");
    expectErrno(w, copy(m, w, { ...ok, flags: 0 }), "EINVAL");
    expectErrno(w, copy(m, w, { ...ok, src_ioas_id: 9 }), "ENOENT");
    expectErrno(w, copy(m, w, { ...ok, src_iova: 0x20_0000n }), "ENOENT");
    expectErrno(w, copy(m, w, { ...ok, length: 0n }), "EINVAL");
    expectErrno(w, copy(m, w, { ...ok, dst_ioas_id: 9 }), "ENOENT");
    // A part of one area copies fine.
    expect(copy(m, w, ok).status).toBe("done");
  });

  it("a WRITEABLE copy of pages mapped read-only is EPERM (iopt_insert_area)", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const readOnly = 4; // IOMMU_IOAS_MAP_READABLE
    const src = mapUserOk(m, a.world, {
      ioas: a.ioas,
      length: PAGE,
      iova: 0x10_0000n,
      flags: FIXED | readOnly,
    });
    const args = { dst_ioas_id: a.ioas, src_ioas_id: a.ioas, length: PAGE, src_iova: 0x10_0000n };
    expectErrno(src.world, copy(m, src.world, args), "EPERM");
    expect(copy(m, src.world, { ...args, flags: readOnly }).status).toBe("done");
  });
});

describe("IOMMU_OPTION RLIMIT_MODE", () => {
  function rlimit(m: Machine, w: World, op: number, val64 = 0n, objectId = 0): StepOutcome {
    return ioctl(
      m,
      w,
      IOMMU_OPTION,
      iommuOption.encode({
        size: iommuOption.size,
        option_id: IOMMU_OPTION_RLIMIT_MODE,
        op,
        __reserved: 0,
        object_id: objectId,
        val64,
      }),
    );
  }

  it("GET returns the mode; SET works on an empty context, EBUSY once it holds objects, EINVAL for 2", () => {
    const m = makeMachine();
    const w0 = boot(m);
    const set = done(rlimit(m, w0, IOMMU_OPTION_OP_SET, 1n));
    expect(
      iommuOption.decode(done(rlimit(m, set.world, IOMMU_OPTION_OP_GET)).returned.out).val64,
    ).toBe(1n);
    expectErrno(w0, rlimit(m, w0, IOMMU_OPTION_OP_SET, 2n), "EINVAL");
    expectErrno(w0, rlimit(m, w0, IOMMU_OPTION_OP_GET, 0n, 1), "EOPNOTSUPP");
    expectErrno(w0, rlimit(m, w0, 7), "EOPNOTSUPP");
    const a = allocIoas(m, w0);
    expectErrno(a.world, rlimit(m, a.world, IOMMU_OPTION_OP_SET, 1n), "EBUSY");
  });
});

describe("IOMMU_DESTROY", () => {
  it("an unknown id is ENOENT, a device EBUSY, an IOAS with a HWPT EBUSY", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const w = attachDevice(m, a.world, "dev1", a.ioas);
    expectErrno(w, destroy(m, w, 42), "ENOENT");
    expectErrno(w, destroy(m, w, 2), "EBUSY");
    expectErrno(w, destroy(m, w, a.ioas), "EBUSY");
  });
});

describe("IOMMU_IOAS_IOVA_RANGES copies through allowed_iovas", () => {
  const ranges = (m: Machine, w: World, ioas: number, num: number, ptr: bigint): StepOutcome =>
    iovaRanges(m, w, ioas, num, 0, ptr);

  it("a NULL allowed_iovas with num_iovas >= 1 is EFAULT; with num_iovas 0 it is EMSGSIZE with num_iovas written back", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const r = ranges(m, a.world, a.ioas, 1, 0n);
    expectErrno(a.world, r, "EFAULT");
    expect(r.status === "failed" ? r.returned : "done").toBeUndefined();
    const z = ranges(m, a.world, a.ioas, 0, 0n);
    expectErrno(a.world, z, "EMSGSIZE");
    const out = z.status === "failed" ? z.returned?.out : undefined;
    expect(out === undefined ? -1 : iommuIoasIovaRanges.decode(out).num_iovas).toBe(1);
  });
});

describe("the iommufd ioctl frame", () => {
  it("a NULL argument (no bytes to read the size from) is EFAULT", () => {
    const m = makeMachine();
    const w = boot(m);
    expectErrno(w, ioctl(m, w, IOMMU_OPTION, new Uint8Array(0)), "EFAULT");
  });

  it("a number in iommufd's table that the model lacks reads the size first (NULL: EFAULT), else ENOTTY; outside the table ENOTTY", () => {
    const m = makeMachine();
    const w = boot(m);
    const hwptSetDirtyTracking = 0x3b8b;
    expectErrno(w, ioctl(m, w, hwptSetDirtyTracking, new Uint8Array(0)), "EFAULT");
    expectErrno(w, ioctl(m, w, hwptSetDirtyTracking, new Uint8Array(32)), "ENOTTY");
    expectErrno(w, ioctl(m, w, 0x3b70, new Uint8Array(0)), "ENOTTY");
  });
});
