/**
 * Codec properties for every uAPI struct: decode(encode(x)) is x for
 * in-range members, the zod schema accepts exactly the C types' ranges, and
 * a whole VFIO_DEVICE_FEATURE_DMA_BUF request survives the VFIO core's parse.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  encodeDmaBufFeature,
  parseVfioDeviceFeature,
  vfioDeviceFeatureDmaBuf,
  vfioRegionDmaRange,
} from "@dmabuf-ref/core";
import type { DmaBufFeatureArgs, VfioRegionDmaRange } from "@dmabuf-ref/core";
import {
  ALL_LAYOUTS,
  expectOk,
  outOfRange,
  scalarFields,
  u32Arb,
  u64Arb,
  valueArb,
} from "./helpers.js";

describe("struct codecs round-trip", () => {
  it.each(ALL_LAYOUTS)("$name: decode(encode(x)) deep-equals x for in-range members", (layout) => {
    fc.assert(
      fc.property(valueArb(layout), (x) => {
        const bytes = layout.encode(x);
        expect(bytes.length).toBe(layout.size);
        expect(layout.decode(bytes)).toEqual(x);
      }),
    );
  });

  it.each(ALL_LAYOUTS)(
    "$name: encode(decode(bytes)) reproduces the bytes of every member (other bytes are 0)",
    (layout) => {
      // A view of a struct with a union (iommu_test_cmd_dmabuf_get) leaves
      // the other members' bytes out: they encode as 0.
      const covered = new Uint8Array(layout.size);
      for (const f of scalarFields(layout)) covered.fill(1, f.offset, f.offset + f.size);
      fc.assert(
        fc.property(fc.uint8Array({ minLength: layout.size, maxLength: layout.size }), (bytes) => {
          const kept = bytes.map((b, i) => (covered[i] === 1 ? b : 0));
          expect(layout.encode(layout.decode(bytes))).toEqual(kept);
        }),
      );
    },
  );
});

describe("struct schemas", () => {
  it.each(ALL_LAYOUTS)("$name: the schema accepts every in-range value unchanged", (layout) => {
    fc.assert(
      fc.property(valueArb(layout), (x) => {
        const parsed = layout.schema.safeParse(x);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(x);
      }),
    );
  });

  it.each(ALL_LAYOUTS)(
    "$name: the schema rejects a member outside its C type (u32 2^32, s32 2^31, u64 -1 or 2^64)",
    (layout) => {
      fc.assert(
        fc.property(valueArb(layout), fc.nat(), fc.nat(), (x, pickField, pickValue) => {
          const fields = scalarFields(layout);
          const f = fields[pickField % fields.length];
          if (f === undefined) throw new Error(`${layout.name} has no scalar member`);
          const bad = outOfRange(f.type);
          const v = bad[pickValue % bad.length];
          if (v === undefined) throw new Error(`no out-of-range value for ${f.type}`);
          expect(layout.schema.safeParse({ ...x, [f.name]: v }).success).toBe(false);
        }),
      );
    },
  );

  it("the schema rejects a value with a member missing", () => {
    const [layout] = ALL_LAYOUTS;
    expect(layout?.schema.safeParse({}).success).toBe(false);
  });
});

const rangeArb: fc.Arbitrary<VfioRegionDmaRange> = fc.record({ offset: u64Arb, length: u64Arb });
const dmaBufArgsArb: fc.Arbitrary<DmaBufFeatureArgs> = fc.record({
  flags: fc.constantFrom(
    VFIO_DEVICE_FEATURE_GET,
    VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE,
    VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE,
  ),
  data: fc.record({ region_index: u32Arb, open_flags: u32Arb, flags: u32Arb }),
  ranges: fc.array(rangeArb, { maxLength: 6 }),
});

/** What the driver would see: the parsed request, its payload header and its ranges. */
function driverView(buffer: Uint8Array) {
  const req = expectOk(parseVfioDeviceFeature(buffer));
  const header = vfioDeviceFeatureDmaBuf.decode(req.data);
  const count = Math.floor((req.data.length - vfioDeviceFeatureDmaBuf.size) / 16);
  const ranges = Array.from({ length: count }, (_, i) =>
    vfioRegionDmaRange.decode(req.data, vfioDeviceFeatureDmaBuf.size + i * vfioRegionDmaRange.size),
  );
  return { req, header, ranges };
}

describe("encodeDmaBufFeature", () => {
  it("parse + decode recovers the request: argsz = 8+16+16n, nr_ranges = n, feature ORed into flags", () => {
    fc.assert(
      fc.property(dmaBufArgsArb, (args) => {
        const n = args.ranges.length;
        const buffer = encodeDmaBufFeature(args);
        expect(buffer.length).toBe(8 + 16 + 16 * n);
        const { req, header, ranges } = driverView(buffer);
        expect(req.argsz).toBe(8 + 16 + 16 * n);
        expect(req.dataSize).toBe(16 + 16 * n);
        expect(req.flags).toBe((args.flags | VFIO_DEVICE_FEATURE_DMA_BUF) >>> 0);
        expect(req.feature).toBe(VFIO_DEVICE_FEATURE_DMA_BUF);
        expect(header).toEqual({ ...args.data, nr_ranges: n });
        expect(ranges).toEqual(args.ranges);
      }),
    );
  });

  it("an explicit argsz, nr_ranges and feature are written as given", () => {
    fc.assert(
      fc.property(
        dmaBufArgsArb,
        fc.integer({ min: 8, max: 0xffffffff }),
        u32Arb,
        fc.integer({ min: 0, max: 0xffff }),
        (args, argsz, nr, feature) => {
          const buffer = encodeDmaBufFeature({
            ...args,
            argsz,
            feature,
            data: { ...args.data, nr_ranges: nr },
          });
          expect(buffer.length).toBe(8 + 16 + 16 * args.ranges.length);
          const req = expectOk(parseVfioDeviceFeature(buffer));
          expect(req.argsz).toBe(argsz);
          expect(req.feature).toBe(feature);
          expect(req.flags).toBe((args.flags | feature) >>> 0);
          expect(vfioDeviceFeatureDmaBuf.decode(buffer, 8).nr_ranges).toBe(nr);
        },
      ),
    );
  });

  it("a GET with one page-sized range encodes the exact kernel bytes", () => {
    const buffer = encodeDmaBufFeature({
      flags: VFIO_DEVICE_FEATURE_GET,
      data: { region_index: 2, open_flags: 0o2000002, flags: 0 },
      ranges: [{ offset: 0x1000n, length: 0x1000n }],
    });
    // argsz 40, flags 0x1000b (GET | 11), region 2, O_RDWR|O_CLOEXEC, flags 0, nr 1.
    expect([...buffer.subarray(0, 24)]).toEqual([
      40, 0, 0, 0, 0x0b, 0, 1, 0, 2, 0, 0, 0, 2, 0, 8, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    ]);
    expect([...buffer.subarray(24, 40)]).toEqual([
      0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0,
    ]);
  });
});
