import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { UsageError } from "../src/io/usage-error.js";
import { IOAS_WITH_DOMAIN, outcomes, replayText, result } from "./replay-support.js";

const MAP_FIXED = (va: string, iova: string, as: string): string => `
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg:
      flags: [FIXED_IOVA, READABLE, WRITEABLE]
      ioas_id: ioas.out_ioas_id
      user_va: ${va}
      length: 0x200000
      iova: ${iova}
    as: ${as}
`;

describe("replay bindings: every field the kernel copies back can be bound with as", () => {
  it("an IOMMU_IOAS_MAP with FIXED_IOVA binds the whole struct written back, iova included", () => {
    const run = replayText(`calls:
${IOAS_WITH_DOMAIN}
${MAP_FIXED("0x7f0000000000", "0x40000000", "ram1")}
  - { fd: iommufd, ioctl: IOMMU_IOAS_UNMAP, arg: { ioas_id: ioas.out_ioas_id, iova: ram1.iova, length: ram1.length } }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(result(run, 2).out).toEqual({
      size: 40,
      flags: 7,
      ioas_id: 1,
      __reserved: 0,
      user_va: 0x7f00_0000_0000n,
      length: 0x20_0000n,
      iova: 0x4000_0000n,
    });
    expect(result(run, 3).out).toMatchObject({ iova: 0x4000_0000n, length: 0x20_0000n });
  });

  it("IOMMU_IOAS_IOVA_RANGES binds num_iovas and out_iova_alignment written back before EMSGSIZE", () => {
    const run = replayText(`calls:
${IOAS_WITH_DOMAIN}
  - { fd: iommufd, ioctl: IOMMU_IOAS_IOVA_RANGES, arg: { ioas_id: ioas.out_ioas_id }, as: count }
  - fd: iommufd
    ioctl: IOMMU_IOAS_IOVA_RANGES
    arg: { ioas_id: ioas.out_ioas_id, num_iovas: count.num_iovas, allowed_iovas: 0x7f0000000000 }
    as: ranges
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "EMSGSIZE", "ok"]);
    const needed = Number(result(run, 2).out?.["num_iovas"]);
    expect(needed).toBeGreaterThan(0);
    expect(result(run, 3).out?.["num_iovas"]).toBe(needed);
    expect(result(run, 3).written?.["allowed_iovas"]).toHaveLength(needed);
  });

  it("a call that fails binds nothing: using its name is an error naming the failed call", () => {
    expect(() =>
      replayText(`calls:
${IOAS_WITH_DOMAIN}
  - { fd: iommufd, ioctl: IOMMU_IOAS_MAP, arg: { ioas_id: 99, user_va: 0x7f0000000000, length: 0x1000, flags: [READABLE] }, as: bad }
  - { event: dma, device: dev1, iova: bad.iova, length: 4096, dir: read }
`),
    ).toThrow(
      /calls\[3\]\.iova: "bad\.iova" is unbound: calls\[2\] \(IOMMU_IOAS_MAP\) failed with ENOENT/,
    );
  });

  it.each([
    [
      "reusing a name",
      "  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }",
      /calls\[2\]\.as: "ioas" is already bound by calls\[0\]/,
    ],
    [
      "binding iommufd",
      "  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: iommufd }",
      /calls\[2\]\.as: "iommufd" is reserved/,
    ],
    [
      "binding a device's id",
      "  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: vfio0 }",
      /calls\[2\]\.as: "vfio0" is reserved/,
    ],
  ])("%s is a file error", (_what, call, message) => {
    expect(() => replayText(`calls:\n${IOAS_WITH_DOMAIN}\n${call}\n`)).toThrow(UsageError);
    expect(() => replayText(`calls:\n${IOAS_WITH_DOMAIN}\n${call}\n`)).toThrow(message);
  });
});

describe("the replay's ioctl frame", () => {
  it("a raw request number no ioctl has gets ENOTTY from the fd's handler", () => {
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: 0x3bff }
  - { fd: iommufd, ioctl: "0x3b7f", arg: { tail: [0, 0, 0, 0] } }
`);
    expect(outcomes(run)).toEqual(["ENOTTY", "ENOTTY"]);
  });

  it("a raw number of a modelled ioctl is that ioctl", () => {
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: "0x3b81", as: ioas }
  - { fd: iommufd, ioctl: 15232, arg: { id: ioas.out_ioas_id } }
`);
    expect(outcomes(run)).toEqual(["ok", "ok"]);
    expect(result(run, 0).out).toMatchObject({ out_ioas_id: 1 });
  });

  it("an unknown ioctl name is a file error, naming the call", () => {
    expect(() => replayText("calls: [{ fd: iommufd, ioctl: IOMMU_IOAS_FROB }]")).toThrow(
      /calls\[0\]\.ioctl: unknown ioctl "IOMMU_IOAS_FROB"/,
    );
  });

  it("a NULL argument pointer gets EFAULT where the kernel copies from it", () => {
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, arg: null }
  - { fd: iommufd, ioctl: IOMMU_IOAS_MAP, arg: null }
  - { fd: vfio0, ioctl: VFIO_DEVICE_FEATURE, arg: null }
`);
    expect(outcomes(run)).toEqual(["EFAULT", "EFAULT", "EFAULT"]);
  });

  it.each([
    ["a size past the struct without its tail", "{ size: 16 }"],
    ["a tail shorter than size minus sizeof", "{ size: 16, tail: [0, 0] }"],
    ["a tail with no size past the struct", "{ tail: [0] }"],
    ["a tail byte above 255", "{ size: 13, tail: [256] }"],
  ])("%s is a file error naming arg.tail", (_what, arg) => {
    expect(() =>
      replayText(`calls: [{ fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, arg: ${arg} }]`),
    ).toThrow(/calls\[0\]\.arg\.tail/);
  });

  fcTest.prop([fc.uint8Array({ minLength: 1, maxLength: 24 })], { numRuns: 25 })(
    "iommufd accepts a zero tail past the struct and answers E2BIG for a non-zero one",
    (tail) => {
      const run = replayText(
        `calls: [{ fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, arg: { size: ${12 + tail.length}, tail: [${[...tail].join(", ")}] } }]`,
      );
      expect(outcomes(run)).toEqual([tail.every((b) => b === 0) ? "ok" : "E2BIG"]);
    },
  );

  it("a NULL allowed_iovas with num_iovas >= 1 fails EFAULT where the kernel copies to it", () => {
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - { fd: iommufd, ioctl: IOMMU_IOAS_IOVA_RANGES, arg: { ioas_id: ioas.out_ioas_id, num_iovas: 1, allowed_iovas: 0 } }
`);
    expect(outcomes(run)).toEqual(["ok", "EFAULT"]);
  });

  it("a list given for allowed_iovas is placed in user memory and num_iovas is its length", () => {
    const run = replayText(`calls:
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - fd: iommufd
    ioctl: IOMMU_IOAS_ALLOW_IOVAS
    arg: { ioas_id: ioas.out_ioas_id, allowed_iovas: [{ start: 0x100000, last: 0xffffff }] }
    as: allow
`);
    expect(outcomes(run)).toEqual(["ok", "ok"]);
    expect(result(run, 1).out).toMatchObject({ num_iovas: 1 });
  });

  it("an ioctl on a fd whose handler does not know it gets ENOTTY", () => {
    const run = replayText(`calls:
  - { fd: vfio0, ioctl: IOMMU_IOAS_ALLOC }
  - { fd: iommufd, ioctl: VFIO_DEVICE_RESET }
  - { fd: vfio0, ioctl: 0x3b99 }
`);
    expect(outcomes(run)).toEqual(["ENOTTY", "ENOTTY", "ENOTTY"]);
  });

  it("an ioctl on a dma-buf fd gets ENOTTY, and on a fd that is not open EBADF", () => {
    const run = replayText(`calls:
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [GET], feature: DMA_BUF, data: { region_index: 0, dma_ranges: [{ offset: 0, length: 0x1000 }] } }
    as: buf
  - { fd: buf, ioctl: IOMMU_IOAS_ALLOC }
  - { syscall: close, fd: buf }
  - { fd: buf, ioctl: IOMMU_IOAS_ALLOC }
  - { fd: 77, ioctl: IOMMU_IOAS_ALLOC }
`);
    expect(outcomes(run)).toEqual(["ok", "ENOTTY", "ok", "EBADF", "EBADF"]);
  });

  it("iommufd stands for the iommufd's fd number: VFIO_DEVICE_BIND_IOMMUFD of another fd fails EBADF", () => {
    const run = replayText(`calls:
  - { fd: vfio0, ioctl: VFIO_DEVICE_BIND_IOMMUFD, arg: { iommufd: 77 } }
  - { fd: vfio0, ioctl: VFIO_DEVICE_BIND_IOMMUFD, arg: { iommufd: iommufd }, as: bind }
`);
    expect(outcomes(run)).toEqual(["EBADF", "ok"]);
    expect(result(run, 1).out).toMatchObject({ argsz: 16, flags: 0 });
    expect(Number(result(run, 1).out?.["out_devid"])).toBeGreaterThan(0);
  });
});
