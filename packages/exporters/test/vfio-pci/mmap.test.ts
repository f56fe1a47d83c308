/**
 * mmap() of a VFIO dma-buf (Matt Evans' series, kernel-model §2.6): only
 * under a profile with the vfio-pci option dmabufMmap; revoke zaps the VMA and a CPU
 * access while revoked faults without being a violation.
 */
import { describe, expect, it } from "vitest";
import {
  VFIO_DEVICE_FEATURE_SET,
  findProfile,
  linux619,
  linux71,
  proposalConverters,
  rfcMappingTypesV1,
  runScript,
} from "@dmabuf-ref/core";
import type { Machine, TraceEvent, World } from "@dmabuf-ref/core";
import { encodeDmaBufRevokeFeature, vfioVmas } from "@dmabuf-ref/exporters";
import { actOnce, exportVfio, makeWorld, runActs, settleOne, vfioOp } from "./setup.js";

const mmapSeries = findProfile("proposal-vfio-dmabuf-mmap") ?? linux71;

/** The outcomes of the CPU accesses in a trace (their `cpu` events): ok, fault or violation. */
function cpu(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) => (e.kind === "cpu" ? [e.outcome] : []));
}

function mmapped(
  m: Machine,
  w0: World,
): {
  world: World;
  buf: number;
  addr: bigint;
} {
  const e = exportVfio(m, w0, [
    { offset: 0x4000n, length: 0x2000n },
    { offset: 0n, length: 0x1000n },
  ]);
  const r = runActs(m, e.world, [
    { op: "mmap", process: "client", buf: e.buf, offset: 0n, shared: true },
  ]);
  const vma = vfioVmas(m, r.world, "vfio0")[0];
  if (vma === undefined) throw new Error("no VMA");
  return { world: r.world, buf: e.buf, addr: vma.addr };
}

describe("mmap of a VFIO dma-buf (kernel-model §2.6)", () => {
  it("without the mmap series (linux-6.19, linux-7.1, rfc-mapping-types-v1, proposal-converters) mmap fails with EINVAL", () => {
    for (const profile of [linux619, linux71, rfcMappingTypesV1, proposalConverters]) {
      const { m, w } = makeWorld({ profile });
      const e = exportVfio(m, w);
      const r = actOnce(m, e.world, { op: "mmap", process: "client", buf: e.buf });
      expect(r).toMatchObject({ status: "failed", error: { errno: "EINVAL" } });
      expect(r.world).toBe(e.world);
    }
  });

  it("under proposal-vfio-dmabuf-mmap a process maps the dma-buf and reaches the BAR through it, range by range", () => {
    const { m, w } = makeWorld({ profile: mmapSeries });
    const mb = mmapped(m, w);
    expect(vfioVmas(m, mb.world, "vfio0")).toEqual([
      { process: "client", buf: mb.buf, addr: mb.addr, len: 0x3000n, offset: 0n, memattr: 0 },
    ]);
    const run = runActs(m, mb.world, [
      { op: "cpu-access", process: "client", addr: mb.addr + 0x1800n, len: 0x1000n, dir: "write" },
    ]);
    const accesses = run.events.filter((e) => e.kind === "cpu");
    expect(accesses).toEqual([
      {
        kind: "cpu",
        actor: "vfio0",
        process: "client",
        addr: mb.addr + 0x1800n,
        len: 0x1000n,
        dir: "write",
        outcome: "ok",
        detail: "at vfio0.bar0+0x5800, vfio0.bar0+0x0",
      },
    ]);
  });

  it("mmap() returns the VMA's start address, the one a later access and munmap name", () => {
    const { m, w } = makeWorld({ profile: mmapSeries });
    const e = exportVfio(m, w, [{ offset: 0n, length: 0x2000n }]);
    const first = actOnce(m, e.world, { op: "mmap", process: "client", buf: e.buf });
    if (first.status !== "done") throw new Error(`mmap ${first.status}`);
    const vma = vfioVmas(m, first.world, "vfio0")[0];
    expect(first.returned?.ret).toBe(Number(vma?.addr ?? -1n));
    const second = actOnce(m, first.world, { op: "mmap", process: "client", buf: e.buf });
    if (second.status !== "done") throw new Error(`mmap ${second.status}`);
    expect(second.returned?.ret).not.toBe(first.returned?.ret);
    const addrs = vfioVmas(m, second.world, "vfio0").map((v) => Number(v.addr));
    expect(addrs.sort()).toEqual([first.returned?.ret, second.returned?.ret].sort());
  });

  it("revoke zaps the mapping: a CPU access while revoked is a fault, not a violation; after un-revoke it works again", () => {
    const { m, w } = makeWorld({ profile: mmapSeries });
    const mb = mmapped(m, w);
    const access = {
      op: "cpu-access",
      process: "client",
      addr: mb.addr,
      len: 8n,
      dir: "read",
    } as const;
    const run = runActs(m, mb.world, [
      { op: "config-write-command", device: "vfio0", memory: false },
      access,
      { op: "config-write-command", device: "vfio0", memory: true },
      access,
    ]);
    expect(cpu(run.events)).toEqual(["fault", "ok"]);
    expect(run.world.violations.size).toBe(0);
  });

  it("at every step of an FLR a CPU access through the mapping is ok or a fault, never a violation", () => {
    const { m, w: w0 } = makeWorld({ profile: mmapSeries });
    const mb = mmapped(m, w0);
    const access = { op: "cpu-access", process: "client", addr: mb.addr, len: 8n, dir: "read" };
    const started = actOnce(m, mb.world, { op: "flr", device: "vfio0" });
    if (started.status !== "done") throw new Error("FLR failed");
    const seen: string[] = [];
    let w = started.world;
    for (let i = 0; i < 100; i++) {
      const r = actOnce(m, w, access);
      if (r.status !== "done") throw new Error("access did not run");
      seen.push(...cpu(r.events));
      const next = settleOne(m, w);
      if (next === w) break;
      w = next;
    }
    expect(seen).toContain("fault");
    expect(seen).not.toContain("violation");
    expect(seen.at(-1)).toBe("ok");
  });

  it("after device close a CPU access faults: the dma-buf is revoked for good", () => {
    const { m, w } = makeWorld({ profile: mmapSeries, closeOrder: "cleanup-then-disable" });
    const mb = mmapped(m, w);
    const run = runActs(m, mb.world, [
      { op: "close-device", device: "vfio0" },
      { op: "cpu-access", process: "client", addr: mb.addr, len: 8n, dir: "read" },
    ]);
    expect(cpu(run.events)).toEqual(["fault"]);
    expect(run.world.violations.size).toBe(0);
  });

  it("in the old close order (disable before cleanup, 6.19 and 7.0.0-7.0.9) a CPU access through a still-usable mapping reaches a disabled BAR: a violation", () => {
    const { m, w } = makeWorld({ profile: mmapSeries, closeOrder: "disable-then-cleanup" });
    const mb = mmapped(m, w);
    const window = actOnce(m, mb.world, { op: "close-device", device: "vfio0" });
    if (window.status !== "done") throw new Error("close failed");
    const r = actOnce(m, window.world, {
      op: "cpu-access",
      process: "client",
      addr: mb.addr,
      len: 8n,
      dir: "read",
    });
    if (r.status !== "done") throw new Error("access did not run");
    expect(cpu(r.events)).toEqual(["violation"]);
    expect([...r.world.violations.values()]).toEqual([
      expect.objectContaining({ kind: "access-after-revoke", actor: "client" }),
    ]);
  });

  it("an access with no VMA there is a fault (SIGSEGV)", () => {
    const { m, w } = makeWorld({ profile: mmapSeries });
    const mb = mmapped(m, w);
    const run = runActs(m, mb.world, [
      { op: "cpu-access", process: "other", addr: mb.addr, len: 8n, dir: "read" },
      { op: "cpu-access", process: "client", addr: mb.addr + 0x2ff8n, len: 0x10n, dir: "read" },
    ]);
    expect(cpu(run.events)).toEqual(["fault", "fault"]);
    const details = run.events.flatMap((e) => (e.kind === "cpu" ? [[e.actor, e.detail]] : []));
    expect(details).toEqual([
      ["other", "SIGSEGV: no VMA at this address"],
      ["client", "SIGSEGV: no VMA at this address"],
    ]);
  });

  it("an access after DMA_BUF_REVOKE (13) is a fault (SIGBUS) answered by the device, not a violation", () => {
    const { m, w } = makeWorld({ profile: mmapSeries });
    const mb = mmapped(m, w);
    const run = runActs(m, mb.world, [
      vfioOp({
        op: "VFIO_DEVICE_FEATURE",
        device: "vfio0",
        argp: encodeDmaBufRevokeFeature({ flags: VFIO_DEVICE_FEATURE_SET, dmabuf_fd: mb.buf }),
      }),
      { op: "cpu-access", process: "client", addr: mb.addr, len: 8n, dir: "read" },
    ]);
    const e = run.events.find((x) => x.kind === "cpu");
    expect(e).toMatchObject({ actor: "vfio0", outcome: "fault" });
    expect(e?.kind === "cpu" ? e.detail : "").toMatch(/^SIGBUS/);
    expect(run.world.violations.size).toBe(0);
  });

  it("mmap past dmabuf->size, at an unaligned offset, of zero bytes, or private fails with EINVAL", () => {
    const { m, w: w0 } = makeWorld({ profile: mmapSeries });
    const e = exportVfio(m, w0, [{ offset: 0n, length: 0x2000n }]);
    for (const bad of [
      { offset: 0x1000n, length: 0x2000n },
      { offset: 0x800n },
      { length: 0n },
      { shared: false },
    ]) {
      const r = actOnce(m, e.world, { op: "mmap", process: "client", buf: e.buf, ...bad });
      expect(r).toMatchObject({ status: "failed", error: { errno: "EINVAL" }, world: e.world });
    }
    expect(actOnce(m, e.world, { op: "mmap", process: "c", buf: 999 })).toMatchObject({
      status: "failed",
      error: { errno: "EBADF" },
    });
  });

  it("the VMA holds a file reference: the dma-buf is released only after both the fd and the VMA are gone", () => {
    const { m, w } = makeWorld({ profile: mmapSeries });
    const mb = mmapped(m, w);
    const closed = runScript(m, mb.world, [{ kind: "close", buf: mb.buf }]);
    expect(closed.world.bufs.get(mb.buf)?.released).toBe(false);
    const unmapped = runActs(m, closed.world, [{ op: "munmap", process: "client", addr: mb.addr }]);
    // Released: the buffer is freed and its fd number is free again.
    expect(unmapped.world.bufs.has(mb.buf)).toBe(false);
    expect(vfioVmas(m, unmapped.world, "vfio0")).toEqual([]);
    expect(
      actOnce(m, unmapped.world, { op: "munmap", process: "client", addr: mb.addr }),
    ).toMatchObject({
      status: "failed",
      error: { errno: "EINVAL" },
    });
  });
});
