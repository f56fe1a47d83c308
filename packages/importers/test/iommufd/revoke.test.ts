/**
 * iommufd's revoke (kernel-model §3.5, §7.11): iopt_revoke_notify unmaps
 * every tracked (area, domain) pair and marks the pages revoked for good;
 * the IOVA stays reserved, UNMAP still works, MAP_FILE of the revoked buffer
 * is ENODEV, nothing is ever re-mapped automatically. The selftest
 * dmabuf_revoke (§3.6).
 */
import { describe, expect, it } from "vitest";
import { boot, mustBuf, runScript, step } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
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
  makeMachine,
  mapFile,
  mapFileOk,
  mappingsIn,
  revoke,
  unmapOk,
  unrevoke,
  vfioSetup,
} from "./fixtures.js";

function domainOf(m: Machine, w: World, ioas: number): number {
  const d = iommufdStateOf(m, w).ioas.find((i) => i.id === ioas)?.domains[0];
  if (d === undefined) throw new Error("no domain");
  return d;
}

describe("selftest dmabuf_revoke (kernel-model §3.6)", () => {
  it("map; revoke; map again ENODEV; un-revoke; map ok; unmap the original and re-map it FIXED", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const size = mustBuf(world, buf).size;
    const first = mapFileOk(m, world, { ioas, fd: buf, length: size });
    const revoked = revoke(m, first.world, buf);
    expectErrno(revoked, mapFile(m, revoked, { ioas, fd: buf, length: size }), "ENODEV");
    const back = unrevoke(m, revoked, buf);
    const second = mapFileOk(m, back, { ioas, fd: buf, length: size });
    expect(second.iova).not.toBe(first.iova);
    const gone = unmapOk(m, second.world, ioas, first.iova, size);
    expect(gone.unmapped).toBe(size);
    const again = mapFileOk(m, gone.world, {
      ioas,
      fd: buf,
      length: size,
      iova: first.iova,
      flags: FIXED | RW,
    });
    expect(again.iova).toBe(first.iova);
    expect(dma(m, again.world, "dev1", first.iova).outcome).toBe("ok");
  });
});

describe("iopt_revoke_notify (kernel-model §3.5)", () => {
  it("revoke unmaps every tracked (area, domain) pair and empties the pages' ranges", () => {
    const { m, ...s } = vfioSetup();
    const w0 = attachDevice(m, s.world, "dev0", s.ioas, true);
    const a = mapFileOk(m, w0, { ioas: s.ioas, fd: s.buf, length: 0x2000n });
    const b = mapFileOk(m, a.world, { ioas: s.ioas, fd: s.buf, start: 0x2000n, length: 0x2000n });
    const domains = iommufdStateOf(m, b.world).ioas[0]?.domains ?? [];
    expect(domains).toHaveLength(2);
    const pages = iommufdStateOf(m, b.world).pages.map((p) => p.pages);
    expect(pages.map((p) => (p.kind === "dmabuf" ? p.tracker.length : -1))).toEqual([2, 2]);
    for (const d of domains) expect(mappingsIn(b.world, d)).toBe(2);
    const r = revoke(m, b.world, s.buf);
    for (const d of domains) expect(mappingsIn(r, d)).toBe(0);
    for (const { pages: p } of iommufdStateOf(m, r).pages) {
      expect(p.kind === "dmabuf" ? p.phys : null).toEqual([]);
    }
    expect([...r.grants.values()].filter((g) => g.region === "vfio0.bar0")).toEqual([]);
  });

  it("after revoke device DMA to the area faults in the IOMMU and is never a violation", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    expect(dma(m, mapped.world, "dev1", mapped.iova, "write").outcome).toBe("ok");
    const r = revoke(m, mapped.world, buf);
    const d = dma(m, r, "dev1", mapped.iova, "write");
    expect(d.outcome).toBe("fault");
    expect(d.world.violations.size).toBe(0);
  });

  it("the revoked area's IOVA stays reserved: FIXED over it is EEXIST, the allocator skips it", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = unrevoke(m, revoke(m, mapped.world, buf), buf);
    const over = mapFile(m, r, {
      ioas,
      fd: buf,
      length: PAGE,
      iova: mapped.iova + PAGE,
      flags: FIXED | RW,
    });
    expectErrno(r, over, "EEXIST");
    const fresh = mapFileOk(m, r, { ioas, fd: buf, length: 0x4000n });
    expect(fresh.iova >= mapped.iova + 0x4000n || fresh.iova + 0x4000n <= mapped.iova).toBe(true);
  });

  it("UNMAP of a dead area succeeds, reports its length and detaches the buffer", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m, mapped.world, buf);
    const u = unmapOk(m, r, ioas, mapped.iova, 0x4000n);
    expect(u.unmapped).toBe(0x4000n);
    expect(mustBuf(u.world, buf).attachments).toEqual([]);
    expect(mustBuf(u.world, buf).fileRefs).toBe(1);
    expect(iommufdStateOf(m, u.world).pages).toEqual([]);
  });

  it("MAP_FILE of a revoked buffer is ENODEV and changes nothing", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const r = revoke(m, world, buf);
    expectErrno(r, mapFile(m, r, { ioas, fd: buf, length: 0x4000n }), "ENODEV");
  });

  it("never an automatic re-map: after un-revoke the old area stays dead", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const domain = domainOf(m, mapped.world, ioas);
    const r = unrevoke(m, revoke(m, mapped.world, buf), buf);
    expect(mustBuf(r, buf).revoked).toBe("usable");
    expect(mappingsIn(r, domain)).toBe(0);
    expect(dma(m, r, "dev1", mapped.iova).outcome).toBe("fault");
  });

  it("the un-revoke's invalidate is harmless: iommufd notes it has nothing to do", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m, mapped.world, buf);
    const run = runScript(m, r, [{ kind: "unrevoke", buf, by: "FLR done" }], "vfio0");
    const notes = run.events.filter((e) => e.kind === "note" && e.actor === "iommufd");
    expect(notes.map((n) => (n.kind === "note" ? n.text : ""))).toEqual([
      expect.stringContaining("already revoked: nothing to do"),
    ]);
  });

  it("after un-revoke a new MAP_FILE works while the old area stays dead", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = unrevoke(m, revoke(m, mapped.world, buf), buf);
    const n = mapFileOk(m, r, { ioas, fd: buf, length: 0x4000n });
    expect(dma(m, n.world, "dev1", n.iova).outcome).toBe("ok");
    expect(dma(m, n.world, "dev1", mapped.iova).outcome).toBe("fault");
  });

  it("a new domain attached while revoked maps nothing for the dead area", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m, mapped.world, buf);
    const w = attachDevice(m, r, "dev0", ioas, true);
    const domains = iommufdStateOf(m, w).ioas[0]?.domains ?? [];
    expect(domains).toHaveLength(2);
    for (const d of domains) expect(mappingsIn(w, d)).toBe(0);
    expect(dma(m, w, "dev0", mapped.iova).outcome).toBe("fault");
    const pages = iommufdStateOf(m, w).pages[0]?.pages;
    expect(pages?.kind === "dmabuf" ? pages.tracker.length : -1).toBe(2);
  });

  it("revoking one buffer leaves other areas mapped", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const other = exportVfio(m, world, {
      region: "vfio0.bar0",
      ranges: [{ offset: 0x10000n, length: 0x1000n }],
    });
    const a = mapFileOk(m, other.world, { ioas, fd: buf, length: 0x4000n });
    const b = mapFileOk(m, a.world, { ioas, fd: other.buf, length: 0x1000n });
    const r = revoke(m, b.world, buf);
    expect(dma(m, r, "dev1", a.iova).outcome).toBe("fault");
    expect(dma(m, r, "dev1", b.iova).detail).toBe("vfio0.bar0+0x10000");
  });

  it("at every step of the exporter's revoke, DMA is ok or a fault; a fault from the invalidate on", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const started = step(m, mapped.world, { kind: "revoke", buf, permanent: false, by: "FLR" });
    if (started.status !== "done" || started.created === undefined) throw new Error("no revoke");
    const task = started.created;
    let w = started.world;
    const seen: string[] = [];
    while (w.tasks.get(task) !== undefined) {
      const r = step(m, w, { kind: "task", task });
      if (r.status !== "done") throw new Error(`revoke step ${r.status}`);
      w = r.world;
      const invalidated = r.events.some((e) => e.kind === "invalidate");
      const d = dma(m, w, "dev1", mapped.iova, "write");
      seen.push(`${invalidated ? "invalidate " : ""}${d.outcome}`);
      expect(d.world.violations.size).toBe(0);
    }
    expect(seen).toEqual(["ok", "ok", "invalidate fault", "fault", "fault", "fault"]);
  });

  it("the exporter's wait for unmaps finishes at once: iommufd holds no mapping", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const run = runScript(
      m,
      mapped.world,
      [{ kind: "revoke", buf, permanent: false, by: "FLR" }],
      "vfio0",
    );
    expect(run.events.some((e) => e.kind === "wait" && e.state === "blocked")).toBe(false);
    expect(run.events.some((e) => e.kind === "task" && e.phase === "complete")).toBe(true);
  });

  it("a permanent revoke (device close) kills the area the same way, and un-revoke is refused", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m, mapped.world, buf, true);
    expect(dma(m, r, "dev1", mapped.iova).outcome).toBe("fault");
    expectErrno(r, mapFile(m, r, { ioas, fd: buf, length: 0x4000n }), "ENODEV");
    expect(unmapOk(m, r, ioas, mapped.iova, 0x4000n).unmapped).toBe(0x4000n);
  });

  it("a buffer revoked with no IOAS device attached has nothing to unmap but still dies", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const e = exportVfio(m, a.world);
    const mapped = mapFileOk(m, e.world, { ioas: a.ioas, fd: e.buf, length: 0x4000n });
    const r = revoke(m, mapped.world, e.buf);
    const w = attachDevice(m, r, "dev1", a.ioas);
    expect(dma(m, w, "dev1", mapped.iova).outcome).toBe("fault");
  });
});
