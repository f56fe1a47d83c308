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

  it("reports the kernel's errnos: length 0 EINVAL, a bad fd EBADF, an op the kernel does not have (99) EOPNOTSUPP", () => {
    const run = replayText(`${MOCK}
  - { fd: iommufd, ioctl: IOMMU_TEST_CMD, arg: { op: DMABUF_GET, dmabuf_get: { length: 0 } } }
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: DMABUF_REVOKE, dmabuf_revoke: { dmabuf_fd: -1, revoked: 1 } }
  - { fd: iommufd, ioctl: IOMMU_TEST_CMD, arg: { op: 99 } }
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

describe("the iommufd selftests iova_ranges and area_allowed (rfc/replays/iommufd-selftest-reserved.yaml)", () => {
  const run = replayExample("iommufd-selftest-reserved.yaml");
  const ULONG_MAX = (1n << 64n) - 1n;

  it("iova_ranges: one range 0..ULONG_MAX, then the two around the page IOMMU_TEST_OP_ADD_RESERVED took", () => {
    expect(outcomes(run).slice(0, 7)).toEqual([
      "ok", // IOAS_ALLOC
      "ok", // SET_TEMP_MEMORY_LIMIT
      "ok",
      "EMSGSIZE",
      "ok", // ADD_RESERVED
      "ok",
      "EMSGSIZE",
    ]);
    expect(result(run, 2).out?.["num_iovas"]).toBe(1);
    expect(result(run, 2).written?.["allowed_iovas"]).toEqual([{ start: 0n, last: ULONG_MAX }]);
    expect(result(run, 3).out?.["num_iovas"]).toBe(1);
    expect(result(run, 5).out?.["num_iovas"]).toBe(2);
    expect(result(run, 5).written?.["allowed_iovas"]).toEqual([
      { start: 0n, last: 0xfffn },
      { start: 0x2000n, last: ULONG_MAX },
    ]);
    expect(result(run, 6).out?.["num_iovas"]).toBe(2);
  });

  it("area_allowed: a reservation that meets an allowed range, and an allowed range that meets a reservation, are EADDRINUSE", () => {
    expect(outcomes(run).slice(7)).toEqual([
      "ok", // IOAS_ALLOC
      "ok", // SET_TEMP_MEMORY_LIMIT
      "ok", // allow 0..600 pages
      "EADDRINUSE", // reserve a page inside it
      "ok", // allow nothing
      "ok", // reserve the page
      "EADDRINUSE", // allow 0..600 pages again
    ]);
    expect(run.violations).toEqual([]);
  });
});

describe("IOMMU_TEST_OP_ADD_RESERVED and IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT", () => {
  const reserve = (start: string, length: string, id = "ioas.out_ioas_id"): string => `
  - fd: iommufd
    ioctl: IOMMU_TEST_CMD
    arg: { op: ADD_RESERVED, id: ${id}, add_reserved: { start: ${start}, length: ${length} } }`;

  it("checks in the kernel's order: length 0 EINVAL, an end past ULONG_MAX EOVERFLOW, no such IOAS ENOENT, an area in the way EADDRINUSE", () => {
    const run = replayText(`${MOCK}
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [FIXED_IOVA, READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000000000, length: 0x2000, iova: 0x10000 }
    as: area${reserve("0x1000", "0", "99")}${reserve('"0xffffffffffffffff"', "2", "99")}${reserve("0x1000", "0x1000", "99")}${reserve("0x11000", "0x1000")}${reserve("0x1000", "0x1000")}${reserve("0x1000", "0x1000")}
`);
    expect(outcomes(run)).toEqual([
      "ok",
      "ok",
      "EINVAL",
      "EOVERFLOW",
      "ENOENT",
      "EADDRINUSE",
      "ok",
      "ok", // reserved ranges may overlap one another
    ]);
  });

  it("a reserved range keeps fixed-IOVA maps out (EINVAL) and automatic placement away", () => {
    const run = replayText(`${MOCK}
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: ioas }${reserve("0", "0x100000")}
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [FIXED_IOVA, READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000000000, length: 0x1000, iova: 0x80000 }
  - fd: iommufd
    ioctl: IOMMU_IOAS_MAP
    arg: { flags: [READABLE], ioas_id: ioas.out_ioas_id, user_va: 0x7f0000000000, length: 0x1000 }
    as: auto
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "EINVAL", "ok"]);
    expect(BigInt(String(result(run, 3).out?.["iova"]))).toBeGreaterThanOrEqual(0x100000n);
  });

  it("SET_TEMP_MEMORY_LIMIT takes any limit of one batch element (12 bytes) or more; below it is EINVAL", () => {
    const limit = (n: number): string => `
  - { fd: iommufd, ioctl: IOMMU_TEST_CMD, arg: { op: SET_TEMP_MEMORY_LIMIT, memory_limit: { limit: ${n} } } }`;
    const run = replayText(`${MOCK}${limit(65536)}${limit(12)}${limit(11)}${limit(0)}
`);
    expect(outcomes(run)).toEqual(["ok", "ok", "EINVAL", "EINVAL"]);
  });
});
