/**
 * The RDMA uverbs DMABUF exporter (kernel-model §5.2, mirroring VFIO §2.3):
 * P2P only, pin always EOPNOTSUPP, ENODEV once revoked, revoke on mmap
 * entry removal waiting for unmaps.
 */
import { describe, expect, it } from "vitest";
import {
  exporterOf,
  linux619,
  linux71,
  mustAtt,
  mustBuf,
  proposalConverters,
  rfcMappingTypesV1,
  runScript,
  step,
} from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { rdmaPrivOf } from "@dmabuf-ref/exporters";
import {
  NIC_BAR,
  attach,
  errnoOf,
  exportBuf,
  exportRefusal,
  lockedMap,
  makeWorld,
  mustDo,
} from "../gpu/setup.js";

function nicBuf(m: Machine, w: World): { world: World; buf: number } {
  return exportBuf(m, w, "rdma", "nic0", { size: 0x10000n, offset: 0x1000n });
}

const remove = (buf: number): { kind: "driver"; driver: string; action: unknown } => ({
  kind: "driver",
  driver: "rdma",
  action: { op: "remove-mmap-entry", buf },
});

describe("offers per profile (kernel-model §4.3, §4.4, §5.2)", () => {
  it("[sgt requiring P2P] without converters, [pal] under proposal-converters", () => {
    for (const profile of [linux619, linux71, rfcMappingTypesV1]) {
      const { m, w } = makeWorld(profile);
      const e = nicBuf(m, w);
      const offers = exporterOf(m, mustBuf(e.world, e.buf)).offers(m, e.world, e.buf);
      expect(offers.map((o) => [o.type.id, o.data])).toEqual([
        ["sgt", { requiresP2P: true, p2pDevice: "nic0" }],
      ]);
    }
    const { m, w } = makeWorld(proposalConverters);
    const e = nicBuf(m, w);
    const offers = exporterOf(m, mustBuf(e.world, e.buf)).offers(m, e.world, e.buf);
    expect(offers.map((o) => [o.type.id, o.data])).toEqual([["pal", { provider: "nic0" }]]);
  });

  it("the buffer is one phys range in the NIC BAR", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    expect(rdmaPrivOf(e.world, e.buf)).toEqual({
      nic: "nic0",
      phys: NIC_BAR + 0x1000n,
      len: 0x10000n,
      mmapEntry: true,
    });
  });
});

describe("attach, pin and map (kernel-model §5.2)", () => {
  it("a static (non-P2P) importer's attach fails with EOPNOTSUPP", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const r = step(m, e.world, {
      kind: "attach",
      buf: e.buf,
      importer: "ref-importer",
      device: "dev1",
      dynamic: false,
    });
    expect(errnoOf(r)).toBe("EOPNOTSUPP");
    expect(r.world).toBe(e.world);
  });

  it("RDMA dmabuf pin always fails with EOPNOTSUPP", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const a = attach(m, e.world, e.buf, "pinned", "dev1");
    const holder = "pinned#attach";
    const locked = mustDo(step(m, a.world, { kind: "lock", buf: e.buf, holder })).world;
    const r = step(m, locked, { kind: "pin", att: a.att, holder });
    expect(errnoOf(r)).toBe("EOPNOTSUPP");
    expect(r.world).toBe(locked);
  });

  it("under linux-6.19 a dynamic importer's map pins first and so fails with EOPNOTSUPP", () => {
    const { m, w } = makeWorld(linux619);
    const e = nicBuf(m, w);
    const a = attach(m, e.world, e.buf, "ref-importer", "dev1");
    expect(errnoOf(lockedMap(m, a.world, e.buf, a.att, "ref-importer"))).toBe("EOPNOTSUPP");
  });

  it("map via dmaMapRanges: bus address below the same switch, IOVA through the host bridge", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const a0 = attach(m, e.world, e.buf, "ref-importer", "dev0");
    const m0 = mustDo(lockedMap(m, a0.world, e.buf, a0.att, "ref-importer")).world;
    expect(mustAtt(m0, a0.att).mapping?.iova).toEqual([]);
    const a1 = attach(m, m0, e.buf, "ref-importer", "dev1");
    const m1 = mustDo(lockedMap(m, a1.world, e.buf, a1.att, "ref-importer")).world;
    expect(mustAtt(m1, a1.att).mapping?.iova).toHaveLength(1);
  });

  it("map for a device that is not P2P reachable fails with EINVAL", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const a = attach(m, e.world, e.buf, "ref-importer", "dev3");
    const holder = "ref-importer#attach";
    const locked = mustDo(step(m, a.world, { kind: "lock", buf: e.buf, holder })).world;
    const r = step(m, locked, { kind: "map", att: a.att, holder });
    expect(errnoOf(r)).toBe("EINVAL");
    expect(r.world).toBe(locked);
  });
});

describe("revoke on mmap entry removal (kernel-model §1.3, §5.2)", () => {
  it("map of a revoked RDMA dmabuf fails with ENODEV", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const a = attach(m, e.world, e.buf, "ref-importer", "dev1");
    const run = runScript(m, a.world, [remove(e.buf)]);
    expect(run.results[0]?.status).toBe("done");
    expect(mustBuf(run.world, e.buf).revoked).toBe("permanent");
    const holder = "ref-importer#attach";
    const locked = mustDo(step(m, run.world, { kind: "lock", buf: e.buf, holder })).world;
    const r = step(m, locked, { kind: "map", att: a.att, holder });
    expect(errnoOf(r)).toBe("ENODEV");
    expect(r.world).toBe(locked);
  });

  it("the revoke waits for every unmap; the reference importer unmaps and it completes", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const a = attach(m, e.world, e.buf, "ref-importer", "dev1");
    const mapped = mustDo(lockedMap(m, a.world, e.buf, a.att, "ref-importer")).world;
    const run = runScript(m, mapped, [remove(e.buf)]);
    expect(mustAtt(run.world, a.att).mapping).toBeNull();
    expect(run.world.tasks.size).toBe(0);
    expect(run.events.some((e2) => e2.kind === "wait" && e2.what === "unmaps")).toBe(true);
    expect(run.world.violations.size).toBe(0);
  });

  it("the revoke stays blocked while an importer without invalidate keeps its mapping", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const a = attach(m, e.world, e.buf, "pinned", "dev1");
    const mapped = mustDo(lockedMap(m, a.world, e.buf, a.att, "pinned")).world;
    const run = runScript(m, mapped, [remove(e.buf)]);
    expect(run.world.tasks.size).toBe(1);
    const done = runScript(m, run.world, [
      { kind: "lock", buf: e.buf, holder: "pinned#x" },
      { kind: "unmap", att: a.att, holder: "pinned#x" },
      { kind: "unlock", buf: e.buf, holder: "pinned#x" },
    ]).world;
    expect(done.tasks.size).toBe(0);
  });
});

describe("bad input returns the kernel's errno and leaves the world unchanged", () => {
  it.each([
    ["removing the mmap entry of an unknown buffer fails with ENOENT", 999, "ENOENT"],
    ["an unknown action fails with EINVAL", null, "EINVAL"],
  ] as const)("%s", (_rule, buf, errno) => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const action = buf === null ? { op: "nope" } : { op: "remove-mmap-entry", buf };
    const r = step(m, e.world, { kind: "driver", driver: "rdma", action });
    expect(errnoOf(r)).toBe(errno);
    expect(r.world).toBe(e.world);
  });

  it("removing an mmap entry twice fails with ENOENT the second time", () => {
    const { m, w } = makeWorld();
    const e = nicBuf(m, w);
    const gone = runScript(m, e.world, [remove(e.buf)]).world;
    const r = step(m, gone, { kind: "driver", driver: "rdma", action: remove(e.buf).action });
    expect(errnoOf(r)).toBe("ENOENT");
    expect(r.world).toBe(gone);
  });

  it.each([
    [
      "an export for a NIC the driver does not drive fails with ENODEV",
      "nic9",
      { size: 0x1000n },
      "ENODEV",
    ],
    ["an empty export fails with EINVAL", "nic0", { size: 0n }, "EINVAL"],
    ["an export that is not whole pages fails with EINVAL", "nic0", { size: 0x1001n }, "EINVAL"],
    [
      "an export at an unaligned offset fails with EINVAL",
      "nic0",
      { size: 0x1000n, offset: 0x10n },
      "EINVAL",
    ],
    [
      "an export past the BAR's end fails with EINVAL",
      "nic0",
      { size: 0x1000n, offset: 0x10_0000n },
      "EINVAL",
    ],
    ["an export without a size fails with EINVAL", "nic0", {}, "EINVAL"],
  ] as const)("%s", (_rule, owner, args, errno) => {
    expect(exportRefusal("rdma", owner, args)).toBe(errno);
  });
});
