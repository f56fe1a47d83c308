import { memfdIdOfFd, memfdRegionName } from "@dmabuf-ref/core";
import { describe, expect, it } from "vitest";
import { IOAS_WITH_DOMAIN, outcomes, replayExample, replayText, result } from "./replay-support.js";

const EXPORT = `
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg:
      flags: [GET]
      feature: DMA_BUF
      data: { region_index: 0, dma_ranges: [{ offset: 0, length: 0x200000 }] }
    as: buf0
`;
const MAP_BUF0 = `
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP_FILE
    arg: { flags: [READABLE, WRITEABLE], ioas_id: ioas.out_ioas_id, fd: buf0, length: 0x200000 }
    as: map0
`;

/** A machine whose gpu0 implements BAR0 only (BAR1 empty), then `calls:`. */
const EMPTY_BAR1_MACHINE = `machine:
  devices:
    - id: gpu0
      driver: vfio-pci
      bars:
        - { index: 0, size: 0x1000000 }
        - { index: 1, empty: true }
calls:
`;

describe("replays of real VMMs' sequences", () => {
  it("QEMU's 4 GiB guest: RAM at the VMM's own addresses, two 2 GiB maps, DMA lands at distinct offsets", () => {
    const run = replayExample("qemu-4g-guest.yaml");
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]);
    const landed = run.results.flatMap((r) => (r.landed === undefined ? [] : [r.landed]));
    expect(landed).toEqual([
      { region: "vmm.anon", offset: 0x7f40_0000_1000n },
      { region: "vmm.anon", offset: 0x7f40_8000_0000n },
    ]);
    // Between the two maps (2 GiB to 4 GiB) nothing is mapped.
    expect(run.results.flatMap((r) => (r.dma === undefined ? [] : [r.dma]))).toEqual([
      "ok",
      "ok",
      "fault",
    ]);
    expect(run.violations).toEqual([]);
  });

  it("OpenVMM's memfd guest RAM mapped with IOMMU_IOAS_MAP_FILE: DMA lands in the memfd, past EOF is EINVAL", () => {
    const run = replayExample("openvmm-memfd.yaml");
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "EINVAL"]);
    const memfd = memfdIdOfFd(Number(result(run, 0).ret));
    expect(memfd).toBeDefined();
    expect(result(run, 6)).toMatchObject({
      dma: "ok",
      landed: { region: memfdRegionName("vmm", memfd ?? -1), offset: 0x2000n },
    });
  });

  it("Cloud Hypervisor's BAR mmap passed to IOMMU_IOAS_MAP fails EFAULT with a domain; the dma-buf path works", () => {
    const run = replayExample("cloud-hypervisor-bar.yaml");
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "EFAULT", "ok", "ok", "ok"]);
    expect(result(run, 6)).toMatchObject({
      dma: "ok",
      landed: { region: "vfio0.bar0", offset: 0x1000n },
    });
  });

  it("a BAR mmap mapped with no domain succeeds, and the later domain attach fails EFAULT", () => {
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - { syscall: mmap, fd: vfio0, offset: 0, length: 0x10000, as: bar }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: bar.addr, length: 0x10000 }
  - { event: attach, device: dev1, ioas: ioas.out_ioas_id }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "EFAULT"]);
  });

  it("IOMMU_IOAS_MAP of page 0 fails EFAULT when the IOAS has a domain", () => {
    const run = replayText(`calls:
${IOAS_WITH_DOMAIN}
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: 0, length: 0x1000 }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "EFAULT"]);
  });
});

describe("synchronous ioctls return when the kernel would", () => {
  it("VFIO_DEVICE_RESET is synchronous: a DMA right after it faults and the next ioctl succeeds", () => {
    const run = replayExample("vfio-reset.yaml");
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]);
    expect(run.results.flatMap((r) => (r.dma === undefined ? [] : [r.dma]))).toEqual([
      "ok",
      "fault",
      "ok",
    ]);
    expect(run.results.some((r) => r.blocksForever !== undefined)).toBe(false);
  });

  it("an ioctl right after VFIO_DEVICE_RESET is never answered with EAGAIN", () => {
    const run = replayText(`calls:
${EXPORT}
  - { fd: vfio0, ioctl: VFIO_DEVICE_RESET }
  - { fd: vfio0, ioctl: VFIO_DEVICE_RESET }
${EXPORT.replace("as: buf0", "as: buf1")}
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok"]);
  });
});

describe("replay events", () => {
  it("d3hot revokes (the DMA faults) and every event of the device-events example takes effect", () => {
    const run = replayExample("device-events.yaml");
    expect(outcomes(run).every((o) => o === "ok")).toBe(true);
    expect(run.results.flatMap((r) => (r.dma === undefined ? [] : [r.dma]))).toEqual([
      "ok",
      "fault",
    ]);
    expect(result(run, 4).landed).toEqual({ region: "gpu0.bar2", offset: 0n });
    expect(run.violations).toEqual([]);
  });

  it.each([
    ["detach", "dev1", "a DMA through a detached device faults"],
    [
      "hot-reset",
      "vfio0",
      "a hot reset revokes the dev_set's dma-bufs: iommufd's mapping stays dead and the DMA faults",
    ],
  ])("%s of %s: %s", (event, device) => {
    const run = replayText(`calls:
${EXPORT}
${IOAS_WITH_DOMAIN}
${MAP_BUF0}
  - { event: ${event}, device: ${device} }
  - { event: dma, device: dev1, iova: map0.iova, length: 64, dir: read }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok"]);
    expect(result(run, 5).dma).toBe("fault");
  });

  it("closing a dma-buf fd with close releases it: a later MAP_FILE of the fd fails", () => {
    const run = replayText(`calls:
${EXPORT}
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - { syscall: close, fd: buf0 }
${MAP_BUF0}
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "EBADF"]);
  });

  it("a config write of PCI_COMMAND without MEMORY revokes: the DMA faults", () => {
    const run = replayText(`calls:
${EXPORT}
${IOAS_WITH_DOMAIN}
${MAP_BUF0}
  - { event: config-write, device: vfio0, offset: 0x04, value: 0 }
  - { event: dma, device: dev1, iova: map0.iova, length: 64, dir: read }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok"]);
    expect(result(run, 5).dma).toBe("fault");
  });
});

describe("VFIO_DEVICE_FEATURE payloads of Matt Evans' series", () => {
  const calls = `calls:
${EXPORT.replace("length: 0x200000", "length: 0x10000")}
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [SET], feature: DMA_BUF_MEMATTR, data: { dmabuf_fd: buf0, memattr: 2 } }
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [SET], feature: DMA_BUF_MEMATTR, data: { dmabuf_fd: buf0, memattr: WC } }
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [SET], feature: DMA_BUF_REVOKE, data: { dmabuf_fd: buf0 } }
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [SET], feature: DMA_BUF_REVOKE, data: { dmabuf_fd: buf0 } }
`;

  it.each([
    ["proposal-vfio-dmabuf-mmap", ["ok", "ENOENT", "ok", "ok", "EBADFD"]],
    ["linux-7.1", ["ok", "ENOTTY", "ENOTTY", "ENOTTY", "ENOTTY"]],
  ])("under %s MEMATTR and REVOKE answer %j", (profile, expected) => {
    expect(outcomes(replayText(calls, profile))).toEqual(expected);
  });

  it.each([
    ["proposal-vfio-dmabuf-mmap", "ok"],
    ["linux-7.1", "EINVAL"],
  ])("under %s an mmap of a VFIO dma-buf fd gives %s", (profile, expected) => {
    const run = replayText(
      `calls:
${EXPORT}
  - { syscall: mmap, fd: buf0, offset: 0, length: 0x200000, as: va }
`,
      profile,
    );
    expect(outcomes(run)[1]).toBe(expected);
  });
});

describe("a VMM's setup ioctls replay as ioctls", () => {
  it("BIND, GET_HW_INFO, HWPT_ALLOC, ATTACH_PT to the HWPT, OPTION, COPY, DETACH and DESTROY", () => {
    const run = replayText(`calls:
  - { fd: vfio0, ioctl: VFIO_DEVICE_BIND_IOMMUFD, arg: { iommufd: iommufd }, as: bind }
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas2 }
  - { fd: iommufd, ioctl: IOMMU_GET_HW_INFO, arg: { dev_id: bind.out_devid }, as: info }
  - fd: iommufd
    ioctl: IOMMU_HWPT_ALLOC
    arg: { dev_id: bind.out_devid, pt_id: ioas.out_ioas_id }
    as: hwpt
  - { fd: vfio0, ioctl: VFIO_DEVICE_ATTACH_IOMMUFD_PT, arg: { pt_id: hwpt.out_hwpt_id }, as: pt }
  - fd: iommufd
    ioctl: IOMMU_OPTION
    arg: { option_id: HUGE_PAGES, op: GET, object_id: ioas.out_ioas_id }
    as: opt
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg:
      flags: [FIXED_IOVA, READABLE, WRITEABLE]
      ioas_id: ioas.out_ioas_id
      user_va: 0x7f0000000000
      length: 0x200000
      iova: 0x100000
  - fd: iommufd
    ioctl: IOMMU_IOAS_COPY
    arg:
      flags: [READABLE, WRITEABLE]
      dst_ioas_id: ioas2.out_ioas_id
      src_ioas_id: ioas.out_ioas_id
      length: 0x200000
      src_iova: 0x100000
    as: copy
  - { fd: iommufd, ioctl: IOMMU_DESTROY, arg: { id: hwpt.out_hwpt_id } }
  - { fd: vfio0, ioctl: VFIO_DEVICE_DETACH_IOMMUFD_PT }
  - { fd: iommufd, ioctl: IOMMU_DESTROY, arg: { id: hwpt.out_hwpt_id } }
`);
    expect(outcomes(run)).toEqual([
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
      "ok",
      "EBUSY", // the HWPT is in use by the attached device
      "ok",
      "ok",
    ]);
    expect(result(run, 5).out?.["pt_id"]).toBe(result(run, 4).out?.["out_hwpt_id"]);
    expect(result(run, 6).out).toMatchObject({ val64: 1n });
    expect(result(run, 8).out?.["dst_iova"]).not.toBe(0n);
  });
});

describe("replay syscalls and config writes", () => {
  it("munmap leaves the range unbacked: a later IOMMU_IOAS_MAP of it with a domain fails EFAULT", () => {
    const run = replayText(`calls:
${IOAS_WITH_DOMAIN}
  - { syscall: mmap, fd: vfio0, offset: 0, length: 0x10000, addr: 0x7f0000000000 }
  - { syscall: munmap, addr: 0x7f0000000000, length: 0x10000 }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000000000, length: 0x10000 }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000010000, length: 0x10000 }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "EFAULT", "ok"]);
    expect(result(run, 2).ret).toBe(0x7f00_0000_0000n);
  });

  it.each([
    ["length 0", "{ syscall: mmap, fd: vfio0, offset: 0, length: 0 }", "EINVAL"],
    [
      "an offset past the BAR",
      "{ syscall: mmap, fd: vfio0, offset: 0x1000000, length: 0x1000 }",
      "EINVAL",
    ],
    ["a fd that is not open", "{ syscall: mmap, fd: 77, offset: 0, length: 0x1000 }", "EBADF"],
    ["an unaligned munmap", "{ syscall: munmap, addr: 0x7f0000000010, length: 0x1000 }", "EINVAL"],
  ])("%s fails %s as mmap(2)/munmap(2) do", (_what, call, errno) => {
    expect(outcomes(replayText(`calls:\n  - ${call}\n`))).toEqual([errno]);
  });

  it("a config write past the 4 KiB config space fails EFAULT; a value wider than size is a file error", () => {
    const run = replayText(`calls:
  - { event: config-write, device: vfio0, offset: 0x1000, value: 0 }
`);
    expect(outcomes(run)).toEqual(["EFAULT"]);
    expect(() =>
      replayText("calls: [{ event: config-write, device: vfio0, offset: 4, value: 0x10000 }]"),
    ).toThrow(/calls\[0\]\.value/);
  });
});

describe("the device-info ioctls a VMM issues before it maps a BAR", () => {
  it("QEMU's GET_INFO and GET_REGION_INFO: BAR n is mmapped at the region's offset n << 40", () => {
    const run = replayExample("qemu-region-info.yaml");
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "EINVAL"]);
    expect(result(run, 0).out).toEqual({
      argsz: 24,
      flags: 3, // VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET
      num_regions: 9,
      num_irqs: 5,
      cap_offset: 0,
      pad: 0,
    });
    expect(result(run, 1).out).toMatchObject({ flags: 7, index: 0, size: 0x100_0000n, offset: 0n });
    expect(result(run, 3).out).toMatchObject({ flags: 7, size: 0x1_0000n, offset: 2n << 40n });
    expect(result(run, 5).out).toMatchObject({ flags: 3, size: 0x1000n, offset: 7n << 40n });
    expect(result(run, 6).out).toMatchObject({ index: 2, count: 0 });
    expect(run.violations).toEqual([]);
  });

  it("the region's offset selects the BAR an mmap maps: BAR2's offset with BAR0's length fails EINVAL", () => {
    const run = replayText(`calls:
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_REGION_INFO, arg: { index: 0 }, as: r0 }
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_REGION_INFO, arg: { index: 2 }, as: r2 }
  - { syscall: mmap, fd: vfio0, offset: r2.offset, length: r0.size }
  - { syscall: mmap, fd: vfio0, offset: r2.offset, length: r2.size }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "EINVAL", "ok"]);
  });

  it("a described machine's empty BAR reports size 0 and flags 0", () => {
    const run =
      replayText(`${EMPTY_BAR1_MACHINE}  - { fd: gpu0, ioctl: VFIO_DEVICE_GET_REGION_INFO, arg: { index: 1 } }
  - { fd: gpu0, ioctl: VFIO_DEVICE_GET_REGION_INFO, arg: { index: 0 } }
`);
    expect(result(run, 0).out).toMatchObject({ flags: 0, size: 0n, offset: 1n << 40n });
    expect(result(run, 1).out).toMatchObject({ flags: 7, size: 0x100_0000n, offset: 0n });
  });

  it("mmap of a BAR the function does not implement fails EINVAL, as its region info says", () => {
    const run =
      replayText(`${EMPTY_BAR1_MACHINE}  - { syscall: mmap, fd: gpu0, offset: 0x10000000000, length: 0x1000 }
  - { syscall: mmap, fd: gpu0, offset: 0, length: 0x1000 }
`);
    expect(outcomes(run)).toEqual(["EINVAL", "ok"]);
  });

  it("a NULL argument to each info ioctl and to the hot reset fails EFAULT", () => {
    const run = replayText(`calls:
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_INFO, arg: null }
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_REGION_INFO, arg: null }
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_IRQ_INFO, arg: null }
  - { fd: vfio0, ioctl: VFIO_DEVICE_PCI_HOT_RESET, arg: null }
`);
    expect(outcomes(run)).toEqual(["EFAULT", "EFAULT", "EFAULT", "EFAULT"]);
  });

  it("a hot reset with group fds on a cdev device fails EINVAL; flags must be 0", () => {
    const run = replayText(`calls:
  - fd: vfio0
    ioctl: VFIO_DEVICE_PCI_HOT_RESET
    arg: { argsz: 16, count: 1, tail: [3, 0, 0, 0] }
  - { fd: vfio0, ioctl: VFIO_DEVICE_PCI_HOT_RESET, arg: { flags: 1 } }
  - { fd: vfio0, ioctl: VFIO_DEVICE_PCI_HOT_RESET }
`);
    expect(outcomes(run)).toEqual(["EINVAL", "EINVAL", "ok"]);
  });

  it("GET_INFO with argsz 16 copies back 16 bytes: cap_offset keeps what the caller wrote", () => {
    const run = replayText(`calls:
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_INFO, arg: { argsz: 16, cap_offset: 5 }, as: info }
  - { fd: vfio0, ioctl: VFIO_DEVICE_GET_INFO, arg: { argsz: 15 } }
  - { fd: vfio0, ioctl: "0x3b6b", as: byNumber }
`);
    expect(outcomes(run)).toEqual(["ok", "EINVAL", "ok"]);
    expect(result(run, 0).out).toMatchObject({ argsz: 16, num_regions: 9, cap_offset: 5 });
    expect(result(run, 2).out).toMatchObject({ num_regions: 9, num_irqs: 5 });
  });
});
