/**
 * iopt_alloc_iova (kernel-model §3.1, drivers/iommu/iommufd/io_pagetable.c):
 * the alignment it asks of an automatic IOVA, and where the first fitting
 * hole is, checked against a brute-force scan of small IOVA windows.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import {
  HPAGE_SIZE,
  PAGE_SIZE,
  ULONG_MAX,
  type IovaInterval,
} from "../../src/iommufd/constants.js";
import {
  allocAlignment,
  allocIova,
  roundupPowerOfTwo,
} from "../../src/iommufd/io_pagetable-iova.js";
import { emptyIoas } from "../../src/iommufd/objects.js";
import type { IommufdArea, IommufdIoasObject } from "../../src/iommufd/types.js";

/** An IOAS with these areas (as [iova, length]) and allowed ranges, iova_alignment `alignment`. */
function ioasWith(
  areas: readonly (readonly [bigint, bigint])[],
  allowed: readonly IovaInterval[],
  alignment = 1n,
): IommufdIoasObject {
  const empty = emptyIoas();
  let table = empty.areas;
  areas.forEach(([iova, length], i) => {
    const a = area(iova, length);
    table = table.set(i + 1, a);
  });
  return { ...empty, areas: table, allowed, iovaAlignment: alignment };
}

/**
 * The rule read straight off the kernel, one address at a time: walk the
 * allowed window in order; every maximal run of addresses that no area and
 * no reserved range uses is a hole; the answer is the first hole where
 * `ALIGN(start, align) | page_offset` leaves room for `length` bytes with
 * the candidate below the hole's last byte.
 */
function bruteForce(
  used: readonly IovaInterval[],
  window: IovaInterval,
  align: bigint,
  pageOffset: bigint,
  length: bigint,
): bigint | undefined {
  const isUsed = (x: bigint): boolean => used.some((u) => u.start <= x && x <= u.last);
  const spanStart = ((window.start + align - 1n) / align) * align + 0n;
  const from = spanStart | pageOffset;
  if (from >= window.last || window.last - from < length - 1n) return undefined;
  let x = from;
  while (x <= window.last) {
    if (isUsed(x)) {
      x++;
      continue;
    }
    let last = x;
    while (last + 1n <= window.last && !isUsed(last + 1n)) last++;
    const cand = (((x + align - 1n) / align) * align) | pageOffset;
    if (cand < last && last - cand >= length - 1n) return cand;
    x = last + 1n;
  }
  return undefined;
}

/** A read-write area of one pages object at `iova` (what the allocator must avoid). */
function area(iova: bigint, length: bigint): IommufdArea {
  return { iova, length, pages: 1, offset: 0n, read: true, write: true, grants: [] };
}

describe("the alignment iopt_alloc_iova asks of an automatic IOVA", () => {
  it("a source offset of 0 aligns to roundup_pow_of_two(length), capped at HPAGE_SIZE", () => {
    expect(allocAlignment(0n, 1n)).toBe(1n);
    expect(allocAlignment(0n, 0x3000n)).toBe(0x4000n);
    expect(allocAlignment(0n, 1n << 40n)).toBe(HPAGE_SIZE);
  });

  test.prop([
    fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
    fc.bigInt({ min: 1n, max: 1n << 32n }),
  ])(
    "any source offset: a power of two, at most HPAGE_SIZE and roundup_pow_of_two(length), dividing a non-zero offset",
    (addr, length) => {
      const a = allocAlignment(addr, length);
      expect(a & (a - 1n)).toBe(0n);
      expect(a <= HPAGE_SIZE).toBe(true);
      expect(a <= roundupPowerOfTwo(length)).toBe(true);
      if (addr !== 0n) expect(addr % a).toBe(0n);
      // As large as those bounds allow.
      const bound = [
        HPAGE_SIZE,
        roundupPowerOfTwo(length),
        addr === 0n ? HPAGE_SIZE : addr & -addr,
      ];
      expect(a).toBe(bound.reduce((x, y) => (x < y ? x : y)));
    },
  );
});

describe("iopt_alloc_iova", () => {
  it("length 0 or at least ULONG_MAX/2 is EOVERFLOW", () => {
    const io = ioasWith([], []);
    for (const length of [0n, ULONG_MAX / 2n, ULONG_MAX]) {
      const r = allocIova(io, [], 0n, length);
      expect(r.ok ? "ok" : r.error.errno).toBe("EOVERFLOW");
    }
  });

  it("an alignment below the IOAS's iova_alignment is EINVAL (a 1-byte map once a 4 KiB domain is there)", () => {
    const r = allocIova(ioasWith([], [], PAGE_SIZE), [], 0n, 1n);
    expect(r.ok ? "ok" : r.error.errno).toBe("EINVAL");
  });

  it("IOVA 0 is never returned: the search starts at PAGE_SIZE", () => {
    const r = allocIova(ioasWith([], []), [], 0n, 1n);
    expect(r.ok ? r.value : r.error.errno).toBe(PAGE_SIZE);
  });

  it("lengths 1..8191 map one after the other with no domain, each aligned to its own size", () => {
    let io = ioasWith([], []);
    let slot = 1;
    for (let length = 1n; length < 0x2000n; length += 97n) {
      const r = allocIova(io, [], 0x7f00_0000_0000n, length);
      if (!r.ok) throw new Error(r.error.message);
      expect(r.value % allocAlignment(0x7f00_0000_0000n, length)).toBe(0n);
      io = {
        ...io,
        areas: io.areas.set(slot++, area(r.value, length)),
      };
    }
  });

  it("the source's offset into its page stays in the IOVA's low bits", () => {
    const r = allocIova(ioasWith([], []), [], 0x7f00_0000_0123n, 0x1000n);
    expect(r.ok ? r.value % PAGE_SIZE : r.error.errno).toBe(0x123n);
  });

  it("with allowed ranges the IOVA comes from inside them; none fitting is ENOSPC", () => {
    const allowed = [{ start: 0x10_0000n, last: 0x10_ffffn }];
    const r = allocIova(ioasWith([], allowed), [], 0n, 0x1000n);
    expect(r.ok ? r.value : r.error.errno).toBe(0x10_0000n);
    const full = allocIova(ioasWith([[0x10_0000n, 0x1_0000n]], allowed), [], 0n, 0x1000n);
    expect(full.ok ? full.value : full.error.errno).toBe("ENOSPC");
  });

  const window: IovaInterval = { start: 0x1000n, last: 0x10ffn };
  const areaArb = fc
    .array(fc.tuple(fc.bigInt({ min: 0x1000n, max: 0x10ffn }), fc.bigInt({ min: 1n, max: 24n })), {
      maxLength: 6,
    })
    .map((xs) => {
      // Non-overlapping, as an IOAS's areas are.
      const out: [bigint, bigint][] = [];
      for (const [iova, length] of xs) {
        if (out.every(([a, l]) => iova + length - 1n < a || a + l - 1n < iova)) {
          out.push([iova, length]);
        }
      }
      return out;
    });
  const reservedArb = fc.array(
    fc
      .tuple(fc.bigInt({ min: 0x1000n, max: 0x10ffn }), fc.bigInt({ min: 0n, max: 16n }))
      .map(([start, n]): IovaInterval => ({ start, last: start + n })),
    { maxLength: 2 },
  );

  test.prop([
    areaArb,
    reservedArb,
    fc.bigInt({ min: 0n, max: 0x3fffn }),
    fc.bigInt({ min: 1n, max: 40n }),
  ])(
    "the IOVA is the brute-force scan's: aligned, inside the allowed window, overlapping nothing, never 0; ENOSPC only when no hole fits",
    (areas, reservedRaw, addr, length) => {
      const reserved = [...reservedRaw].sort((a, b) => (a.start < b.start ? -1 : 1));
      const io = ioasWith(areas, [window]);
      const r = allocIova(io, reserved, addr, length);
      const align = allocAlignment(addr, length);
      const used = [
        ...areas.map(([iova, l]) => ({ start: iova, last: iova + l - 1n })),
        ...reserved,
      ];
      const expected = bruteForce(used, window, align, addr % PAGE_SIZE, length);
      if (expected === undefined) {
        expect(r.ok ? r.value : r.error.errno).toBe("ENOSPC");
        return;
      }
      expect(r.ok ? r.value : r.error.errno).toBe(expected);
      if (!r.ok) return;
      expect(r.value).not.toBe(0n);
      expect((r.value - (addr % PAGE_SIZE)) % align).toBe(0n);
      expect(r.value >= window.start && r.value + length - 1n <= window.last).toBe(true);
      const last = r.value + length - 1n;
      expect(used.some((u) => u.start <= last && r.value <= u.last)).toBe(false);
    },
  );
});
