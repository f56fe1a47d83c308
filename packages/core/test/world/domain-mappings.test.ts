/**
 * An IOMMU domain's mappings (`DomainMappings`) are a set of non-overlapping
 * ranges keyed by first IOVA: equal and equally hashed whatever order they
 * were mapped in, hashed as a table of the same mappings would be (so world
 * hashes do not depend on how the domain stores them), and found by any
 * byte they translate.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DomainMappings, emptyDomain } from "@dmabuf-ref/core";
import type { IommuMapping } from "@dmabuf-ref/core";
import {
  PTable,
  domainCodec,
  equalWith,
  hashWith,
  iommuMappingCodec,
} from "@dmabuf-ref/core/encoding";

const PAGE = 0x1000n;

/** Mapping i: page slot i (1..4 pages long, so ranges of distinct slots never overlap). */
function mapping(slot: number, pages: number, phys: number, write: boolean): IommuMapping {
  return {
    iova: 0x1000_0000n + BigInt(slot) * 4n * PAGE,
    len: BigInt(pages) * PAGE,
    phys: 0x1_0000_0000n + BigInt(phys) * PAGE,
    read: true,
    write,
  };
}

const arbMapping = fc
  .tuple(
    fc.integer({ min: 0, max: 3000 }),
    fc.integer({ min: 1, max: 4 }),
    fc.integer({ min: 0, max: 50 }),
    fc.boolean(),
  )
  .map(([slot, pages, phys, write]) => mapping(slot, pages, phys, write));

/** Distinct slots, so the set never overlaps. */
const arbSet = fc.uniqueArray(arbMapping, { selector: (m) => m.iova, maxLength: 400 });

function mapAll(ms: readonly IommuMapping[]): DomainMappings {
  return ms.reduce((d, m) => d.add(m), DomainMappings.EMPTY);
}

function domainOf(mappings: DomainMappings) {
  return { ...emptyDomain(), mappings };
}

describe("an IOMMU domain's mappings are a set of ranges", () => {
  it("mapping the same ranges in any order gives equal domains with equal hashes", () => {
    fc.assert(
      fc.property(arbSet, fc.integer(), (ms, seed) => {
        const shuffled = [...ms].sort(
          (a, b) =>
            Number((a.iova * BigInt(seed | 1)) % 97n) - Number((b.iova * BigInt(seed | 1)) % 97n),
        );
        const a = domainOf(mapAll(ms));
        const b = domainOf(mapAll(shuffled));
        expect(equalWith(domainCodec, a, b)).toBe(true);
        expect(hashWith(domainCodec, a)).toBe(hashWith(domainCodec, b));
      }),
      { numRuns: 100 },
    );
  });

  it("hashes its mappings as a table of the same mappings would (values-only lanes)", () => {
    fc.assert(
      fc.property(arbSet, (ms) => {
        const d = mapAll(ms);
        const t = ms.reduce((x, m, i) => x.set(i + 1, m), PTable.empty(iommuMappingCodec));
        expect(d.size).toBe(t.size);
        expect(d.valuesHash).toBe(t.valuesHash);
        expect(d.valuesHash2).toBe(t.valuesHash2);
      }),
      { numRuns: 100 },
    );
  });

  it("mapping then unmapping a range gives back an equal set; a different permission or address is not equal", () => {
    fc.assert(
      fc.property(arbSet, fc.nat(), (ms, pick) => {
        fc.pre(ms.length > 0);
        const m = ms[pick % ms.length] as IommuMapping;
        const rest = ms.filter((x) => x !== m);
        const all = mapAll(ms);
        expect(all.remove(m.iova).equals(mapAll(rest))).toBe(true);
        expect(all.remove(m.iova).add(m).equals(all)).toBe(true);
        const flipped = all.remove(m.iova).add({ ...m, write: !m.write });
        expect(flipped.equals(all)).toBe(false);
        const moved = all.remove(m.iova).add({ ...m, phys: m.phys + PAGE * 1000n });
        expect(moved.equals(all)).toBe(false);
        // iommu_unmap of exactly what was mapped removes it; of another length, nothing.
        expect(all.removeExact(m.iova, m.len).equals(mapAll(rest))).toBe(true);
        expect(all.removeExact(m.iova, m.len + PAGE)).toBe(all);
      }),
      { numRuns: 100 },
    );
  });

  it("every mapping is found at its first IOVA, by each byte it covers, and as the overlap of its range; holes find nothing", () => {
    fc.assert(
      fc.property(arbSet, (ms) => {
        const d = mapAll(ms);
        expect([...d.values()].map((m) => m.iova)).toEqual(
          ms.map((m) => m.iova).sort((a, b) => (a < b ? -1 : 1)),
        );
        for (const m of ms) {
          expect(d.at(m.iova)).toBe(m);
          expect(d.covering(m.iova, m.len)).toBe(m);
          expect(d.covering(m.iova + m.len - 1n, 1n)).toBe(m);
          expect(d.covering(m.iova, m.len + 1n)).toBe(undefined);
          expect(d.overlapping(m.iova + m.len - 1n, 0x10000n)).toBe(m);
          // The last page of a 4-page slot is never mapped by a shorter range.
          if (m.len < 4n * PAGE) expect(d.covering(m.iova + 3n * PAGE, 1n)).toBe(undefined);
        }
        expect(d.remove(0x42n)).toBe(d);
      }),
      { numRuns: 60 },
    );
  });
});
