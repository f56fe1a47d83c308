/**
 * iommufd's revoke (kernel-facts §3.5, §7.11): iopt_revoke_notify unmaps
 * every tracked (area, domain) pair and marks the pages revoked for good;
 * the IOVA stays reserved, UNMAP still works, MAP_FILE of the revoked buffer
 * is ENODEV, nothing is ever re-mapped automatically. The selftest
 * dmabuf_revoke (§3.6).
 */
import { describe, expect, it } from "vitest";
import { mustBuf, runScript, step } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  FIXED,
  PAGE,
  RW,
  allocIoas,
  attachDevice,
  dma,
  expectErrno,
  exportVfio,
  makeWorld,
  mapFile,
  mapFileOk,
  mappingsIn,
  revoke,
  unmapOk,
  unrevoke,
  vfioSetup,
} from "./fixtures.js";

function domainOf(w: ReturnType<typeof makeWorld>, ioas: number): number {
  const d = iommufdStateOf(w).ioas.find((i) => i.id === ioas)?.domains[0];
  if (d === undefined) throw new Error("no domain");
  return d;
}

describe("selftest dmabuf_revoke (kernel-facts §3.6)", () => {
  it("map; revoke; map again ENODEV; un-revoke; map ok; unmap the original and re-map it FIXED", () => {
    const { world, ioas, buf } = vfioSetup();
    const size = mustBuf(world, buf).size;
    const first = mapFileOk(world, { ioas, fd: buf, length: size });
    const revoked = revoke(first.world, buf);
    expectErrno(revoked, mapFile(revoked, { ioas, fd: buf, length: size }), "ENODEV");
    const back = unrevoke(revoked, buf);
    const second = mapFileOk(back, { ioas, fd: buf, length: size });
    expect(second.iova).not.toBe(first.iova);
    const gone = unmapOk(second.world, ioas, first.iova, size);
    expect(gone.unmapped).toBe(size);
    const again = mapFileOk(gone.world, {
      ioas,
      fd: buf,
      length: size,
      iova: first.iova,
      flags: FIXED | RW,
    });
    expect(again.iova).toBe(first.iova);
    expect(dma(again.world, "dev1", first.iova).outcome).toBe("ok");
  });
});

describe("iopt_revoke_notify (kernel-facts §3.5)", () => {
  it("revoke unmaps every tracked (area, domain) pair and empties the pages' ranges", () => {
    const s = vfioSetup();
    const w0 = attachDevice(s.world, "dev0", s.ioas, true);
    const a = mapFileOk(w0, { ioas: s.ioas, fd: s.buf, length: 0x2000n });
    const b = mapFileOk(a.world, { ioas: s.ioas, fd: s.buf, start: 0x2000n, length: 0x2000n });
    const domains = iommufdStateOf(b.world).ioas[0]?.domains ?? [];
    expect(domains).toHaveLength(2);
    const pages = iommufdStateOf(b.world).pages.map((p) => p.pages);
    expect(pages.map((p) => (p.kind === "dmabuf" ? p.tracker.length : -1))).toEqual([2, 2]);
    for (const d of domains) expect(mappingsIn(b.world, d)).toBe(2);
    const r = revoke(b.world, s.buf);
    for (const d of domains) expect(mappingsIn(r, d)).toBe(0);
    for (const { pages: p } of iommufdStateOf(r).pages) {
      expect(p.kind === "dmabuf" ? p.phys : null).toEqual([]);
    }
    expect([...r.grants.values()].filter((g) => g.region === "vfio0.bar0")).toEqual([]);
  });

  it("after revoke device DMA to the area faults in the IOMMU and is never a violation", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    expect(dma(m.world, "dev1", m.iova, "write").outcome).toBe("ok");
    const r = revoke(m.world, buf);
    const d = dma(r, "dev1", m.iova, "write");
    expect(d.outcome).toBe("fault");
    expect(d.world.violations.size).toBe(0);
  });

  it("the revoked area's IOVA stays reserved: FIXED over it is EEXIST, the allocator skips it", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const r = unrevoke(revoke(m.world, buf), buf);
    const over = mapFile(r, {
      ioas,
      fd: buf,
      length: PAGE,
      iova: m.iova + PAGE,
      flags: FIXED | RW,
    });
    expectErrno(r, over, "EEXIST");
    const fresh = mapFileOk(r, { ioas, fd: buf, length: 0x4000n });
    expect(fresh.iova >= m.iova + 0x4000n || fresh.iova + 0x4000n <= m.iova).toBe(true);
  });

  it("UNMAP of a dead area succeeds, reports its length and detaches the buffer", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m.world, buf);
    const u = unmapOk(r, ioas, m.iova, 0x4000n);
    expect(u.unmapped).toBe(0x4000n);
    expect(mustBuf(u.world, buf).attachments).toEqual([]);
    expect(mustBuf(u.world, buf).fileRefs).toBe(1);
    expect(iommufdStateOf(u.world).pages).toEqual([]);
  });

  it("MAP_FILE of a revoked buffer is ENODEV and changes nothing", () => {
    const { world, ioas, buf } = vfioSetup();
    const r = revoke(world, buf);
    expectErrno(r, mapFile(r, { ioas, fd: buf, length: 0x4000n }), "ENODEV");
  });

  it("never an automatic re-map: after un-revoke the old area stays dead", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const domain = domainOf(m.world, ioas);
    const r = unrevoke(revoke(m.world, buf), buf);
    expect(mustBuf(r, buf).revoked).toBe("usable");
    expect(mappingsIn(r, domain)).toBe(0);
    expect(dma(r, "dev1", m.iova).outcome).toBe("fault");
  });

  it("the un-revoke's invalidate is harmless: iommufd notes it has nothing to do", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m.world, buf);
    const run = runScript(r, [{ kind: "unrevoke", buf, by: "FLR done" }], "vfio0");
    const notes = run.events.filter((e) => e.kind === "note" && e.actor === "iommufd");
    expect(notes.map((n) => (n.kind === "note" ? n.text : ""))).toEqual([
      expect.stringContaining("already revoked: nothing to do"),
    ]);
  });

  it("after un-revoke a new MAP_FILE works while the old area stays dead", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const r = unrevoke(revoke(m.world, buf), buf);
    const n = mapFileOk(r, { ioas, fd: buf, length: 0x4000n });
    expect(dma(n.world, "dev1", n.iova).outcome).toBe("ok");
    expect(dma(n.world, "dev1", m.iova).outcome).toBe("fault");
  });

  it("a new domain attached while revoked maps nothing for the dead area", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m.world, buf);
    const w = attachDevice(r, "dev0", ioas, true);
    const domains = iommufdStateOf(w).ioas[0]?.domains ?? [];
    expect(domains).toHaveLength(2);
    for (const d of domains) expect(mappingsIn(w, d)).toBe(0);
    expect(dma(w, "dev0", m.iova).outcome).toBe("fault");
    const pages = iommufdStateOf(w).pages[0]?.pages;
    expect(pages?.kind === "dmabuf" ? pages.tracker.length : -1).toBe(2);
  });

  it("revoking one buffer leaves other areas mapped", () => {
    const { world, ioas, buf } = vfioSetup();
    const other = exportVfio(world, {
      region: "vfio0.bar0",
      ranges: [{ offset: 0x10000n, length: 0x1000n }],
    });
    const a = mapFileOk(other.world, { ioas, fd: buf, length: 0x4000n });
    const b = mapFileOk(a.world, { ioas, fd: other.buf, length: 0x1000n });
    const r = revoke(b.world, buf);
    expect(dma(r, "dev1", a.iova).outcome).toBe("fault");
    expect(dma(r, "dev1", b.iova).detail).toBe("vfio0.bar0+0x10000");
  });

  it("at every step of the exporter's revoke, DMA is ok or a fault; a fault from the invalidate on", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const started = step(m.world, { kind: "revoke", buf, permanent: false, by: "FLR" });
    if (started.status !== "done" || started.created === undefined) throw new Error("no revoke");
    const task = started.created;
    let w = started.world;
    const seen: string[] = [];
    while (w.tasks.get(task) !== undefined) {
      const r = step(w, { kind: "task", task });
      if (r.status !== "done") throw new Error(`revoke step ${r.status}`);
      w = r.world;
      const invalidated = r.events.some((e) => e.kind === "invalidate");
      const d = dma(w, "dev1", m.iova, "write");
      seen.push(`${invalidated ? "invalidate " : ""}${d.outcome}`);
      expect(d.world.violations.size).toBe(0);
    }
    expect(seen).toEqual(["ok", "ok", "invalidate fault", "fault", "fault", "fault"]);
  });

  it("the exporter's wait for unmaps finishes at once: iommufd holds no mapping", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const run = runScript(m.world, [{ kind: "revoke", buf, permanent: false, by: "FLR" }], "vfio0");
    expect(run.events.some((e) => e.kind === "wait" && e.state === "blocked")).toBe(false);
    expect(run.events.some((e) => e.kind === "task" && e.phase === "complete")).toBe(true);
  });

  it("a permanent revoke (device close) kills the area the same way, and un-revoke is refused", () => {
    const { world, ioas, buf } = vfioSetup();
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m.world, buf, true);
    expect(dma(r, "dev1", m.iova).outcome).toBe("fault");
    expectErrno(r, mapFile(r, { ioas, fd: buf, length: 0x4000n }), "ENODEV");
    expect(unmapOk(r, ioas, m.iova, 0x4000n).unmapped).toBe(0x4000n);
  });

  it("a buffer revoked with no IOAS device attached has nothing to unmap but still dies", () => {
    const a = allocIoas(makeWorld());
    const e = exportVfio(a.world);
    const m = mapFileOk(e.world, { ioas: a.ioas, fd: e.buf, length: 0x4000n });
    const r = revoke(m.world, e.buf);
    const w = attachDevice(r, "dev1", a.ioas);
    expect(dma(w, "dev1", m.iova).outcome).toBe("fault");
  });
});
