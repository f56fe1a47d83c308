/**
 * The rest of iommufd's dispatch table (`iommufd_ioctl_ops`): the ioctls a
 * VMM of the model does not drive but the kernel's selftests probe
 * (`cmd_length`, `vfio_ioas`). Each is in the table, so the size rule
 * applies before its handler (EINVAL below `min_size`, E2BIG for non-zero
 * bytes past the struct), and its handler answers in the kernel's order.
 */
import { describe, expect, it } from "vitest";
import { outcomes, replayText, result } from "./replay-support.js";

const IOAS = `calls:
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }`;

describe("iommufd ioctls the selftests probe for their size rules", () => {
  it.each([
    // ioctl, min_size, sizeof, what an all-zero struct gets
    ["IOMMU_VFIO_IOAS", 12, 12, "ENODEV"],
    ["IOMMU_HWPT_INVALIDATE", 32, 32, "ENOENT"],
    ["IOMMU_VIOMMU_ALLOC", 24, 40, "EOPNOTSUPP"],
    ["IOMMU_VDEVICE_ALLOC", 24, 24, "ENOENT"],
    ["IOMMU_IOAS_CHANGE_PROCESS", 8, 8, "ok"],
  ])(
    "%s: size min_size - 1 is EINVAL, a non-zero byte past sizeof E2BIG; the zero struct gets %s at sizeof and at sizeof + 1",
    (ioctl, minSize, size, zero) => {
      const run = replayText(`${IOAS}
  - { fd: iommufd, ioctl: ${ioctl}, arg: { size: ${minSize - 1} } }
  - { fd: iommufd, ioctl: ${ioctl}, arg: { size: ${size + 1}, tail: [0xff] } }
  - { fd: iommufd, ioctl: ${ioctl}, arg: {} }
  - { fd: iommufd, ioctl: ${ioctl}, arg: { size: ${size + 1}, tail: [0] } }
`);
      expect(outcomes(run)).toEqual(["ok", "EINVAL", "E2BIG", zero, zero]);
    },
  );
});

describe("IOMMU_VFIO_IOAS (the VFIO compatibility IOAS)", () => {
  it("GET is ENODEV until SET names an IOAS; GET then returns it; CLEAR and destroying the IOAS forget it", () => {
    const run = replayText(`${IOAS}
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: GET } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: SET, ioas_id: 7 } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: SET, ioas_id: ioas.out_ioas_id } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: GET }, as: got }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: CLEAR } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: GET } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: SET, ioas_id: ioas.out_ioas_id } }
  - { fd: iommufd, ioctl: IOMMU_DESTROY, arg: { id: ioas.out_ioas_id } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: GET } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: 3 } }
  - { fd: iommufd, ioctl: IOMMU_VFIO_IOAS, arg: { op: GET, __reserved: 1 } }
`);
    expect(outcomes(run)).toEqual([
      "ok",
      "ENODEV",
      "ENOENT",
      "ok",
      "ok",
      "ok",
      "ENODEV",
      "ok",
      "ok",
      "ENODEV",
      "EOPNOTSUPP",
      "EOPNOTSUPP",
    ]);
    expect(result(run, 4).out?.["ioas_id"]).toBe(result(run, 0).out?.["out_ioas_id"]);
  });
});

describe("IOMMU_HWPT_INVALIDATE, IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC", () => {
  it("HWPT_INVALIDATE: __reserved EOPNOTSUPP, requests without an array EINVAL, no object ENOENT, an IOAS EINVAL; entry_num is written back as 0", () => {
    const run = replayText(`${IOAS}
  - { fd: iommufd, ioctl: IOMMU_HWPT_INVALIDATE, arg: { __reserved: 1 } }
  - { fd: iommufd, ioctl: IOMMU_HWPT_INVALIDATE, arg: { entry_num: 3, entry_len: 8 } }
  - { fd: iommufd, ioctl: IOMMU_HWPT_INVALIDATE, arg: { hwpt_id: 9, entry_num: 2, data_uptr: 0x7f0000000000, entry_len: 8 }, as: none }
  - { fd: iommufd, ioctl: IOMMU_HWPT_INVALIDATE, arg: { hwpt_id: ioas.out_ioas_id } }
`);
    expect(outcomes(run)).toEqual(["ok", "EOPNOTSUPP", "EINVAL", "ENOENT", "EINVAL"]);
    expect(result(run, 3).out?.["entry_num"]).toBe(0);
  });

  it("VIOMMU_ALLOC: flags or the default type EOPNOTSUPP, no device ENOENT; VDEVICE_ALLOC: no vIOMMU ENOENT", () => {
    const run = replayText(`${IOAS}
  - { fd: iommufd, ioctl: IOMMU_VIOMMU_ALLOC, arg: { flags: 1, type: 1 } }
  - { fd: iommufd, ioctl: IOMMU_VIOMMU_ALLOC, arg: { type: 0, dev_id: 5 } }
  - { fd: iommufd, ioctl: IOMMU_VIOMMU_ALLOC, arg: { type: 1, dev_id: ioas.out_ioas_id } }
  - { fd: iommufd, ioctl: IOMMU_VDEVICE_ALLOC, arg: { viommu_id: 1, dev_id: 1, virt_id: 7 } }
`);
    expect(outcomes(run)).toEqual(["ok", "EOPNOTSUPP", "EOPNOTSUPP", "ENOENT", "ENOENT"]);
  });

  it("VIOMMU_ALLOC on a bound device is EOPNOTSUPP: no IOMMU driver of the model has vIOMMUs", () => {
    const run = replayText(`calls:
  - fd: vfio0
    ioctl: VFIO_DEVICE_BIND_IOMMUFD
    arg: { iommufd: iommufd }
    as: bind
  - { fd: iommufd, ioctl: IOMMU_VIOMMU_ALLOC, arg: { type: 1, dev_id: bind.out_devid } }
`);
    expect(outcomes(run)).toEqual(["ok", "EOPNOTSUPP"]);
  });
});

describe("IOMMU_IOAS_CHANGE_PROCESS", () => {
  it("is 0 while every area maps a file, EINVAL once one maps user memory, EOPNOTSUPP with __reserved set", () => {
    const run = replayText(`${IOAS}
  - { syscall: memfd_create, size: 0x4000, as: mem }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP_FILE
    arg: { flags: [READABLE, WRITEABLE], ioas_id: ioas.out_ioas_id, fd: mem, start: 0, length: 0x4000 }
  - { fd: iommufd, ioctl: IOMMU_IOAS_CHANGE_PROCESS }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000000000, length: 0x1000 }
  - { fd: iommufd, ioctl: IOMMU_IOAS_CHANGE_PROCESS }
  - { fd: iommufd, ioctl: IOMMU_IOAS_CHANGE_PROCESS, arg: { __reserved: 1 } }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok", "EINVAL", "EOPNOTSUPP"]);
  });
});

describe("IOMMU_IOAS_CHANGE_PROCESS and dma-bufs", () => {
  it("a dma-buf's area is no file's: EINVAL", () => {
    const run = replayText(`machine: { reference: { exporter: { selftestHook: true } } }
${IOAS}
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: DMABUF_GET, dmabuf_get: { length: 0x4000 } }
    as: buf
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP_FILE
    arg: { flags: [READABLE, WRITEABLE], ioas_id: ioas.out_ioas_id, fd: buf, start: 0, length: 0x4000 }
  - { fd: iommufd, ioctl: IOMMU_IOAS_CHANGE_PROCESS }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "EINVAL"]);
  });
});

describe("a request given by number with only tail bytes", () => {
  it("takes them as the whole argument, whether or not the model knows the number's struct", () => {
    const zeros = (n: number): string => Array.from({ length: n }, () => "0").join(", ");
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: 0x3b88, arg: { tail: [11, ${zeros(11)}] } }
  - { fd: iommufd, ioctl: 0x3b88, arg: { tail: [13, ${zeros(11)}, 255] } }
  - { fd: iommufd, ioctl: 0x3b88, arg: { tail: [12, ${zeros(11)}] } }
  - { fd: iommufd, ioctl: "0x3b8b", arg: { tail: [32, ${zeros(31)}] } }
`);
    expect(outcomes(run)).toEqual(["EINVAL", "E2BIG", "ENODEV", "ENOTTY"]);
  });
});

describe("a raw number is looked up in the fd's own family", () => {
  it("0x3b71 is VFIO_DEVICE_PCI_HOT_RESET on a device fd and the VFIO container's MAP_DMA (not modelled) on the iommufd", () => {
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: 0x3b71, arg: { tail: [32, 0, 0, 0] } }
  - { fd: vfio0, ioctl: 0x3b71, arg: { argsz: 12 } }
`);
    expect(outcomes(run)).toEqual(["ENOTTY", "ok"]);
    const flat = (k: number): string => result(run, k).line.replace(/\s+/g, " ");
    expect(flat(0)).toContain("0x3b71 on iommufd = -ENOTTY");
    expect(flat(0)).toContain("(VFIO container compatibility) is not modelled");
    expect(flat(1)).toContain("VFIO_DEVICE_PCI_HOT_RESET on vfio0 = 0");
  });
});
