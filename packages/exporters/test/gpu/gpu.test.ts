/**
 * The GPU (TTM-like) exporter: offers per profile, moves that invalidate
 * dynamic importers, pinning, and the IOV interconnect (kernel-model §1.1–§1.3, §4.1, §4.4).
 */
import { describe, expect, it } from "vitest";
import {
  exporterOf,
  findProfile,
  linux619,
  linux71,
  mustAtt,
  mustBuf,
  offersOf,
  payloadAs,
  proposalConverters,
  regionNamed,
  rfcMappingTypesV1,
  runScript,
  sgt,
  step,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { gpuPrivOf, iovInterconnect, rfcMappingTypesV1Iov } from "@dmabuf-ref/exporters";
import {
  attach,
  errnoOf,
  evict,
  exportBuf,
  exportRefusal,
  lockedMap,
  makeWorld,
  migrate,
  mustDo,
} from "./setup.js";

function offerIds(m: Machine, w: World, buf: number): string[] {
  return offersOf(m, w, buf).map((o) => o.type.id);
}

function vramBo(m: Machine, w: World): { world: World; buf: number } {
  return exportBuf(m, w, "gpu", "gpu0", { size: 0x10000n, placement: "vram" });
}

function ramBo(m: Machine, w: World): { world: World; buf: number } {
  return exportBuf(m, w, "gpu", "gpu0", { size: 0x10000n, placement: "system" });
}

describe("offers per profile (kernel-model §4.3, §4.4)", () => {
  it("linux-6.19, linux-7.1 and the RFC offer [sgt]: P2P for VRAM, none for system pages", () => {
    for (const profile of [linux619, linux71, rfcMappingTypesV1]) {
      const { m, w } = makeWorld(profile);
      const v = vramBo(m, w);
      const offers = exporterOf(m, mustBuf(v.world, v.buf)).offers(m, v.world, v.buf);
      expect(offers.map((o) => [o.type.id, o.data])).toEqual([
        ["sgt", { requiresP2P: true, p2pDevice: "gpu0" }],
      ]);
      const s = exportBuf(m, v.world, "gpu", "gpu0", { size: 0x1000n, placement: "system" });
      const so = exporterOf(m, mustBuf(s.world, s.buf)).offers(m, s.world, s.buf);
      expect(so.map((o) => [o.type.id, o.data])).toEqual([["sgt", { requiresP2P: false }]]);
    }
  });

  it("proposal-converters offers [pal, kvm-pfn]: core's PAL->SGT converter reaches SGT importers", () => {
    const { m, w } = makeWorld(proposalConverters);
    const v = vramBo(m, w);
    expect(offerIds(m, v.world, v.buf)).toEqual(["pal", "kvm-pfn"]);
    const a = attach(m, v.world, v.buf, "ref-importer", "dev1");
    expect(mustAtt(a.world, a.att).converter).not.toBeNull();
    const mapped = mustDo(lockedMap(m, a.world, v.buf, a.att, "ref-importer"));
    expect(payloadAs(sgt, mustAtt(mapped.world, a.att).mapping?.payload).entries).toHaveLength(1);
  });
});

describe("moves (kernel-model §1.2, §1.3)", () => {
  it("a GPU move invalidates dynamic importers and they may re-map", () => {
    const { m, w: w0 } = makeWorld();
    const v = vramBo(m, w0);
    const a = attach(m, v.world, v.buf, "ref-importer", "dev1");
    const mapped = mustDo(lockedMap(m, a.world, v.buf, a.att, "ref-importer")).world;
    const before = mustAtt(mapped, a.att).mapping;
    const run = runScript(m, mapped, [evict(v.buf)]);
    expect(run.results[0]?.status).toBe("done");
    expect(run.events.some((e) => e.kind === "invalidate")).toBe(true);
    const w = run.world;
    expect(mustBuf(w, v.buf).revoked).toBe("usable");
    expect(mustBuf(w, v.buf).resvHolder).toBeNull();
    expect(gpuPrivOf(w, v.buf).placement).toBe("system");
    expect(mustAtt(w, a.att).mapping).toBeNull();
    const again = mustDo(lockedMap(m, w, v.buf, a.att, "ref-importer")).world;
    const after = mustAtt(again, a.att).mapping;
    expect(after).not.toBeNull();
    // The new mapping reaches the new placement (system RAM), not the old VRAM.
    const reached = (w: World, grants: readonly number[] | undefined): bigint[] =>
      (grants ?? []).map((g) => w.grants.get(g)?.phys ?? -1n);
    expect(reached(again, after?.grants)).not.toEqual(reached(mapped, before?.grants));
    expect(reached(again, after?.grants)[0]).toBe(gpuPrivOf(w, v.buf).phys);
    expect([...again.violations.values()]).toEqual([]);
  });

  it("after eviction, DMA through the old mapping is a fault, never a violation for the reference importer", () => {
    const { m, w: w0 } = makeWorld();
    const v = vramBo(m, w0);
    const a = attach(m, v.world, v.buf, "ref-importer", "dev1");
    const mapped = mustDo(lockedMap(m, a.world, v.buf, a.att, "ref-importer")).world;
    const old = payloadAs(sgt, mustAtt(mapped, a.att).mapping?.payload).entries[0];
    if (old === undefined) throw new Error("no entry");
    const w = runScript(m, mapped, [evict(v.buf)]).world;
    const oldRegion = regionNamed(w, `gpu0.bo${v.buf}.0`);
    expect(oldRegion?.[1].status).toBe("freed");
    const r = mustDo(
      step(m, w, { kind: "dma", device: "dev1", addr: old.dmaAddress, len: 0x10n, dir: "read" }),
    );
    expect(r.world.violations.size).toBe(0);
    expect(r.world).toBe(w);
  });

  it("a move waits for the BOOKKEEP fences before it frees the old placement", () => {
    const { m, w } = makeWorld();
    const v = vramBo(m, w);
    const a = attach(m, v.world, v.buf, "ref-importer", "dev1");
    const holder = `ref-importer#attach ${a.att}`;
    const run = runScript(m, a.world, [
      { kind: "lock", buf: v.buf, holder },
      { kind: "map", att: a.att, holder },
      () => {
        return { kind: "dma-submit", att: a.att, addr: 0n, len: 0x10n, dir: "read", holder };
      },
      { kind: "unlock", buf: v.buf, holder },
      evict(v.buf),
    ]);
    const job = run.results[2]?.created;
    if (job === undefined) throw new Error("no job");
    expect(gpuPrivOf(run.world, v.buf).placement).toBe("vram");
    expect(mustBuf(run.world, v.buf).resvHolder).toMatch(/^gpu0#ttm move/);
    const done = runScript(m, run.world, [{ kind: "signal", job }]).world;
    expect(gpuPrivOf(done, v.buf).placement).toBe("system");
    expect(mustBuf(done, v.buf).resvHolder).toBeNull();
  });

  it("migration brings a system BO back to VRAM", () => {
    const { m, w: w0 } = makeWorld();
    const s = exportBuf(m, w0, "gpu", "gpu0", { size: 0x1000n, placement: "system" });
    const w = runScript(m, s.world, [
      { kind: "driver", driver: "gpu", action: { op: "migrate", buf: s.buf, to: "vram" } },
    ]).world;
    expect(gpuPrivOf(w, s.buf).placement).toBe("vram");
  });
});

describe("pinning (kernel-model §1.1, §1.2)", () => {
  it("eviction of a pinned GPU BO fails with EBUSY (linux-6.19 pins dynamic importers on map)", () => {
    const { m, w } = makeWorld(linux619);
    const v = vramBo(m, w);
    const a = attach(m, v.world, v.buf, "ref-importer", "dev1");
    const mapped = mustDo(lockedMap(m, a.world, v.buf, a.att, "ref-importer")).world;
    expect(mustAtt(mapped, a.att).pins).toBe(1);
    const r = step(m, mapped, evict(v.buf));
    expect(errnoOf(r)).toBe("EBUSY");
    expect(r.world).toBe(mapped);
  });

  it("eviction of a BO mapped by a static importer fails with EBUSY (pin-on-map)", () => {
    const { m, w } = makeWorld();
    const s = exportBuf(m, w, "gpu", "gpu0", { size: 0x1000n, placement: "system" });
    const a = attach(m, s.world, s.buf, "ref-importer", "dev1", false);
    const mapped = mustDo(step(m, a.world, { kind: "map", att: a.att, holder: null })).world;
    const r = step(m, mapped, {
      kind: "driver",
      driver: "gpu",
      action: { op: "migrate", buf: s.buf, to: "vram" },
    });
    expect(errnoOf(r)).toBe("EBUSY");
    expect(r.world).toBe(mapped);
  });

  it("linux-7.1 moves instead of pinning: a dynamic importer's map does not pin", () => {
    const { m, w } = makeWorld(linux71);
    const v = vramBo(m, w);
    const a = attach(m, v.world, v.buf, "ref-importer", "dev1");
    const mapped = mustDo(lockedMap(m, a.world, v.buf, a.att, "ref-importer")).world;
    expect(mustAtt(mapped, a.att).pins).toBe(0);
    expect(errnoOf(step(m, mapped, evict(v.buf)))).toBe("done");
  });
});

describe("bad input returns the kernel's errno and leaves the world unchanged", () => {
  it.each([
    ["evicting an unknown BO fails with ENOENT", { op: "evict", buf: 999 }, "ENOENT"],
    ["an unknown action fails with EINVAL", { op: "frobnicate" }, "EINVAL"],
    ["migrating a BO to where it already is fails with EINVAL", null, "EINVAL"],
    [
      "continuing a move that does not exist fails with EINVAL",
      { op: "continue", id: 12345 },
      "EINVAL",
    ],
  ] as const)("%s", (_rule, action, errno) => {
    const { m, w } = makeWorld();
    const v = vramBo(m, w);
    const r = step(m, v.world, {
      kind: "driver",
      driver: "gpu",
      action: action ?? { op: "migrate", buf: v.buf, to: "vram" },
    });
    expect(errnoOf(r)).toBe(errno);
    expect(r.world).toBe(v.world);
  });

  it("evicting a BO whose resv someone else holds fails with EBUSY and changes nothing", () => {
    const { m, w } = makeWorld();
    const v = vramBo(m, w);
    const locked = mustDo(step(m, v.world, { kind: "lock", buf: v.buf, holder: "someone" })).world;
    const busy = step(m, locked, evict(v.buf));
    expect(errnoOf(busy)).toBe("EBUSY");
    expect(busy.world).toBe(locked);
  });

  it.each([
    [
      "an export for a GPU the driver does not drive fails with ENODEV",
      "gpu9",
      { size: 0x1000n },
      "ENODEV",
    ],
    ["an empty BO fails with EINVAL", "gpu0", { size: 0n }, "EINVAL"],
    ["a size that is not a number fails with EINVAL", "gpu0", { size: "big" }, "EINVAL"],
    ["a BO larger than VRAM fails with ENOMEM", "gpu0", { size: 0x1_0000_0000n }, "ENOMEM"],
  ] as const)("%s", (_rule, owner, args, errno) => {
    expect(exportRefusal("gpu", owner, args)).toBe(errno);
  });

  it("release frees the BO's placement", () => {
    const { m, w: w0 } = makeWorld();
    const v = vramBo(m, w0);
    const w = mustDo(step(m, v.world, { kind: "close", buf: v.buf })).world;
    expect(regionNamed(w, `gpu0.bo${v.buf}.0`)?.[1].status).toBe("freed");
  });
});

describe("the IOV interconnect (kernel-model §4.1), a type defined through the public API", () => {
  const iovProfile = rfcMappingTypesV1Iov;

  it("no built-in profile lists iov-interconnect, so the GPU never offers it there", () => {
    for (const profile of [linux619, linux71, rfcMappingTypesV1, proposalConverters]) {
      const { m, w } = makeWorld(profile, true);
      const v = vramBo(m, w);
      expect(offerIds(m, v.world, v.buf)).not.toContain("iov-interconnect");
    }
  });

  it("under rfc-mapping-types-v1-iov an SR-IOV PF offers it first, and a VF maps VRAM offsets", () => {
    const { m, w } = makeWorld(iovProfile, true);
    const v = vramBo(m, w);
    expect(offerIds(m, v.world, v.buf)).toEqual(["iov-interconnect", "sgt"]);
    const a = attach(m, v.world, v.buf, "iov", "gpu0vf1");
    expect(mustAtt(a.world, a.att).mapType).toBe("iov-interconnect");
    const mapped = mustDo(lockedMap(m, a.world, v.buf, a.att, "iov")).world;
    const p = payloadAs(iovInterconnect, mustAtt(mapped, a.att).mapping?.payload);
    expect(p).toEqual({ pf: "gpu0", ranges: [{ start: 0n, end: 0xffffn }] });
  });

  it("a non-VF importer of the IOV type is skipped: attach fails with EINVAL (no match)", () => {
    const { m, w } = makeWorld(iovProfile, true);
    const v = vramBo(m, w);
    const r = step(m, v.world, {
      kind: "attach",
      buf: v.buf,
      importer: "iov",
      device: "dev1",
      dynamic: true,
    });
    expect(errnoOf(r)).toBe("EINVAL");
    expect(r.world).toBe(v.world);
  });

  it("a GPU without SR-IOV does not offer it", () => {
    const { m, w } = makeWorld(iovProfile, false);
    const v = vramBo(m, w);
    expect(offerIds(m, v.world, v.buf)).toEqual(["sgt"]);
  });

  it("a BO in system pages is not offered over the IOV interconnect, even by an SR-IOV PF", () => {
    const { m, w } = makeWorld(iovProfile, true);
    const v = ramBo(m, w);
    expect(offerIds(m, v.world, v.buf)).toEqual(["sgt"]);
  });

  it("the profile is defined outside core and core's profile registry does not know it", () => {
    expect(findProfile(iovProfile.id)).toBeUndefined();
    expect(iovProfile.mappingTypes).toContain(iovInterconnect);
    expect(iovProfile.rules).toEqual(rfcMappingTypesV1.rules);
  });
});

describe("freed memory is handed out again (finite worlds, DESIGN §2a)", () => {
  it("evicting a BO and validating it back into VRAM twice returns to the world after once", () => {
    const { m, w } = makeWorld();
    const v = vramBo(m, w);
    const phys = gpuPrivOf(v.world, v.buf).phys;
    const once = runScript(m, v.world, [evict(v.buf), migrate(v.buf, "vram")]).world;
    expect(gpuPrivOf(once, v.buf).phys).toBe(phys);
    const twice = runScript(m, once, [evict(v.buf), migrate(v.buf, "vram")]).world;
    expect(worldsEqual(twice, once)).toBe(true);
  });

  it("a BO exported after another was closed takes its freed VRAM", () => {
    const { m, w } = makeWorld();
    const a = vramBo(m, w);
    const phys = gpuPrivOf(a.world, a.buf).phys;
    const closed = mustDo(step(m, a.world, { kind: "close", buf: a.buf })).world;
    const b = vramBo(m, closed);
    expect(gpuPrivOf(b.world, b.buf).phys).toBe(phys);
    expect(worldsEqual(b.world, a.world)).toBe(true);
  });

  it("a move's destination is reserved: an export while it waits does not take it", () => {
    const { m, w } = makeWorld();
    const a = ramBo(m, w);
    const started = mustDo(step(m, a.world, migrate(a.buf, "vram"))).world;
    const b = vramBo(m, started);
    const done = runScript(m, b.world, []).world;
    const bases = [gpuPrivOf(done, a.buf).phys, gpuPrivOf(done, b.buf).phys];
    expect(new Set(bases).size).toBe(2);
  });
});
