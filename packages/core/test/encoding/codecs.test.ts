/**
 * The codecs the World stores driver- and type-owned data with (issue 10:
 * no reflective encoding left): every field enters the encoding, so two
 * values that differ anywhere encode apart, and equal values encode alike.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  arrayCodec,
  boolCodec,
  encodedWith,
  intCodec,
  iommuDomain,
  kvmPfn,
  nullableCodec,
  oneOfCodec,
  optionalCodec,
  pal,
  physVecCodec,
  recordCodec,
  sgt,
  stringCodec,
  u64Codec,
  vfioIommufdPrivate,
} from "@dmabuf-ref/core";
import { encodedCodec, encodeWith, equalWith, hashWith, pushU64 } from "@dmabuf-ref/core/encoding";
import type { Codec } from "@dmabuf-ref/core";

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** Equal values encode and hash alike; values the model tells apart encode apart. */
function expectFaithful<T>(
  codec: Codec<T>,
  arb: fc.Arbitrary<T>,
  same: (a: T, b: T) => boolean,
): void {
  fc.assert(
    fc.property(arb, arb, (a, b) => {
      expect(equalWith(codec, a, structuredClone(a))).toBe(true);
      expect(hashWith(codec, a)).toBe(hashWith(codec, structuredClone(a)));
      expect(equalWith(codec, a, b)).toBe(same(a, b));
    }),
    { numRuns: 200 },
  );
}

const deepSame = (a: unknown, b: unknown): boolean => {
  try {
    expect(a).toEqual(b);
    return true;
  } catch {
    return false;
  }
};

describe("codec combinators encode every field", () => {
  it("a record of u64, int, bool, nullable string, optional list and enum encodes apart any two values that differ", () => {
    interface R {
      readonly a: bigint;
      readonly n: number;
      readonly f: boolean;
      readonly s: string | null;
      readonly xs: readonly bigint[] | undefined;
      readonly e: "x" | "y" | "z";
    }
    const codec = recordCodec<R>("test-record", {
      a: u64Codec,
      n: intCodec,
      f: boolCodec,
      s: nullableCodec(stringCodec),
      xs: optionalCodec(arrayCodec(u64Codec)),
      e: oneOfCodec(["x", "y", "z"]),
    });
    const arb = fc.record({
      a: fc.oneof(u64, fc.constantFrom(0n, 1n)),
      n: fc.integer({ min: -3, max: 3 }),
      f: fc.boolean(),
      s: fc.option(fc.string({ maxLength: 3 }), { nil: null }),
      xs: fc.option(fc.array(fc.constantFrom(0n, 1n, 2n), { maxLength: 3 }), { nil: undefined }),
      e: fc.constantFrom<"x" | "y" | "z">("x", "y", "z"),
    });
    expectFaithful(codec, arb, deepSame);
  });

  it("a list's length enters its encoding: [] and [0] and [0, 0] differ", () => {
    const c = arrayCodec(u64Codec);
    expect(equalWith(c, [], [0n])).toBe(false);
    expect(equalWith(c, [0n], [0n, 0n])).toBe(false);
  });

  it("the same value stored with two different codecs does not compare equal", () => {
    const a = recordCodec<{ readonly v: bigint }>("kind-a", { v: u64Codec });
    const b = recordCodec<{ readonly v: bigint }>("kind-b", { v: u64Codec });
    expect(equalWith(encodedCodec, encodedWith(a, { v: 1n }), encodedWith(b, { v: 1n }))).toBe(
      false,
    );
    expect(equalWith(encodedCodec, encodedWith(a, { v: 1n }), encodedWith(a, { v: 1n }))).toBe(
      true,
    );
  });

  it("a u64 encodes as its low and high 32-bit words, below 2^53 and above it", () => {
    const words = (v: bigint): number[] => [
      Number(BigInt.asIntN(32, v)),
      Number(BigInt.asIntN(32, v >> 32n)),
    ];
    const near53 = fc.bigInt({ min: (1n << 53n) - 4n, max: (1n << 53n) + 4n });
    fc.assert(
      fc.property(fc.oneof(u64, near53), (v) => {
        const out: number[] = [];
        pushU64(out, v);
        expect(out).toEqual(words(v));
      }),
    );
    const top: number[] = [];
    pushU64(top, (1n << 64n) - 1n);
    expect(top).toEqual([-1, -1]);
  });

  it("intCodec refuses what is not a 32-bit integer rather than truncating it", () => {
    expect(() => encodeWith(intCodec, 2 ** 33)).toThrow(RangeError);
    expect(() => encodeWith(intCodec, 1.5)).toThrow(RangeError);
  });
});

describe("the built-in mapping types store their payloads and accepts field by field", () => {
  const phys = fc.record({ paddr: u64, len: u64 });
  it("sgt payloads that differ in any entry's address or length encode apart", () => {
    const arb = fc.record({
      entries: fc.array(
        fc.record({ dmaAddress: fc.constantFrom(0n, 0x1000n), length: fc.constantFrom(1n, 2n) }),
        {
          maxLength: 3,
        },
      ),
    });
    expectFaithful(sgt.payloadCodec, arb, deepSame);
  });

  it("pal, private and kvm-pfn payloads encode every phys_vec, and kvm-pfn its MMIO bit and cache attribute", () => {
    expectFaithful(physVecCodec, phys, deepSame);
    expectFaithful(
      pal.payloadCodec,
      fc.record({ phys: fc.array(phys, { maxLength: 2 }) }),
      deepSame,
    );
    expectFaithful(vfioIommufdPrivate.payloadCodec, fc.record({ phys }), deepSame);
    expectFaithful(
      kvmPfn.payloadCodec,
      fc.record({
        ranges: fc.array(phys, { maxLength: 2 }),
        mmio: fc.boolean(),
        cache: fc.constantFrom<"uncached" | "write-combine" | "write-back">(
          "uncached",
          "write-combine",
          "write-back",
        ),
      }),
      deepSame,
    );
  });

  it("sgt and iommu-domain accepts encode every field", () => {
    expectFaithful(
      sgt.importerDataCodec,
      fc.record({
        device: fc.option(fc.constantFrom("dev0", "dev1"), { nil: null }),
        acceptsP2P: fc.boolean(),
      }),
      deepSame,
    );
    expectFaithful(
      iommuDomain.importerDataCodec,
      fc.record({
        domain: fc.constantFrom("d0", "d1"),
        iova: fc.constantFrom(0n, 0x1000n),
        offset: fc.constantFrom(0n, 0x1000n),
        size: fc.constantFrom(0x1000n, 0x2000n),
        read: fc.boolean(),
        write: fc.boolean(),
      }),
      deepSame,
    );
  });
});
