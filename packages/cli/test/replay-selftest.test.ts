import { describe, expect, it } from "vitest";
import { outcomes, replayExample, replayText, result } from "./replay-support.js";

const FILE = "iommufd-selftest-dmabuf.yaml";

/** A machine with the selftest mock (CONFIG_IOMMUFD_TEST), then `calls:`. */
const MOCK = `machine:
  devices: [{ id: dev1 }]
  reference: { exporter: { selftestHook: true } }
calls:
`;
const GET = `
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: IOMMU_TEST_OP_DMABUF_GET, dmabuf_get: { length: 0x4000, open_flags: O_RDWR } }
    as: buf0
`;

describe(`the iommufd selftests dmabuf_simple and dmabuf_revoke (rfc/replays/${FILE})`, () => {
  const run = replayExample(FILE);

  it("dmabuf_simple: MAP_FILE of (0, 0), (size, size) and (0, size + 1) is EINVAL; (0, size) maps", () => {
    // GET, IOAS_ALLOC, the four maps, close
    expect(outcomes(run).slice(0, 7)).toEqual([
      "ok",
      "ok",
      "EINVAL",
      "EINVAL",
      "EINVAL",
      "ok",
      "ok",
    ]);
    expect(result(run, 0).ret).toBe(1); // the mock dma-buf's fd
  });

  it("dmabuf_revoke: map, revoke, attach, map ENODEV, un-revoke, map, unmap, map FIXED_IOVA", () => {
    expect(outcomes(run).slice(7)).toEqual([
      "ok", // GET
      "ok", // IOAS_ALLOC
      "ok", // map
      "ok", // revoke
      "ok", // a domain attaches (the selftest's HWPT alloc)
      "ENODEV", // map of the revoked buffer
      "ok", // un-revoke
      "ok", // map
      "ok", // unmap the dead area's IOVA
      "ok", // map it again with FIXED_IOVA
      "ok", // close
    ]);
    expect(result(run, 7).ret).toBe(2);
    expect(result(run, 10).ret).toBe(0);
    expect(result(run, 16).out?.["iova"]).toBe(result(run, 9).out?.["iova"]);
    expect(run.violations).toEqual([]);
  });

  it("names the mock's buffers after the file's bindings", () => {
    expect(run.bufferNames).toEqual(
      new Map([
        [1, "buf0"],
        [2, "buf1"],
      ]),
    );
  });
});

describe("IOMMU_TEST_CMD in a replay", () => {
  it("is ENOTTY without CONFIG_IOMMUFD_TEST (no reference exporter with the selftest hook)", () => {
    expect(outcomes(replayText(`calls:${GET}`))).toEqual(["ENOTTY"]);
  });

  it("takes the op and the union member by their kernel names, flags as O_* names", () => {
    const run = replayText(`${MOCK}${GET}
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: IOMMU_TEST_OP_DMABUF_REVOKE, dmabuf_revoke: { dmabuf_fd: buf0, revoked: 1 } }
  - fd: iommufd
    ioctl: 0x3ba0
    arg: { op: DMABUF_REVOKE, dmabuf_revoke: { dmabuf_fd: buf0, revoked: 0 } }
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "ok"]);
    expect(result(run, 0).ret).toBe(1);
  });

  it("reports the kernel's errnos: length 0 EINVAL, a bad fd EBADF, another op EOPNOTSUPP", () => {
    const run = replayText(`${MOCK}
  - { fd: iommufd, ioctl: IOMMU_TEST_CMD, arg: { op: DMABUF_GET, dmabuf_get: { length: 0 } } }
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: DMABUF_REVOKE, dmabuf_revoke: { dmabuf_fd: -1, revoked: 1 } }
  - { fd: iommufd, ioctl: IOMMU_TEST_CMD, arg: { op: 1 } }
  - { fd: iommufd, ioctl: IOMMU_TEST_CMD, arg: { size: 64 } }
`);
    expect(outcomes(run)).toEqual(["EINVAL", "EBADF", "EOPNOTSUPP", "EINVAL"]);
  });

  it("refuses two union members, and a field the member does not have, as file errors", () => {
    expect(() =>
      replayText(`${MOCK}
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: 22, dmabuf_get: { length: 1 }, dmabuf_revoke: { revoked: 1 } }
`),
    ).toThrow(/one union member at a time/);
    expect(() =>
      replayText(`${MOCK}
  - { fd: iommufd, ioctl: IOMMU_TEST_CMD, arg: { op: 22, dmabuf_get: { len: 1 } } }
`),
    ).toThrow(/dmabuf_get\.len/);
  });
});
