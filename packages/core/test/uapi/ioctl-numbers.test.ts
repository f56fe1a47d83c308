/**
 * ioctl numbers: the asm-generic `_IOC` encoding (include/uapi/asm-generic/ioctl.h)
 * and the VFIO / iommufd command numbers (kernel-model §2.1, §3.1), plus the
 * registry's iommufd `min_size` values.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  IOC_NONE,
  IOC_READ,
  IOC_WRITE,
  IOMMUFD_TYPE,
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_UNMAP,
  UAPI_IOCTLS,
  VFIO_BASE,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_TYPE,
  _IO,
  _IOR,
  _IOW,
  _IOWR,
  findUapiIoctl,
  findUapiStruct,
  formatIoctlNumber,
  ioc,
  iocFields,
} from "@dmabuf-ref/core";

describe("ioctl command numbers", () => {
  it.each([
    ["VFIO_DEVICE_FEATURE", 0x3b75, VFIO_DEVICE_FEATURE],
    ["VFIO_DEVICE_RESET", 0x3b6f, VFIO_DEVICE_RESET],
    ["VFIO_DEVICE_GET_INFO", 0x3b6b, VFIO_DEVICE_GET_INFO],
    ["VFIO_DEVICE_GET_REGION_INFO", 0x3b6c, VFIO_DEVICE_GET_REGION_INFO],
    ["VFIO_DEVICE_GET_IRQ_INFO", 0x3b6d, VFIO_DEVICE_GET_IRQ_INFO],
    ["VFIO_DEVICE_PCI_HOT_RESET", 0x3b71, VFIO_DEVICE_PCI_HOT_RESET],
    ["IOMMU_DESTROY", 0x3b80, IOMMU_DESTROY],
    ["IOMMU_IOAS_ALLOC", 0x3b81, IOMMU_IOAS_ALLOC],
    ["IOMMU_IOAS_IOVA_RANGES", 0x3b84, IOMMU_IOAS_IOVA_RANGES],
    ["IOMMU_IOAS_MAP", 0x3b85, IOMMU_IOAS_MAP],
    ["IOMMU_IOAS_UNMAP", 0x3b86, IOMMU_IOAS_UNMAP],
    ["IOMMU_IOAS_MAP_FILE", 0x3b8f, IOMMU_IOAS_MAP_FILE],
  ] as const)(
    "%s equals the kernel header value (%i) and the registry agrees",
    (name, expected, value) => {
      expect(value).toBe(expected);
      expect(findUapiIoctl(name)?.number).toBe(expected);
    },
  );

  it("VFIO and iommufd share the type byte ';' and VFIO_BASE is 100", () => {
    expect(VFIO_TYPE).toBe(";".charCodeAt(0));
    expect(IOMMUFD_TYPE).toBe(0x3b);
    expect(VFIO_BASE).toBe(100);
  });

  it("every VFIO and iommufd ioctl is _IO: no direction and no size in the number", () => {
    for (const { name, number } of UAPI_IOCTLS) {
      expect(iocFields(number), name).toMatchObject({ dir: IOC_NONE, type: 0x3b, size: 0 });
    }
  });

  it("formatIoctlNumber prints lower-case hex with a 0x prefix", () => {
    expect(formatIoctlNumber(IOMMU_IOAS_MAP_FILE)).toBe("0x3b8f");
    expect(formatIoctlNumber(_IOWR(0x3b, 1, 16))).toBe("0xc0103b01");
  });
});

describe("asm-generic _IOC encoding", () => {
  it("direction bits: _IOC_NONE 0, _IOC_WRITE 1, _IOC_READ 2", () => {
    expect([IOC_NONE, IOC_WRITE, IOC_READ]).toEqual([0, 1, 2]);
  });

  it("_IO/_IOR/_IOW/_IOWR put dir in bits 30-31 and size in bits 16-29", () => {
    expect(_IO(0x3b, 1)).toBe(0x00003b01);
    expect(_IOR(0x3b, 1, 16)).toBe(0x80103b01);
    expect(_IOW(0x3b, 1, 16)).toBe(0x40103b01);
    expect(_IOWR(0x3b, 1, 16)).toBe(0xc0103b01);
    expect(_IOWR(0xff, 0xff, 0x3fff)).toBe(0xffffffff);
  });

  it("ioc always returns an unsigned 32-bit value", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0x3fff }),
        (dir, type, nr, size) => {
          const n = ioc({ dir, type, nr, size });
          expect(Number.isInteger(n) && n >= 0 && n <= 0xffffffff).toBe(true);
        },
      ),
    );
  });

  it("iocFields inverts ioc for every valid dir/type/nr/size", () => {
    fc.assert(
      fc.property(
        fc.record({
          dir: fc.integer({ min: 0, max: 3 }),
          type: fc.integer({ min: 0, max: 0xff }),
          nr: fc.integer({ min: 0, max: 0xff }),
          size: fc.integer({ min: 0, max: 0x3fff }),
        }),
        (fields) => {
          expect(iocFields(ioc(fields))).toEqual(fields);
        },
      ),
    );
  });

  it("ioc inverts iocFields for every 32-bit number", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(ioc(iocFields(n))).toBe(n);
      }),
    );
  });

  it("ioc throws RangeError for fields that do not fit their bits", () => {
    const good = { dir: 0, type: 0x3b, nr: 1, size: 0 };
    expect(() => ioc({ ...good, dir: 4 })).toThrow(RangeError);
    expect(() => ioc({ ...good, dir: -1 })).toThrow(RangeError);
    expect(() => ioc({ ...good, type: 0x100 })).toThrow(RangeError);
    expect(() => ioc({ ...good, nr: 0x100 })).toThrow(RangeError);
    expect(() => ioc({ ...good, size: 1 << 14 })).toThrow(RangeError);
    expect(() => ioc({ ...good, size: -1 })).toThrow(RangeError);
  });
});

describe("ioctl registry", () => {
  it.each([
    ["IOMMU_DESTROY", 8],
    ["IOMMU_IOAS_ALLOC", 12],
    ["IOMMU_IOAS_IOVA_RANGES", 32],
    ["IOMMU_IOAS_MAP", 40],
    ["IOMMU_IOAS_UNMAP", 24],
    ["IOMMU_IOAS_MAP_FILE", 40],
    ["IOMMU_IOAS_ALLOW_IOVAS", 24],
    ["IOMMU_IOAS_COPY", 40],
    ["IOMMU_OPTION", 24],
    ["IOMMU_HWPT_ALLOC", 24],
    ["IOMMU_GET_HW_INFO", 32],
  ] as const)("iommufd: %s has min_size %i, no larger than its struct", (name, minSize) => {
    const info = findUapiIoctl(name);
    expect(info?.family).toBe("iommufd");
    expect(info?.minSize).toBe(minSize);
    const struct = findUapiStruct(info?.struct ?? "");
    expect(struct?.size).toBeGreaterThanOrEqual(minSize);
  });

  it("vfio: VFIO ioctls carry no iommufd min_size", () => {
    const vfio = UAPI_IOCTLS.filter((i) => i.family === "vfio");
    expect(vfio.map((i) => i.name).sort()).toEqual([
      "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
      "VFIO_DEVICE_BIND_IOMMUFD",
      "VFIO_DEVICE_DETACH_IOMMUFD_PT",
      "VFIO_DEVICE_FEATURE",
      "VFIO_DEVICE_GET_INFO",
      "VFIO_DEVICE_GET_IRQ_INFO",
      "VFIO_DEVICE_GET_REGION_INFO",
      "VFIO_DEVICE_PCI_HOT_RESET",
      "VFIO_DEVICE_RESET",
    ]);
    for (const i of vfio) expect(i.minSize).toBeUndefined();
    expect(findUapiIoctl("VFIO_DEVICE_FEATURE")?.struct).toBe("vfio_device_feature");
  });

  it("every named struct exists and ioctl names and numbers are unique", () => {
    for (const i of UAPI_IOCTLS) {
      if (i.struct !== undefined) expect(findUapiStruct(i.struct), i.name).toBeDefined();
    }
    expect(new Set(UAPI_IOCTLS.map((i) => i.name)).size).toBe(UAPI_IOCTLS.length);
    expect(new Set(UAPI_IOCTLS.map((i) => i.number)).size).toBe(UAPI_IOCTLS.length);
    expect(findUapiIoctl("IOMMU_NO_SUCH_IOCTL")).toBeUndefined();
  });
});
