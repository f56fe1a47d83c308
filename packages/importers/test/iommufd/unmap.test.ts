/**
 * IOMMU_IOAS_UNMAP (kernel-model §3.1): whole areas only; a range with no
 * area or cutting one is ENOENT (the whole areas before the cut are
 * already unmapped); 0..U64_MAX succeeds even when empty;
 * length 0 is EINVAL; dead areas unmap and report their length.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { U64_MAX, boot, mustBuf, runScript } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  FIXED,
  PAGE,
  RW,
  allocIoas,
  dma,
  done,
  expectErrno,
  makeMachine,
  mapFileOk,
  mapUserOk,
  unmap,
  unmapOk,
  vfioSetup,
} from "./fixtures.js";

function areasOf(m: Machine, w: World, ioas: number): { iova: bigint; length: bigint }[] {
  return (iommufdStateOf(m, w).ioas.find((i) => i.id === ioas)?.areas ?? []).map((a) => ({
    iova: a.iova,
    length: a.length,
  }));
}

describe("IOMMU_IOAS_UNMAP rules", () => {
  const m = makeMachine();
  const base = allocIoas(m, boot(m));
  const one = mapUserOk(m, base.world, {
    ioas: base.ioas,
    length: 0x4000n,
    iova: 0x10_0000n,
    flags: FIXED | RW,
  });

  it("a range containing no area is ENOENT", () => {
    expectErrno(one.world, unmap(m, one.world, base.ioas, 0x20_0000n, 0x1000n), "ENOENT");
  });

  it("a range cutting an area is ENOENT and unmaps nothing", () => {
    expectErrno(one.world, unmap(m, one.world, base.ioas, 0x10_0000n, 0x1000n), "ENOENT");
    expectErrno(one.world, unmap(m, one.world, base.ioas, 0x10_1000n, 0x10_0000n), "ENOENT");
  });

  const two = mapUserOk(m, one.world, {
    ioas: base.ioas,
    length: 0x4000n,
    iova: 0x20_0000n,
    flags: FIXED | RW,
  });

  it("a range covering one area wholly and then cutting another is ENOENT after the first area is unmapped (iopt_unmap_iova_range does not undo)", () => {
    const r = unmap(m, two.world, base.ioas, 0x10_0000n, 0x10_1000n);
    expectErrno(two.world, r, "ENOENT");
    if (r.status !== "failed" || r.committed === undefined) throw new Error("nothing committed");
    expect(areasOf(m, r.committed.world, base.ioas)).toEqual([
      { iova: 0x20_0000n, length: 0x4000n },
    ]);
    // No struct is copied back: the ioctl failed.
    expect(r.returned).toBeUndefined();
  });

  it("a range whose first area is cut is ENOENT and changes nothing", () => {
    const r = unmap(m, two.world, base.ioas, 0x10_1000n, 0x20_0000n);
    expectErrno(two.world, r, "ENOENT");
    expect(r.status === "failed" ? r.committed : "not failed").toBeUndefined();
  });

  it("0..U64_MAX unmaps every area and reports the total", () => {
    const two = mapUserOk(m, one.world, {
      ioas: base.ioas,
      length: 0x2000n,
      iova: 0x20_0000n,
      flags: FIXED | RW,
    });
    const u = unmapOk(m, two.world, base.ioas, 0n, U64_MAX);
    expect(u.unmapped).toBe(0x6000n);
    expect(areasOf(m, u.world, base.ioas)).toEqual([]);
  });

  it("0..U64_MAX succeeds on an empty IOAS and reports 0 bytes", () => {
    expect(unmapOk(m, base.world, base.ioas, 0n, U64_MAX).unmapped).toBe(0n);
  });

  it("length 0 is EINVAL", () => {
    expectErrno(one.world, unmap(m, one.world, base.ioas, 0x10_0000n, 0n), "EINVAL");
  });

  it("iova or length >= ULONG_MAX (other than the unmap-all pair) is EOVERFLOW", () => {
    expectErrno(one.world, unmap(m, one.world, base.ioas, 0x1000n, U64_MAX), "EOVERFLOW");
    expectErrno(one.world, unmap(m, one.world, base.ioas, U64_MAX, 1n), "EOVERFLOW");
  });

  it("a range that wraps is EOVERFLOW", () => {
    expectErrno(one.world, unmap(m, one.world, base.ioas, U64_MAX - PAGE, 2n * PAGE), "EOVERFLOW");
  });

  it("an unknown IOAS is ENOENT", () => {
    expectErrno(one.world, unmap(m, one.world, 77, 0n, U64_MAX), "ENOENT");
  });

  it("UNMAP reports the bytes unmapped and the device faults afterwards", () => {
    const u = unmapOk(m, one.world, base.ioas, 0x10_0000n, 0x4000n);
    expect(u.unmapped).toBe(0x4000n);
    expect(dma(m, u.world, "dev1", 0x10_0000n).outcome).toBe("fault");
  });

  it("unmapping a dma-buf area unpins and detaches (iopt_release_pages)", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const u = done(unmap(m, mapped.world, ioas, mapped.iova, 0x4000n));
    expect(mustBuf(u.world, buf).attachments).toEqual([]);
    expect(u.world.atts.size).toBe(0);
    const kinds = u.events.map((e) => e.kind);
    expect(kinds.indexOf("unpin")).toBeLessThan(kinds.indexOf("detach"));
    expect(dma(m, u.world, "dev1", mapped.iova).outcome).toBe("fault");
  });
});

describe("IOMMU_IOAS_UNMAP and the dma-buf's reservation lock", () => {
  it("UNMAP of a dma-buf area sleeps while another holder has resv: blocked, nothing changes", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const held = runScript(m, mapped.world, [
      { kind: "lock", buf, holder: "another importer" },
    ]).world;
    const r = unmap(m, held, ioas, mapped.iova, 0x4000n);
    expect(r.status).toBe("blocked");
    expect(r.status === "blocked" ? r.waitFor : undefined).toBe("resv");
    expect(r.world).toBe(held);
    const freed = runScript(m, held, [{ kind: "unlock", buf, holder: "another importer" }]).world;
    expect(unmapOk(m, freed, ioas, mapped.iova, 0x4000n).unmapped).toBe(0x4000n);
  });

  it("UNMAP of user memory needs no dma-buf lock", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const u = mapUserOk(m, world, { ioas, length: PAGE });
    const held = runScript(m, u.world, [{ kind: "lock", buf, holder: "another importer" }]).world;
    expect(unmap(m, held, ioas, u.iova, PAGE).status).toBe("done");
  });
});

/** Up to 6 areas at page slots 1..63 of a small window, each 1-4 pages. */
const areaSet = fc
  .uniqueArray(
    fc.record({ slot: fc.integer({ min: 1, max: 60 }), pages: fc.integer({ min: 1, max: 4 }) }),
    {
      maxLength: 6,
      selector: (a) => a.slot,
    },
  )
  .map((xs) => {
    const sorted = [...xs].sort((a, b) => a.slot - b.slot);
    const out: { iova: bigint; length: bigint }[] = [];
    let end = 0n;
    for (const x of sorted) {
      const iova = BigInt(x.slot) * PAGE;
      if (iova < end) continue;
      out.push({ iova, length: BigInt(x.pages) * PAGE });
      end = iova + BigInt(x.pages) * PAGE;
    }
    return out;
  });

const rangeArb = fc.record({
  first: fc.integer({ min: 0, max: 70 }),
  pages: fc.integer({ min: 1, max: 30 }),
});

describe("UNMAP over random area sets (fast-check)", () => {
  test.prop([areaSet, rangeArb], { numRuns: 150 })(
    "ENOENT iff the range covers no whole area or cuts one; else exactly the covered areas go",
    (areas, range) => {
      const m = makeMachine();
      let w = allocIoas(m, boot(m)).world;
      for (const a of areas) {
        w = mapUserOk(m, w, { ioas: 1, length: a.length, iova: a.iova, flags: FIXED | RW }).world;
      }
      const start = BigInt(range.first) * PAGE;
      const last = start + BigInt(range.pages) * PAGE - 1n;
      const hit = areas.filter((a) => a.iova <= last && start <= a.iova + a.length - 1n);
      const cuts = hit.some((a) => a.iova < start || a.iova + a.length - 1n > last);
      const r = unmap(m, w, 1, start, last - start + 1n);
      if (hit.length === 0 || cuts) {
        expectErrno(w, r, "ENOENT");
        return;
      }
      expect(r.status).toBe("done");
      if (r.status !== "done") return;
      expect(areasOf(m, r.world, 1)).toEqual(areas.filter((a) => !hit.includes(a)));
    },
  );
});
