/**
 * iommufd under proposal-converters: the `iommu-domain` type, where dma-buf
 * core maps a PAL exporter's memory into iommufd's domains through the
 * PAL->iommu-domain converter and iommufd never sees a physical address
 * (kernel-model §3.5, §4.4, §7.11).
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { mustBuf, proposalConverters, step } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  PAGE,
  attachDevice,
  attachDeviceStep,
  detachDeviceStep,
  dma,
  mapFile,
  mapFileOk,
  mappingsIn,
  revoke,
  unmapOk,
  unrevoke,
  vfioSetup,
} from "./fixtures.js";
import { expectDmaVerdicts, expectInvariants } from "./invariants.js";

const BAR0 = 0x40_0000_0000n;
const BAR0_END = BAR0 + 0x100_0000n;

/** Every bigint anywhere inside a value. */
function bigints(v: unknown): bigint[] {
  if (typeof v === "bigint") return [v];
  if (Array.isArray(v)) return v.flatMap(bigints);
  if (v !== null && typeof v === "object") return Object.values(v).flatMap(bigints);
  return [];
}

/** The iommufd attachments of a buffer that hold a core mapping. */
function coreMapped(w: World, buf: number): number[] {
  return mustBuf(w, buf).attachments.filter((a) => w.atts.get(a)?.mapping != null);
}

function domainOfDevice(m: Machine, w: World, device: string): number {
  const d = iommufdStateOf(m, w).devices.find((x) => x.device === device)?.domain;
  if (d === undefined) throw new Error(`${device} is not attached`);
  return d;
}

/** dev1 and dev0 on separate domains of one IOAS, and a 16 KiB PAL buffer mapped. */
function twoDomains(): { m: Machine; world: World; ioas: number; buf: number; iova: bigint } {
  const { m, ...s } = vfioSetup(proposalConverters);
  const w = attachDevice(m, s.world, "dev0", s.ioas, true);
  const mapped = mapFileOk(m, w, { ioas: s.ioas, fd: s.buf, length: 0x4000n });
  return { m, world: mapped.world, ioas: s.ioas, buf: s.buf, iova: mapped.iova };
}

describe("proposal-converters: iommufd maps through core (kernel-model §4.4)", () => {
  it("under proposal-converters iommufd never sees the exporter's physical addresses", () => {
    const { m, world, ioas, buf } = vfioSetup(proposalConverters);
    const r = mapFile(m, world, { ioas, fd: buf, length: 0x4000n });
    if (r.status !== "done") throw new Error(`MAP_FILE ${r.status}`);
    const leaked = bigints(iommufdStateOf(m, r.world)).filter((v) => v >= BAR0 && v < BAR0_END);
    expect(leaked).toEqual([]);
    // The trace shows core, not iommufd, mapping into the domain.
    const map = r.events.find((e) => e.kind === "map");
    expect(map).toMatchObject({ importer: "iommufd" });
    expect(map?.kind === "map" ? map.detail : "").toMatch(/^domain \d+ iova /);
    expect(r.events.some((e) => e.kind === "note" && e.text.startsWith("iommu_map area"))).toBe(
      false,
    );
    expect(dma(m, r.world, "dev1", 0n).outcome).not.toBe("violation");
  });

  it("MAP_FILE maps the area into every domain of the IOAS, one core mapping per domain", () => {
    const { m, world, buf, iova } = twoDomains();
    expect(coreMapped(world, buf)).toHaveLength(2);
    expect(dma(m, world, "dev1", iova).detail).toBe("vfio0.bar0+0x0");
    expect(dma(m, world, "dev0", iova + PAGE).detail).toBe("vfio0.bar0+0x1000");
    expectInvariants(m, world);
    expectDmaVerdicts(m, world);
  });

  it("the pages' own attachment holds the pin, so iommufd cannot be asked to follow a move", () => {
    const { m, world, buf } = twoDomains();
    const pages = iommufdStateOf(m, world).pages[0]?.pages;
    const own = pages?.kind === "dmabuf" ? world.atts.get(pages.att) : undefined;
    expect(own).toMatchObject({ pins: 1, mapping: null, converter: "pal->iommu-domain" });
    expect(mustBuf(world, buf).attachments).toHaveLength(3);
  });

  it("revoke of a converted mapping unmaps it from every domain and iommufd never re-maps", () => {
    const { m, world, buf, iova } = twoDomains();
    const domains = ["dev1", "dev0"].map((d) => domainOfDevice(m, world, d));
    const r = revoke(m, world, buf);
    expect(coreMapped(r, buf)).toEqual([]);
    for (const d of domains) expect(mappingsIn(r, d)).toBe(0);
    expect(dma(m, r, "dev1", iova).outcome).toBe("fault");
    expect(dma(m, r, "dev0", iova).outcome).toBe("fault");
    // Un-revoke sends another invalidate; the area stays dead.
    const u = unrevoke(m, r, buf);
    expect(coreMapped(u, buf)).toEqual([]);
    expect(dma(m, u, "dev1", iova).outcome).toBe("fault");
    expect(u.violations.size).toBe(0);
    expectInvariants(m, u);
    expectDmaVerdicts(m, u);
  });

  it("after a revoke userspace recovers with UNMAP + MAP_FILE, which core maps again", () => {
    const { m, world, ioas, buf, iova } = twoDomains();
    const u = unmapOk(m, unrevoke(m, revoke(m, world, buf), buf), ioas, iova, 0x4000n);
    const mapped = mapFileOk(m, u.world, { ioas, fd: buf, length: 0x4000n });
    expect(coreMapped(mapped.world, buf)).toHaveLength(2);
    expect(dma(m, mapped.world, "dev0", mapped.iova).outcome).toBe("ok");
  });

  it("a domain attached after MAP_FILE is filled through core", () => {
    const { m, ...s } = vfioSetup(proposalConverters);
    const mapped = mapFileOk(m, s.world, { ioas: s.ioas, fd: s.buf, length: 0x4000n });
    const r = attachDeviceStep(m, mapped.world, "dev0", s.ioas, true);
    if (r.status !== "done") throw new Error(r.status === "failed" ? r.error.message : r.reason);
    expect(r.events.some((e) => e.kind === "map" && e.importer === "iommufd")).toBe(true);
    expect(coreMapped(r.world, s.buf)).toHaveLength(2);
    expect(dma(m, r.world, "dev0", mapped.iova).outcome).toBe("ok");
    expectInvariants(m, r.world);
  });

  it("attaching a device whose new domain core must fill while another holds the dma-buf's resv sleeps (blocked, never EAGAIN) and runs once the lock is dropped", () => {
    const { m, ...s } = vfioSetup(proposalConverters);
    const mapped = mapFileOk(m, s.world, { ioas: s.ioas, fd: s.buf, length: 0x4000n });
    const locked = step(m, mapped.world, { kind: "lock", buf: s.buf, holder: "someone" });
    if (locked.status !== "done") throw new Error("lock did not run");
    const r = attachDeviceStep(m, locked.world, "dev0", s.ioas, true);
    expect(r.status).toBe("blocked");
    expect(r.world).toBe(locked.world);
    const unlocked = step(m, locked.world, { kind: "unlock", buf: s.buf, holder: "someone" });
    if (unlocked.status !== "done") throw new Error("unlock did not run");
    const again = attachDeviceStep(m, unlocked.world, "dev0", s.ioas, true);
    expect(again.status).toBe("done");
  });

  it("a device joining a domain core filled may DMA, and loses that when it leaves", () => {
    const { m, ...s } = vfioSetup(proposalConverters);
    const mapped = mapFileOk(m, s.world, { ioas: s.ioas, fd: s.buf, length: 0x4000n });
    const joined = attachDevice(m, mapped.world, "dev0", s.ioas);
    expect(coreMapped(joined, s.buf)).toHaveLength(1);
    expect(dma(m, joined, "dev0", mapped.iova).outcome).toBe("ok");
    const left = detachDeviceStep(m, joined, "dev0");
    if (left.status !== "done")
      throw new Error(left.status === "failed" ? left.error.message : left.reason);
    const grants = [...left.world.grants.values()].filter((g) => g.device === "dev0");
    expect(grants).toEqual([]);
    expect(dma(m, left.world, "dev1", mapped.iova).outcome).toBe("ok");
  });

  it("a revoked area fills a domain attached later with nothing, through no core mapping", () => {
    const { m, ...s } = vfioSetup(proposalConverters);
    const mapped = mapFileOk(m, s.world, { ioas: s.ioas, fd: s.buf, length: 0x4000n });
    const r = revoke(m, mapped.world, s.buf);
    const w = attachDevice(m, r, "dev0", s.ioas, true);
    expect(mustBuf(w, s.buf).attachments).toHaveLength(2);
    expect(dma(m, w, "dev0", mapped.iova).outcome).toBe("fault");
    expect(w.violations.size).toBe(0);
  });

  it("UNMAP of a converted area tears down core's mapping", () => {
    const { m, world, ioas, buf, iova } = twoDomains();
    const domains = ["dev1", "dev0"].map((d) => domainOfDevice(m, world, d));
    const u = unmapOk(m, world, ioas, iova, 0x4000n);
    for (const d of domains) expect(mappingsIn(u.world, d)).toBe(0);
    expect(mustBuf(u.world, buf).attachments).toEqual([]);
    expect(mustBuf(u.world, buf).fileRefs).toBe(1);
    expect(dma(m, u.world, "dev1", iova).outcome).toBe("fault");
    expect(u.world.violations.size).toBe(0);
  });

  it("detaching the last device of a domain makes core unmap that domain's pair", () => {
    const { m, world, buf, iova } = twoDomains();
    const d = detachDeviceStep(m, world, "dev0");
    if (d.status !== "done") throw new Error(d.status === "failed" ? d.error.message : d.reason);
    expect(coreMapped(d.world, buf)).toHaveLength(1);
    expect(mustBuf(d.world, buf).attachments).toHaveLength(2);
    expect(dma(m, d.world, "dev1", iova).outcome).toBe("ok");
  });

  it("a write-only MAP_FILE gives a core mapping the device cannot read through", () => {
    const { m, ...s } = vfioSetup(proposalConverters);
    const mapped = mapFileOk(m, s.world, { ioas: s.ioas, fd: s.buf, length: 0x4000n, flags: 2 });
    expect(dma(m, mapped.world, "dev1", mapped.iova, "read").outcome).toBe("fault");
    expect(dma(m, mapped.world, "dev1", mapped.iova, "write").outcome).toBe("ok");
  });
});

describe("a MAP_FILE slice maps exactly its bytes through core (fast-check)", () => {
  test.prop([fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 4 })], { numRuns: 20 })(
    "any page-aligned [start, start + length) of the buffer is what the device reaches",
    (startPage, pages) => {
      fc.pre(startPage + pages <= 4);
      const { m, ...s } = vfioSetup(proposalConverters);
      const start = BigInt(startPage) * PAGE;
      const length = BigInt(pages) * PAGE;
      const mapped = mapFileOk(m, s.world, { ioas: s.ioas, fd: s.buf, start, length });
      for (let k = 0n; k < length; k += PAGE) {
        const r = dma(m, mapped.world, "dev1", mapped.iova + k);
        expect(r.detail).toBe(`vfio0.bar0+0x${(start + k).toString(16)}`);
      }
      expect(dma(m, mapped.world, "dev1", mapped.iova + length).outcome).toBe("fault");
      expect(mapped.world.violations.size).toBe(0);
    },
  );
});
