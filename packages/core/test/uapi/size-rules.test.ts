/**
 * The two uAPI size conventions (kernel-model §3.1 and §2.1–2.2 step 0):
 * iommufd's leading `u32 size` with min_size / E2BIG (copy_struct_from_user),
 * and VFIO's `argsz` with no E2BIG at all (vfio_main.c, vfio_check_feature).
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  copyIommufdStruct,
  iommuIoasAlloc,
  iommuIoasMap,
  iommuIoasMapFile,
  parseVfioDeviceFeature,
  respondIommufdStruct,
  vfioCheckFeature,
  vfioDeviceFeature,
} from "@dmabuf-ref/core";
import { concat, expectErrno, expectOk, outcome, u32Arb, valueArb } from "./helpers.js";
import type { AnyStruct } from "./helpers.js";

const GET = VFIO_DEVICE_FEATURE_GET;
const SET = VFIO_DEVICE_FEATURE_SET;
const PROBE = VFIO_DEVICE_FEATURE_PROBE;
/** The two 40-byte iommufd structs, seen generically for the properties. */
const anyMap: AnyStruct = iommuIoasMap;
const anyMapFile: AnyStruct = iommuIoasMapFile;
const MIN = 40; // IOMMU_IOAS_MAP_FILE min_size = offsetofend(iova)
const mapFile = {
  size: 40,
  flags: 6,
  ioas_id: 3,
  fd: 7,
  start: 0x1000n,
  length: 0x2000n,
  iova: 0x10000n,
};
/** A map_file request whose `size` is `size`, followed by `tail`. */
function mapFileBuffer(size: number, tail: readonly number[] = []): Uint8Array {
  return concat(iommuIoasMapFile.encode({ ...mapFile, size }), Uint8Array.from(tail));
}
const byteArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 255 }), weight: 1 },
);

describe("iommufd size rule (copyIommufdStruct)", () => {
  it("iommufd: a size below min_size fails with EINVAL", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MIN - 1 }), (size) => {
        expectErrno(copyIommufdStruct(iommuIoasMapFile, MIN, mapFileBuffer(size)), "EINVAL");
      }),
    );
  });

  it("iommufd: a size below min_size is EINVAL even when the buffer is shorter than size", () => {
    const buffer = mapFileBuffer(39).subarray(0, 4);
    expectErrno(copyIommufdStruct(iommuIoasMapFile, MIN, buffer), "EINVAL");
  });

  it("iommufd: size == sizeof succeeds and decodes every member", () => {
    const got = expectOk(copyIommufdStruct(iommuIoasMapFile, MIN, mapFileBuffer(40)));
    expect(got).toEqual({ value: mapFile, userSize: 40 });
  });

  it("iommufd: a valid struct of any member values round-trips through the size check", () => {
    fc.assert(
      fc.property(valueArb(anyMap), (x) => {
        const v = { ...x, size: anyMap.size };
        const got = expectOk(copyIommufdStruct(anyMap, 40, anyMap.encode(v)));
        expect(got.value).toEqual(v);
      }),
    );
  });

  it("iommufd: a larger size with an all-zero tail succeeds and decodes the known part", () => {
    const got = expectOk(
      copyIommufdStruct(iommuIoasMapFile, MIN, mapFileBuffer(48, [0, 0, 0, 0, 0, 0, 0, 0])),
    );
    expect(got.userSize).toBe(48);
    expect(got.value).toEqual({ ...mapFile, size: 48 });
  });

  it("iommufd: a larger size with a non-zero byte in the tail fails with E2BIG", () => {
    const buffer = mapFileBuffer(48, [0, 0, 0, 0, 0, 0, 0, 1]);
    expectErrno(copyIommufdStruct(iommuIoasMapFile, MIN, buffer), "E2BIG");
  });

  it("iommufd: bytes past size are never read, even when non-zero", () => {
    const buffer = mapFileBuffer(44, [0, 0, 0, 0, 0xff, 0xff]);
    expect(expectOk(copyIommufdStruct(iommuIoasMapFile, MIN, buffer)).userSize).toBe(44);
  });

  it("iommufd: for random tails, E2BIG iff some tail byte is non-zero", () => {
    fc.assert(
      fc.property(fc.array(byteArb, { minLength: 1, maxLength: 80 }), (tail) => {
        const r = copyIommufdStruct(iommuIoasMapFile, MIN, mapFileBuffer(40 + tail.length, tail));
        expect(outcome(r)).toBe(tail.some((b) => b !== 0) ? "E2BIG" : "ok");
        if (r.ok) expect(r.value.value).toEqual({ ...mapFile, size: 40 + tail.length });
      }),
    );
  });

  it("iommufd: a buffer shorter than the 4-byte size field fails with EFAULT", () => {
    for (const len of [0, 1, 2, 3]) {
      expectErrno(copyIommufdStruct(iommuIoasMapFile, MIN, new Uint8Array(len)), "EFAULT");
    }
  });

  it("iommufd: a buffer shorter than size fails with EFAULT", () => {
    expectErrno(
      copyIommufdStruct(iommuIoasMapFile, MIN, mapFileBuffer(40).subarray(0, 39)),
      "EFAULT",
    );
    expectErrno(copyIommufdStruct(iommuIoasMapFile, MIN, mapFileBuffer(0xffffffff)), "EFAULT");
    // sizeof <= buffer < size with the present tail all zero: still EFAULT.
    expectErrno(
      copyIommufdStruct(iommuIoasMapFile, MIN, mapFileBuffer(64, [0, 0, 0, 0])),
      "EFAULT",
    );
  });

  it("iommufd: a size between min_size and sizeof is zero-extended to the kernel struct", () => {
    // An older caller that stops after `length` (min_size 32 for this check).
    const buffer = iommuIoasMap
      .encode({ size: 32, flags: 1, ioas_id: 2, __reserved: 0, user_va: 5n, length: 6n, iova: 9n })
      .subarray(0, 32);
    const got = expectOk(copyIommufdStruct(iommuIoasMap, 32, buffer));
    expect(got.value.iova).toBe(0n);
    expect(got.value.length).toBe(6n);
  });

  it("iommufd: respondIommufdStruct writes back min(size, sizeof) bytes of the struct", () => {
    fc.assert(
      fc.property(valueArb(anyMapFile), fc.integer({ min: 0, max: 256 }), (x, userSize) => {
        const out = respondIommufdStruct(anyMapFile, x, userSize);
        expect(out.length).toBe(Math.min(userSize, 40));
        expect(out).toEqual(anyMapFile.encode(x).subarray(0, out.length));
      }),
    );
  });
});

/** A vfio_device_feature header followed by `payload`. */
function featureBuffer(argsz: number, flags: number, payload: Uint8Array = new Uint8Array()) {
  return concat(vfioDeviceFeature.encode({ argsz, flags }), payload);
}

describe("VFIO core checks (parseVfioDeviceFeature)", () => {
  it("vfio: a buffer shorter than the 8-byte header fails with EFAULT", () => {
    for (let len = 0; len < 8; len++) {
      expectErrno(parseVfioDeviceFeature(featureBuffer(64, GET).subarray(0, len)), "EFAULT");
    }
  });

  it("vfio: argsz below 8 fails with EINVAL", () => {
    for (let argsz = 0; argsz < 8; argsz++) {
      expectErrno(parseVfioDeviceFeature(featureBuffer(argsz, GET | 11)), "EINVAL");
    }
  });

  it("vfio: any flag bit above PROBE (bits 19-31) fails with EINVAL", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 19, max: 31 }),
        fc.integer({ min: 0, max: 0x7ffff }),
        (bit, low) => {
          const flags = (low | (1 << bit)) >>> 0;
          expectErrno(parseVfioDeviceFeature(featureBuffer(8, flags)), "EINVAL");
        },
      ),
    );
    expectErrno(parseVfioDeviceFeature(featureBuffer(8, GET | (1 << 19))), "EINVAL");
  });

  it("vfio: GET|SET without PROBE fails with EINVAL; with PROBE it passes the core", () => {
    expectErrno(parseVfioDeviceFeature(featureBuffer(8, GET | SET | 11)), "EINVAL");
    const req = expectOk(parseVfioDeviceFeature(featureBuffer(8, GET | SET | PROBE | 11)));
    expect(req.feature).toBe(11);
    expect(req.dataSize).toBe(0);
  });

  it("vfio: there is no E2BIG; a large argsz with any payload passes with dataSize = argsz - 8", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.integer({ min: 0, max: 0xffff }),
        (payload, feature) => {
          const argsz = 8 + payload.length;
          const req = expectOk(
            parseVfioDeviceFeature(featureBuffer(argsz, GET | feature, payload)),
          );
          expect(req).toMatchObject({ argsz, flags: GET | feature, feature, dataSize: argsz - 8 });
          expect(req.data).toEqual(payload);
        },
      ),
    );
  });

  it("vfio: dataSize is argsz - 8 even when the buffer holds less; data is what is present", () => {
    fc.assert(
      fc.property(
        u32Arb.filter((a) => a >= 8),
        fc.uint8Array({ maxLength: 64 }),
        (argsz, payload) => {
          const req = expectOk(parseVfioDeviceFeature(featureBuffer(argsz, GET, payload)));
          expect(req.dataSize).toBe(argsz - 8);
          expect(req.data.length).toBe(Math.min(argsz - 8, payload.length));
        },
      ),
    );
  });
});

describe("VFIO feature check (vfioCheckFeature)", () => {
  it("vfio: SET on a GET-only feature fails with EINVAL, even with PROBE", () => {
    expectErrno(vfioCheckFeature(SET | VFIO_DEVICE_FEATURE_DMA_BUF, 16, GET, 16), "EINVAL");
    expectErrno(vfioCheckFeature(SET | PROBE, 16, GET, 16), "EINVAL");
    expectErrno(vfioCheckFeature(GET | SET | PROBE, 16, GET, 16), "EINVAL");
  });

  it("vfio: PROBE of a supported op returns probe whatever the payload size", () => {
    fc.assert(
      fc.property(fc.constantFrom(PROBE, PROBE | GET), fc.nat({ max: 64 }), (flags, dataSize) => {
        expect(expectOk(vfioCheckFeature(flags, dataSize, GET, 16))).toBe("probe");
      }),
    );
  });

  it("vfio: neither GET nor SET without PROBE fails with EINVAL", () => {
    expectErrno(vfioCheckFeature(VFIO_DEVICE_FEATURE_DMA_BUF, 64, GET, 16), "EINVAL");
  });

  it("vfio: a GET payload below minsz fails with EINVAL; at or above minsz it runs", () => {
    fc.assert(
      fc.property(fc.nat({ max: 64 }), (dataSize) => {
        const r = vfioCheckFeature(GET | VFIO_DEVICE_FEATURE_DMA_BUF, dataSize, GET, 16);
        if (dataSize < 16) expectErrno(r, "EINVAL");
        else expect(expectOk(r)).toBe("run");
      }),
    );
  });

  it("vfio: SET on a GET|SET feature with enough payload runs", () => {
    expect(expectOk(vfioCheckFeature(SET, 4, GET | SET, 4))).toBe("run");
  });
});

describe("iommufd tail check comes before the fault", () => {
  it("a non-zero readable tail byte is E2BIG even when the buffer ends before size", () => {
    const buffer = new Uint8Array(iommuIoasAlloc.size + 4);
    new DataView(buffer.buffer).setUint32(0, iommuIoasAlloc.size + 64, true);
    buffer[iommuIoasAlloc.size + 1] = 7;
    const r = copyIommufdStruct(iommuIoasAlloc, 12, buffer);
    expect(r.ok ? "ok" : r.error.errno).toBe("E2BIG");
  });
});
