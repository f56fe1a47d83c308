/**
 * Matt Evans' series v4 (kernel-model §2.6): VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE
 * (13) and _MEMATTR (14), and the three buffer states OK / TEMP_REVOKED /
 * PERM_REVOKED. Profiles without the series answer both features ENOTTY.
 */
import { describe, expect, it } from "vitest";
import { fc } from "@fast-check/vitest";
import {
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  importerHolder,
  linux619,
  linux710,
  linux71,
  linux72,
  proposalConverters,
  proposalVfioDmabufMmap,
  rfcMappingTypesV1,
  runScript,
  settle,
  step,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import {
  VFIO_DMABUF_MEMATTR_NC,
  VFIO_DMABUF_MEMATTR_WC,
  encodeDmaBufMemattrFeature,
  encodeDmaBufRevokeFeature,
  vfioVmas,
} from "@dmabuf-ref/exporters";
import {
  actOnce,
  attachMapped,
  dmaOutcomes,
  exportVfio,
  featureIoctl,
  makeWorld,
  revokedOf,
  runActs,
} from "./setup.js";

const SERIES = proposalVfioDmabufMmap;

function revokeIoctl(m: Machine, w: World, fd: number, device = "vfio0"): StepOutcome {
  return featureIoctl(
    m,
    w,
    encodeDmaBufRevokeFeature({ flags: VFIO_DEVICE_FEATURE_SET, dmabuf_fd: fd }),
    device,
  );
}

function memattrIoctl(
  m: Machine,
  w: World,
  fd: number,
  memattr: number,
  device = "vfio0",
): StepOutcome {
  return featureIoctl(
    m,
    w,
    encodeDmaBufMemattrFeature({ flags: VFIO_DEVICE_FEATURE_SET, dmabuf_fd: fd, memattr }),
    device,
  );
}

const kinds = (events: readonly TraceEvent[], kind: TraceEvent["kind"]): TraceEvent[] =>
  events.filter((e) => e.kind === kind);

/** The series' world: vfio0 exports one buffer, mapped by the reference importer for dev1. */
function mapped(m: Machine, w0: World): { world: World; buf: number; att: number } {
  const e = exportVfio(m, w0);
  const a = attachMapped(m, e.world, e.buf, "dev1");
  return { world: a.world, buf: e.buf, att: a.att };
}

function expectFailed(r: StepOutcome, errno: string, world: World): void {
  expect(r).toMatchObject({ status: "failed", error: { errno } });
  expect(r.world).toBe(world);
}

describe.each([linux619, linux710, linux71, linux72, rfcMappingTypesV1, proposalConverters])(
  "without Matt Evans' series ($id)",
  (profile) => {
    it("DMA_BUF_REVOKE (13) and DMA_BUF_MEMATTR (14) are unknown features: ENOTTY, nothing changes", () => {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      expectFailed(revokeIoctl(m, e.world, e.buf), "ENOTTY", e.world);
      expectFailed(memattrIoctl(m, e.world, e.buf, VFIO_DMABUF_MEMATTR_WC), "ENOTTY", e.world);
      expect(revokedOf(e.world, e.buf)).toBe("usable");
    });
  },
);

describe("VFIO_DEVICE_FEATURE_DMA_BUF_REVOKE (13) under proposal-vfio-dmabuf-mmap", () => {
  it("GET fails with EINVAL and a payload shorter than { s32 dmabuf_fd } fails with EINVAL", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w);
    const get = encodeDmaBufRevokeFeature({ flags: VFIO_DEVICE_FEATURE_GET, dmabuf_fd: e.buf });
    expectFailed(featureIoctl(m, e.world, get), "EINVAL", e.world);
    const short = encodeDmaBufRevokeFeature({
      flags: VFIO_DEVICE_FEATURE_SET,
      dmabuf_fd: e.buf,
      argsz: 8 + 3,
    });
    expectFailed(featureIoctl(m, e.world, short), "EINVAL", e.world);
  });

  it("PROBE of SET returns 0 and revokes nothing", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w);
    const probe = encodeDmaBufRevokeFeature({
      flags: VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE,
      dmabuf_fd: e.buf,
    });
    const r = featureIoctl(m, e.world, probe);
    expect(r).toMatchObject({ status: "done", returned: { ret: 0 } });
    expect(revokedOf(r.world, e.buf)).toBe("usable");
  });

  it("an fd that names no open dma-buf fails with EBADF", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w);
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).filter((fd) => fd !== e.buf),
        (fd) => {
          expectFailed(revokeIoctl(m, e.world, fd), "EBADF", e.world);
        },
      ),
      { numRuns: 50 },
    );
    const closed = runScript(m, e.world, [{ kind: "close", buf: e.buf }]).world;
    expectFailed(revokeIoctl(m, closed, e.buf), "EBADF", closed);
  });

  it("a dma-buf another device exported fails with ENODEV", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const other = exportVfio(m, w, [{ offset: 0n, length: 0x1000n }], "vfio1");
    expectFailed(revokeIoctl(m, other.world, other.buf, "vfio0"), "ENODEV", other.world);
    expect(revokedOf(other.world, other.buf)).toBe("usable");
  });

  it("success revokes the buffer for good: attach, map and mmap fail with ENODEV and no un-revoke brings it back", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const mb = mapped(m, w);
    const ioctl = revokeIoctl(m, mb.world, mb.buf);
    if (ioctl.status !== "done") throw new Error(`revoke ${ioctl.status}`);
    expect(ioctl.returned?.ret).toBe(0);
    // The importer's worker drops resv after its unmap, as the replay lets it.
    const r = settle(m, ioctl.world);
    expect(revokedOf(r.world, mb.buf)).toBe("permanent");
    const attach = step(m, r.world, {
      kind: "attach",
      buf: mb.buf,
      importer: "ref-importer",
      device: "dev1",
      dynamic: true,
    });
    expect(attach).toMatchObject({ status: "failed", error: { errno: "ENODEV" } });
    const map = runScript(m, r.world, [
      { kind: "lock", buf: mb.buf, holder: "x" },
      { kind: "map", att: mb.att, holder: "x" },
    ]);
    expect(map.results[1]?.error?.errno).toBe("ENODEV");
    const mm = actOnce(m, r.world, { op: "mmap", process: "client", buf: mb.buf });
    expect(mm).toMatchObject({ status: "failed", error: { errno: "ENODEV" } });
    const cycled = runActs(m, r.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      { op: "config-write-command", device: "vfio0", memory: true },
      { op: "flr", device: "vfio0" },
    ]);
    expect(revokedOf(cycled.world, mb.buf)).toBe("permanent");
  });

  it("a buffer already PERM_REVOKED fails with EBADFD", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w);
    const once = revokeIoctl(m, e.world, e.buf);
    if (once.status !== "done") throw new Error("first revoke failed");
    const over = settle(m, once.world).world;
    expectFailed(revokeIoctl(m, over, e.buf), "EBADFD", over);
  });

  it("a second REVOKE while the first one's revoke runs sleeps on memory_lock, then fails with EBADFD", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const mb = mapped(m, w);
    const once = revokeIoctl(m, mb.world, mb.buf);
    if (once.status !== "done") throw new Error(`revoke ${once.status}`);
    const again = revokeIoctl(m, once.world, mb.buf);
    expect(again).toMatchObject({ status: "blocked", waitFor: "lock" });
    expect(again.world).toBe(once.world);
    const over = settle(m, once.world).world;
    expectFailed(revokeIoctl(m, over, mb.buf), "EBADFD", over);
  });

  it("the ioctl starts core's revoke task and returns 0 once it is over: invalidate, unmap, then the task completes", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const mb = mapped(m, w);
    const r = revokeIoctl(m, mb.world, mb.buf);
    if (r.status !== "done") throw new Error(`revoke ${r.status}`);
    expect(r.returned?.ret).toBe(0);
    expect(r.created).toBeDefined();
    const task = r.created ?? -1;
    expect(r.world.tasks.get(task)).toMatchObject({ kind: "revoke", buf: mb.buf, permanent: true });
    // Nothing of the revoke ran inside the ioctl's own step.
    expect(kinds(r.events, "invalidate")).toEqual([]);
    expect(revokedOf(r.world, mb.buf)).toBe("usable");
    const s = settle(m, r.world);
    const order = s.events.flatMap((e) =>
      e.kind === "invalidate" || e.kind === "unmap" || (e.kind === "task" && e.phase === "complete")
        ? [e.kind]
        : [],
    );
    expect(order).toEqual(["invalidate", "unmap", "task"]);
    expect(s.world.tasks.get(task)).toBeUndefined();
    expect(s.world.atts.get(mb.att)?.mapping ?? null).toBeNull();
    expect(revokedOf(s.world, mb.buf)).toBe("permanent");
  });

  it("DMA between the revoke's steps reaches the BAR before the status is PERM_REVOKED and faults after the unmap", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w);
    const mb = { ...attachMapped(m, e.world, e.buf, "dev1"), buf: e.buf };
    const r = revokeIoctl(m, mb.world, mb.buf);
    if (r.status !== "done") throw new Error(`revoke ${r.status}`);
    const dma = (world: World): string[] =>
      dmaOutcomes(
        runScript(m, world, [{ kind: "dma", device: "dev1", addr: mb.dma, len: 64n, dir: "read" }])
          .events,
      );
    expect(dma(r.world)).toEqual(["ok"]);
    const over = settle(m, r.world).world;
    expect(dma(over)).toEqual(["fault"]);
    expect(over.violations.size).toBe(0);
  });

  it("while an importer holds the buffer's resv, the ioctl starts and its revoke task sleeps on resv; an FLR waits behind it (memory_lock)", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const mb = mapped(m, w);
    const held = runScript(m, mb.world, [
      { kind: "lock", buf: mb.buf, holder: importerHolder("ref-importer", mb.att) },
    ]).world;
    const r = revokeIoctl(m, held, mb.buf);
    if (r.status !== "done") throw new Error(`revoke ${r.status}`);
    const task = r.created ?? -1;
    expect(step(m, r.world, { kind: "task", task })).toMatchObject({
      status: "blocked",
      waitFor: "resv",
    });
    const flr = actOnce(m, r.world, { op: "flr", device: "vfio0" });
    if (flr.status !== "done") throw new Error(`flr ${flr.status}`);
    expect(flr.events.some((e) => e.kind === "note" && e.text.includes("waits for"))).toBe(true);
    expect(kinds(flr.events, "invalidate")).toEqual([]);
  });
});

describe("the three buffer states of the series (OK, TEMP_REVOKED, PERM_REVOKED)", () => {
  it("a buffer exported while PCI_COMMAND.MEMORY is clear is born TEMP_REVOKED and becomes OK when memory is enabled", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const off = runActs(m, w, [{ op: "config-write-command", device: "vfio0", memory: false }]);
    const e = exportVfio(m, off.world);
    expect(revokedOf(e.world, e.buf)).toBe("temporary");
    const on = runActs(m, e.world, [{ op: "config-write-command", device: "vfio0", memory: true }]);
    expect(revokedOf(on.world, e.buf)).toBe("usable");
  });

  it("REVOKE of a TEMP_REVOKED buffer makes it PERM_REVOKED without a second wait: no revoke task, no invalidate", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const mb = mapped(m, w);
    const off = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
    ]);
    expect(revokedOf(off.world, mb.buf)).toBe("temporary");
    const r = revokeIoctl(m, off.world, mb.buf);
    if (r.status !== "done") throw new Error(`revoke ${r.status}`);
    expect(kinds(r.events, "task")).toEqual([]);
    expect(kinds(r.events, "invalidate")).toEqual([]);
    expect(revokedOf(r.world, mb.buf)).toBe("permanent");
    const on = runActs(m, r.world, [{ op: "config-write-command", device: "vfio0", memory: true }]);
    expect(revokedOf(on.world, mb.buf)).toBe("permanent");
  });

  it("the series' un-revoke sends importers no invalidate; mainline linux-7.1 invalidates them once more", () => {
    const unrevokeInvalidates = (profile: typeof SERIES): number => {
      const { m, w } = makeWorld({ profile });
      const mb = mapped(m, w);
      const off = runActs(m, mb.world, [
        { op: "config-write-command", device: "vfio0", memory: false },
      ]);
      const on = runActs(m, off.world, [
        { op: "config-write-command", device: "vfio0", memory: true },
      ]);
      expect(revokedOf(on.world, mb.buf)).toBe("usable");
      return kinds(on.events, "invalidate").length;
    };
    expect(unrevokeInvalidates(SERIES)).toBe(0);
    expect(unrevokeInvalidates(linux71)).toBe(1);
  });
});

describe("VFIO_DEVICE_FEATURE_DMA_BUF_MEMATTR (14) under proposal-vfio-dmabuf-mmap", () => {
  it("an attribute other than NC (0) or WC (1) fails with ENOENT, before the fd is looked up", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2 ** 32 - 1 }), fc.boolean(), (attr, badFd) => {
        expectFailed(memattrIoctl(m, e.world, badFd ? 999 : e.buf, attr), "ENOENT", e.world);
      }),
      { numRuns: 50 },
    );
  });

  it("GET fails with EINVAL; a payload shorter than { s32 dmabuf_fd; u32 memattr } fails with EINVAL", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w);
    const get = encodeDmaBufMemattrFeature({
      flags: VFIO_DEVICE_FEATURE_GET,
      dmabuf_fd: e.buf,
      memattr: VFIO_DMABUF_MEMATTR_WC,
    });
    expectFailed(featureIoctl(m, e.world, get), "EINVAL", e.world);
    const short = encodeDmaBufMemattrFeature({
      flags: VFIO_DEVICE_FEATURE_SET,
      dmabuf_fd: e.buf,
      memattr: VFIO_DMABUF_MEMATTR_WC,
      argsz: 8 + 4,
    });
    expectFailed(featureIoctl(m, e.world, short), "EINVAL", e.world);
  });

  it("an fd that is no dma-buf fails with EBADF; another device's dma-buf with ENODEV", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w, [{ offset: 0n, length: 0x1000n }], "vfio1");
    expectFailed(memattrIoctl(m, e.world, 999, VFIO_DMABUF_MEMATTR_WC), "EBADF", e.world);
    expectFailed(memattrIoctl(m, e.world, -1, VFIO_DMABUF_MEMATTR_NC), "EBADF", e.world);
    expectFailed(
      memattrIoctl(m, e.world, e.buf, VFIO_DMABUF_MEMATTR_WC, "vfio0"),
      "ENODEV",
      e.world,
    );
  });

  it("it applies to later mmaps only: an existing mapping keeps NC, a new one gets WC", () => {
    const { m, w } = makeWorld({ profile: SERIES });
    const e = exportVfio(m, w, [{ offset: 0n, length: 0x2000n }]);
    const first = runActs(m, e.world, [
      { op: "mmap", process: "a", buf: e.buf, offset: 0n, shared: true },
    ]);
    const set = memattrIoctl(m, first.world, e.buf, VFIO_DMABUF_MEMATTR_WC);
    if (set.status !== "done") throw new Error("MEMATTR failed");
    expect(set.returned?.ret).toBe(0);
    const second = runActs(m, set.world, [
      { op: "mmap", process: "b", buf: e.buf, offset: 0n, shared: true },
    ]);
    const byProcess = new Map(vfioVmas(m, second.world, "vfio0").map((v) => [v.process, v]));
    expect(byProcess.get("a")?.memattr).toBe(VFIO_DMABUF_MEMATTR_NC);
    expect(byProcess.get("b")?.memattr).toBe(VFIO_DMABUF_MEMATTR_WC);
  });
});
