import { fc, test as fcTest } from "@fast-check/vitest";
import { UAPI_IOCTLS, findUapiStruct } from "@dmabuf-ref/core";
import type { FieldLayout, StructInfo } from "@dmabuf-ref/core";
import { describe, expect, it } from "vitest";
import { decodeLeft, encodeStructArg, scalarFields } from "../src/replay/encode.js";
import { emptyBindings } from "../src/replay/values.js";

const RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffff_ffffn],
  s32: [-0x8000_0000n, 0x7fff_ffffn],
  u64: [0n, (1n << 64n) - 1n],
  aligned_u64: [0n, (1n << 64n) - 1n],
};

function valueOf(f: FieldLayout): fc.Arbitrary<bigint> {
  const [lo, hi] = RANGES[f.type] ?? [0n, 0n];
  return fc.bigInt(lo, hi);
}

/** Every ioctl's argument struct whose members the generic encoder builds. */
const generic = UAPI_IOCTLS.flatMap((i) => {
  const s = i.struct === undefined ? undefined : findUapiStruct(i.struct);
  return s === undefined || i.name === "VFIO_DEVICE_FEATURE" ? [] : [[i.name, s] as const];
});

const asNumber = (f: FieldLayout, v: bigint): number | bigint => (f.size === 8 ? v : Number(v));

describe("the replay's generic struct encoder", () => {
  it("covers the setup ioctls of the uAPI registry", () => {
    const names = generic.map(([n]) => n);
    for (const n of [
      "IOMMU_HWPT_ALLOC",
      "IOMMU_IOAS_ALLOW_IOVAS",
      "IOMMU_IOAS_COPY",
      "IOMMU_OPTION",
      "VFIO_DEVICE_BIND_IOMMUFD",
      "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
    ])
      expect(names).toContain(n);
  });

  it.each(generic)(
    "%s: every value each C member can hold is encoded at the member's offset, little-endian",
    (name, s: StructInfo) => {
      const fields = scalarFields(s).filter((f) => f.name !== "size" && f.name !== "argsz");
      fc.assert(
        fc.property(fc.tuple(...fields.map(valueOf)), (values) => {
          const arg: Record<string, unknown> = {};
          fields.forEach((f, i) => {
            const v = values[i] ?? 0n;
            // Files write numbers as decimal or 0x strings; a negative s32 as "-N".
            arg[f.name] = f.type === "s32" ? String(v) : `0x${v.toString(16)}`;
          });
          const { buffer } = encodeStructArg(name, s, arg, emptyBindings(), 0);
          const out = decodeLeft(s, buffer, new Uint8Array(0));
          fields.forEach((f, i) => {
            const v = values[i] ?? 0n;
            expect(out[f.name]).toEqual(asNumber(f, v));
          });
          expect(buffer.length).toBe(s.size);
        }),
        { numRuns: 30 },
      );
    },
  );

  fcTest.prop([fc.uint8Array({ maxLength: 40 })], { numRuns: 30 })(
    "the struct as the kernel leaves it is the user's bytes overwritten by what it copied back",
    (copied) => {
      const s = findUapiStruct("iommu_ioas_map");
      if (s === undefined) throw new Error("no iommu_ioas_map");
      const passed = encodeStructArg(
        "IOMMU_IOAS_MAP",
        s,
        { flags: 7, ioas_id: 3, user_va: "0x7f0000000000", length: 4096, iova: 0x10000 },
        emptyBindings(),
        0,
      ).buffer;
      const left = new Uint8Array(passed);
      left.set(copied.subarray(0, s.size));
      expect(decodeLeft(s, passed, copied)).toEqual(decodeLeft(s, left, new Uint8Array(0)));
    },
  );
});
