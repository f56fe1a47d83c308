/**
 * RDMA umem dma-buf importers (drivers/infiniband/core/umem_dmabuf.c,
 * kernel-model §5.2): ib_umem_dmabuf_get's checks, the ODP MR that re-maps
 * on fault, the pinned importer that is not revocable (so VFIO refuses it,
 * §1.3, §2.3, §2.4) and Jacob Moroni's pinned revocable proposal.
 */
import { describe, expect, it } from "vitest";
import {
  access,
  attachRevocable,
  boot,
  linux619,
  linux71,
  mustAtt,
  payloadAs,
  proposalConverters,
  sgt,
  step,
  U64_MAX,
} from "@dmabuf-ref/core";
import type { Machine, Profile, StepOutcome, World } from "@dmabuf-ref/core";
import { rdmaStateOf } from "../../src/index.js";
import type { IbUmemDmabufGetArgs, RdmaImporterName } from "../../src/index.js";
import { MIB2, exportRam, exportVfio, makeMachine, revoke, unrevoke } from "../kvm/fixtures.js";
import { odpFault, umemGet, umemRelease } from "./fixtures.js";

function expectErrno(w: World, r: StepOutcome, errno: string): void {
  expect(r.status).toBe("failed");
  if (r.status === "failed") expect(r.error.errno).toBe(errno);
  expect(r.world).toBe(w);
}

function getArgs(
  importer: RdmaImporterName,
  fd: number,
  over: Partial<IbUmemDmabufGetArgs> = {},
): IbUmemDmabufGetArgs {
  return { importer, device: "nic0", fd, offset: 0n, size: 0x1000n, ...over };
}

function mustDone(r: StepOutcome): { world: World; att: number } {
  if (r.status !== "done") {
    throw new Error(r.status === "failed" ? `${r.error.errno}: ${r.error.message}` : r.reason);
  }
  return { world: r.world, att: r.created ?? -1 };
}

function vfio(profile: Profile): { m: Machine; world: World; buf: number } {
  const m = makeMachine(profile);
  return { m, ...exportVfio(m, boot(m)) };
}

/** The first DMA address of an attachment's sgt. */
function dmaAddress(w: World, att: number): bigint {
  const entry = payloadAs(sgt, mustAtt(w, att).mapping?.payload).entries[0];
  if (entry === undefined) throw new Error("empty sgt");
  return entry.dmaAddress;
}

describe("ib_umem_dmabuf_get checks (kernel-model §5.2)", () => {
  it("ib_umem_dmabuf_get beyond the dmabuf size fails with EINVAL", () => {
    const { m, world, buf } = vfio(linux71);
    expectErrno(world, umemGet(m, world, getArgs("rdma-odp", buf, { size: MIB2 + 1n })), "EINVAL");
    expectErrno(
      world,
      umemGet(m, world, getArgs("rdma-odp", buf, { offset: MIB2, size: 0x1000n })),
      "EINVAL",
    );
  });

  it("an offset + size that overflows fails with EINVAL", () => {
    const { m, world, buf } = vfio(linux71);
    expectErrno(
      world,
      umemGet(m, world, getArgs("rdma-pinned", buf, { offset: U64_MAX, size: 0x1000n })),
      "EINVAL",
    );
  });

  it("an fd that is no dma-buf fails with EBADF", () => {
    const { m, world, buf } = vfio(linux71);
    expectErrno(world, umemGet(m, world, getArgs("rdma-odp", buf + 50)), "EBADF");
  });

  it("an unknown NIC fails with ENODEV", () => {
    const { m, world, buf } = vfio(linux71);
    expectErrno(world, umemGet(m, world, getArgs("rdma-odp", buf, { device: "nic9" })), "ENODEV");
  });
});

describe("rdma-pinned: ib_umem_dmabuf_get_pinned (kernel-model §5.2, §1.3)", () => {
  it("the pinned RDMA importer is not revocable", () => {
    const m = makeMachine(linux71);
    const { world, buf } = exportRam(m, boot(m));
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-pinned", buf)));
    const a = mustAtt(got, att);
    expect(a).toMatchObject({ dynamic: true, peer2peer: true, hasInvalidate: false, pins: 1 });
    expect(attachRevocable(a)).toBe(false);
    expect(a.mapping).not.toBeNull();
    const run = revoke(m, got, buf);
    expect(run.events.some((e) => e.kind === "invalidate" && e.att === att)).toBe(false);
    expect(mustAtt(run.world, att).mapping).not.toBeNull();
    expect(run.world.tasks.size).toBe(1);
    expect(run.events.some((e) => e.kind === "wait" && e.what === "unmaps")).toBe(true);
  });

  it("VFIO refuses the pinned RDMA importer under 7.1 with EOPNOTSUPP (not revocable)", () => {
    const { m, world, buf } = vfio(linux71);
    const r = umemGet(m, world, getArgs("rdma-pinned", buf));
    expectErrno(world, r, "EOPNOTSUPP");
    if (r.status === "failed") expect(r.error.message).toContain("not revocable");
  });

  it("under 6.19 the pinned path's dma_buf_pin fails on VFIO with EOPNOTSUPP", () => {
    const { m, world, buf } = vfio(linux619);
    const r = umemGet(m, world, getArgs("rdma-pinned", buf));
    expectErrno(world, r, "EOPNOTSUPP");
    if (r.status === "failed") expect(r.error.message).toContain("pinned");
  });

  it("ib_umem_dmabuf_release unmaps, unpins and detaches", () => {
    const m = makeMachine(linux71);
    const { world, buf } = exportRam(m, boot(m));
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-pinned", buf)));
    const released = mustDone(umemRelease(m, got, "rdma-pinned", att)).world;
    expect(released.atts.get(att)).toBeUndefined();
    expect(rdmaStateOf(m, released, "rdma-pinned").umems).toEqual([]);
    expectErrno(released, umemRelease(m, released, "rdma-pinned", att), "EINVAL");
  });
});

describe("rdma-odp: dynamic MR (kernel-model §5.2)", () => {
  it("VFIO accepts the ODP importer under 7.1 and the first fault maps for the NIC", () => {
    const { m, world, buf } = vfio(linux71);
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-odp", buf)));
    const a = mustAtt(got, att);
    expect(attachRevocable(a)).toBe(true);
    expect(a).toMatchObject({ device: "nic0", mapType: "sgt", mapping: null, pins: 0 });
    const mapped = mustDone(odpFault(m, got, att)).world;
    const addr = dmaAddress(mapped, att);
    expect(access(m, mapped, "nic0", addr, 0x1000n, "read").outcome).toBe("ok");
  });

  it("ODP MR re-maps on the next fault after invalidate", () => {
    const { m, world, buf } = vfio(linux71);
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-odp", buf)));
    const mapped = mustDone(odpFault(m, got, att)).world;
    const addr = dmaAddress(mapped, att);
    const run = revoke(m, mapped, buf);
    expect(run.world.tasks.size).toBe(0);
    expect(mustAtt(run.world, att).mapping).toBeNull();
    expect(access(m, run.world, "nic0", addr, 0x1000n, "read").outcome).toBe("fault");
    expectErrno(run.world, odpFault(m, run.world, att), "ENODEV");
    const back = unrevoke(m, run.world, buf);
    expect(mustAtt(back, att).mapping).toBeNull();
    const again = mustDone(odpFault(m, back, att)).world;
    expect(access(m, again, "nic0", dmaAddress(again, att), 0x1000n, "write").outcome).toBe("ok");
  });

  it("under 6.19 an ODP fault on VFIO fails with EOPNOTSUPP (pin-on-map)", () => {
    const { m, world, buf } = vfio(linux619);
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-odp", buf)));
    expectErrno(got, odpFault(m, got, att), "EOPNOTSUPP");
  });

  it("a fault on an attachment that is no ODP umem fails with EINVAL", () => {
    const m = makeMachine(linux71);
    const { world, buf } = exportRam(m, boot(m));
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-pinned", buf)));
    expectErrno(got, odpFault(m, got, att), "EINVAL");
  });
});

describe("rdma-pinned-revocable: Jacob Moroni's proposal (kernel-model §5.2)", () => {
  it("absent from the profile, the interface does not exist: EOPNOTSUPP", () => {
    const { m, world, buf } = vfio(linux71);
    const r = umemGet(m, world, getArgs("rdma-pinned-revocable", buf));
    expectErrno(world, r, "EOPNOTSUPP");
    if (r.status === "failed") expect(r.error.message).toContain("does not exist");
  });

  it("pinned-revocable import stops HW access inside invalidate", () => {
    const { m, world, buf } = vfio(proposalConverters);
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-pinned-revocable", buf)));
    const a = mustAtt(got, att);
    expect(attachRevocable(a)).toBe(true);
    expect(a.pins).toBe(1);
    const addr = dmaAddress(got, att);
    expect(access(m, got, "nic0", addr, 0x1000n, "read").outcome).toBe("ok");
    const run = revoke(m, got, buf);
    const at = (pred: (e: (typeof run.events)[number]) => boolean): number =>
      run.events.findIndex(pred);
    const invalidate = at((e) => e.kind === "invalidate" && e.att === att);
    const unmap = at((e) => e.kind === "unmap" && e.att === att);
    const unpin = at((e) => e.kind === "unpin" && e.att === att);
    const unlock = at((e) => e.kind === "resv" && e.action === "unlock");
    expect(invalidate).toBeGreaterThanOrEqual(0);
    expect(unmap).toBeGreaterThan(invalidate);
    expect(unpin).toBeGreaterThan(unmap);
    expect(unlock).toBeGreaterThan(unpin);
    expect(run.world.tasks.size).toBe(0);
    expect(mustAtt(run.world, att)).toMatchObject({ mapping: null, pins: 0 });
    expect(rdmaStateOf(m, run.world, "rdma-pinned-revocable").umems[0]?.revoked).toBe(true);
    expect(access(m, run.world, "nic0", addr, 0x1000n, "read").outcome).toBe("fault");
  });

  it("the revoke is for good: after un-revoke the MR stays revoked and unmapped", () => {
    const { m, world, buf } = vfio(proposalConverters);
    const { world: got, att } = mustDone(umemGet(m, world, getArgs("rdma-pinned-revocable", buf)));
    const back = unrevoke(m, revoke(m, got, buf).world, buf);
    expect(mustAtt(back, att)).toMatchObject({ mapping: null, pins: 0 });
    expect(rdmaStateOf(m, back, "rdma-pinned-revocable").umems[0]?.revoked).toBe(true);
    const released = mustDone(umemRelease(m, back, "rdma-pinned-revocable", att)).world;
    expect(released.atts.get(att)).toBeUndefined();
  });
});

describe("rdma act (driver ops)", () => {
  it("get and fault run as driver ops; a fault on a pinned MR is EINVAL", () => {
    const { m, world, buf } = vfio(linux71);
    const got = step(m, world, {
      kind: "driver",
      driver: "rdma-odp",
      action: { op: "ib_umem_dmabuf_get", device: "nic0", fd: buf, offset: 0n, size: 0x1000n },
    });
    expect(got.status).toBe("done");
    const att = rdmaStateOf(m, got.world, "rdma-odp").umems[0]?.att ?? -1;
    const faulted = step(m, got.world, {
      kind: "driver",
      driver: "rdma-odp",
      action: { op: "odp-fault", att },
    });
    expect(faulted.status).toBe("done");
    const bad = step(m, world, {
      kind: "driver",
      driver: "rdma-pinned",
      action: { op: "odp-fault", att },
    });
    expectErrno(world, bad, "EINVAL");
  });
});
