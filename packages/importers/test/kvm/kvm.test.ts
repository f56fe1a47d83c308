/**
 * KVM dma-buf memslots (Xu Yilun's RFC, kernel-model §5.1): the
 * KVM_MEM_VFIO_DMABUF entry point's checks, get_pfn at fault time, the zap
 * on invalidate, -EIO while revoked and re-faulting after un-revoke.
 */
import { describe, expect, it } from "vitest";
import {
  attachRevocable,
  boot,
  defineProfile,
  linux71,
  mustAtt,
  pal,
  proposalConverters,
  rfcMappingTypesV1,
  sgt,
  step,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { KVM_MEM_VFIO_DMABUF, kvmStateOf } from "../../src/index.js";
import type { KvmMemslotArgs } from "../../src/index.js";
import {
  MIB2,
  PAGE,
  exportVfio,
  faultAnswer,
  guestFault,
  makeMachine,
  revoke,
  setMemslot,
  unrevoke,
} from "./fixtures.js";
import type { FaultAnswer } from "./fixtures.js";

const GFN = 0x10_0000n;
const NPAGES = MIB2 / PAGE;
const BAR_PFN = 0x40_0000_0000n / PAGE;

function setup(profile = rfcMappingTypesV1): { m: Machine; world: World; buf: number } {
  const m = makeMachine(profile);
  return { m, ...exportVfio(m, boot(m)) };
}

function slotArgs(fd: number, over: Partial<KvmMemslotArgs> = {}): KvmMemslotArgs {
  return { slot: 1, gfnBase: GFN, npages: NPAGES, fd, offset: 0n, ...over };
}

function memslot(profile = rfcMappingTypesV1): {
  m: Machine;
  world: World;
  buf: number;
  att: number;
} {
  const { m, world, buf } = setup(profile);
  const r = setMemslot(m, world, slotArgs(buf));
  if (r.status !== "done" || r.created === undefined) throw new Error("memslot failed");
  return { m, world: r.world, buf, att: r.created };
}

function expectErrno(w: World, r: StepOutcome, errno: string): void {
  expect(r.status).toBe("failed");
  if (r.status === "failed") expect(r.error.errno).toBe(errno);
  expect(r.world).toBe(w);
}

/** A guest fault on slot 1 that must succeed, with get_pfn's answer read from the stage-2. */
function faultOk(
  m: Machine,
  w: World,
  gfn = GFN,
): Extract<StepOutcome, { status: "done" }> & FaultAnswer {
  const r = guestFault(m, w, { slot: 1, gfn });
  if (r.status !== "done") {
    throw new Error(r.status === "failed" ? `${r.error.errno}: ${r.error.message}` : r.reason);
  }
  return { ...r, ...faultAnswer(m, r.world, 1, gfn) };
}

describe("KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_VFIO_DMABUF (kernel-model §5.1)", () => {
  it("the flag is 1 << 3", () => {
    expect(KVM_MEM_VFIO_DMABUF).toBe(8);
  });

  it("KVM attaches dynamically with dev=NULL and allow_peer2peer, negotiating kvm-pfn, and maps nothing yet", () => {
    const { m, world, att } = memslot();
    const a = mustAtt(world, att);
    expect(a).toMatchObject({ device: null, dynamic: true, peer2peer: true, mapType: "kvm-pfn" });
    expect(a.mapping).toBeNull();
    expect(attachRevocable(a)).toBe(true);
    expect(kvmStateOf(m, world).slots).toEqual([
      {
        slot: 1,
        gfnBase: GFN,
        npages: NPAGES,
        buf: a.buf,
        att,
        readonly: false,
        zapped: false,
        stage2: [],
      },
    ]);
  });

  it("where the profile lacks KVM's dmabufImport the flag is unknown and the call fails with EINVAL", () => {
    const { m, world, buf } = setup(linux71);
    expectErrno(world, setMemslot(m, world, slotArgs(buf)), "EINVAL");
  });

  it("a KVM memslot whose dmabuf size differs from the slot size fails with EINVAL", () => {
    const { m, world, buf } = setup();
    expectErrno(world, setMemslot(m, world, slotArgs(buf, { npages: NPAGES - 1n })), "EINVAL");
  });

  it("a guest_memfd_offset other than 0 fails with EINVAL", () => {
    const { m, world, buf } = setup();
    expectErrno(world, setMemslot(m, world, slotArgs(buf, { offset: PAGE })), "EINVAL");
  });

  it("an fd that is no dma-buf fails with EBADF", () => {
    const { m, world, buf } = setup();
    expectErrno(world, setMemslot(m, world, slotArgs(buf + 100)), "EBADF");
  });

  it("a slot id already in use fails with EEXIST", () => {
    const { m, world, buf } = memslot();
    expectErrno(world, setMemslot(m, world, slotArgs(buf)), "EEXIST");
  });

  it("KVM import needs kvm-pfn: without the type the attach fails in negotiation with EINVAL", () => {
    const noKvmPfn = defineProfile({
      ...rfcMappingTypesV1,
      id: "rfc-without-kvm-pfn",
      mappingTypes: [sgt, pal],
    });
    const { m, world, buf } = setup(noKvmPfn);
    expectErrno(world, setMemslot(m, world, slotArgs(buf)), "EINVAL");
  });

  it("works under proposal-converters too", () => {
    expect(memslot(proposalConverters).att).toBeGreaterThan(0);
  });
});

describe("guest faults: get_pfn (kernel-model §5.1)", () => {
  it("a guest fault maps through get_pfn: pfn, max order and cache attribute", () => {
    const { m, world, att } = memslot();
    const r = faultOk(m, world, GFN + 1n);
    expect(r.pfn).toBe(BAR_PFN + 1n);
    expect(r.maxOrder).toBe(9);
    expect(mustAtt(r.world, att).mapping).not.toBeNull();
    const again = faultOk(m, r.world, GFN + 2n);
    expect(again.pfn).toBe(BAR_PFN + 2n);
    expect(again.events.some((e) => e.kind === "map")).toBe(false);
  });

  it("MMIO is never mapped cacheable", () => {
    const { m, world } = memslot();
    const r = faultOk(m, world);
    expect(r.mmio).toBe(true);
    expect(r.cache).toBe("uncached");
  });

  it("an exporter claiming write-back MMIO is refused: the fault fails with EIO", () => {
    const m = makeMachine(rfcMappingTypesV1);
    const { world, buf } = exportVfio(m, boot(m), {
      region: "vfio0.bar0",
      length: MIB2,
      cache: "write-back",
    });
    const made = setMemslot(m, world, slotArgs(buf));
    if (made.status !== "done") throw new Error("memslot failed");
    expectErrno(made.world, guestFault(m, made.world, { slot: 1, gfn: GFN }), "EIO");
  });

  it("the max order shrinks when the GFN and PFN are not aligned alike", () => {
    const m = makeMachine(rfcMappingTypesV1);
    const { world, buf } = exportVfio(m, boot(m), {
      region: "vfio0.bar0",
      offset: PAGE,
      length: MIB2,
    });
    const made = setMemslot(m, world, slotArgs(buf));
    if (made.status !== "done") throw new Error("memslot failed");
    expect(faultOk(m, made.world).maxOrder).toBe(0);
  });

  it("a fault outside the slot fails with EFAULT", () => {
    const { m, world } = memslot();
    expectErrno(world, guestFault(m, world, { slot: 1, gfn: GFN + NPAGES }), "EFAULT");
    expectErrno(world, guestFault(m, world, { slot: 2, gfn: GFN }), "EFAULT");
  });

  it("a fault sleeps while someone holds the dma-buf's resv", () => {
    const { m, world, buf } = memslot();
    const locked = step(m, world, { kind: "lock", buf, holder: "other" });
    const r = guestFault(m, locked.world, { slot: 1, gfn: GFN });
    expect(r.status).toBe("blocked");
    expect(r.world).toBe(locked.world);
  });
});

describe("revoke: zap, -EIO, re-fault (kernel-model §5.1, §1.3)", () => {
  it("invalidate zaps the slot's whole GFN range", () => {
    const { m, world, buf, att } = memslot();
    const run = revoke(m, faultOk(m, world).world, buf);
    const slot = kvmStateOf(m, run.world).slots[0];
    expect(slot).toMatchObject({ zapped: true });
    expect(mustAtt(run.world, att).mapping).toBeNull();
    expect(run.world.tasks.size).toBe(0);
    const zaps = run.events.flatMap((e) =>
      e.kind === "note" && e.actor === "kvm" ? [e.text] : [],
    );
    expect(zaps).toHaveLength(1);
    expect(zaps[0]).toContain("zap memslot 1: gfn 0x100000-0x1001ff");
  });

  it("a guest fault on a revoked dmabuf slot fails with EIO", () => {
    const { m, world, buf } = memslot();
    const revoked = revoke(m, faultOk(m, world).world, buf).world;
    const r = guestFault(m, revoked, { slot: 1, gfn: GFN });
    expectErrno(revoked, r, "EIO");
    if (r.status === "failed") expect(r.error.message).toContain("ENODEV");
  });

  it("after un-revoke KVM can fault again", () => {
    const { m, world, buf, att } = memslot();
    const back = unrevoke(m, revoke(m, faultOk(m, world).world, buf).world, buf);
    const r = faultOk(m, back, GFN + 3n);
    expect(r.pfn).toBe(BAR_PFN + 3n);
    expect(mustAtt(r.world, att).mapping).not.toBeNull();
    expect(kvmStateOf(m, r.world).slots[0]?.zapped).toBe(false);
  });
});

describe("kvm act (driver ops)", () => {
  it("set-memslot and fault run as driver ops; a malformed action is EINVAL", () => {
    const { m, world, buf } = setup();
    const made = step(m, world, {
      kind: "driver",
      driver: "kvm",
      action: {
        op: "KVM_SET_USER_MEMORY_REGION2",
        slot: 1,
        gfnBase: GFN,
        npages: NPAGES,
        fd: buf,
        offset: 0n,
      },
    });
    expect(made.status).toBe("done");
    const faulted = step(m, made.world, {
      kind: "driver",
      driver: "kvm",
      action: { op: "guest-fault", slot: 1, gfn: GFN },
    });
    expect(faulted.status).toBe("done");
    const bad = step(m, world, { kind: "driver", driver: "kvm", action: { kind: "nope" } });
    expectErrno(world, bad, "EINVAL");
  });
});
