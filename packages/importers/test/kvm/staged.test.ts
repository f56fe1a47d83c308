/**
 * `KVM_SET_USER_MEMORY_REGION2` with `KVM_MEM_VFIO_DMABUF` names the part
 * that refused (DESIGN §3.2's stages; kernel-model §5.1).
 */
import { describe, expect, it } from "vitest";
import { boot, linux71, rfcMappingTypesV1 } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import type { KvmMemslotArgs } from "../../src/index.js";
import { MIB2, PAGE, exportRam, exportVfio, makeMachine, revoke, setMemslot } from "./fixtures.js";

function args(fd: number, over: Partial<KvmMemslotArgs> = {}): KvmMemslotArgs {
  return { slot: 1, gfnBase: 0x10_0000n, npages: MIB2 / PAGE, fd, offset: 0n, ...over };
}

function stageOf(r: StepOutcome): string {
  return r.status === "failed" ? `${r.stage ?? "(none)"} ${r.error.errno}` : r.status;
}

function vfio(m: Machine = makeMachine(rfcMappingTypesV1)): {
  m: Machine;
  world: World;
  buf: number;
} {
  return { m, ...exportVfio(m, boot(m)) };
}

describe("a dma-buf memslot says which part refused (kernel-model §5.1)", () => {
  it("the unknown flag under linux-7.1 is refused by the argument checks with EINVAL", () => {
    const { m, world, buf } = vfio(makeMachine(linux71));
    expect(stageOf(setMemslot(m, world, args(buf)))).toBe("args EINVAL");
  });

  it.each([
    ["without KVM_MEM_VFIO_DMABUF", 0],
    ["with an unknown flag bit", (1 << 3) | (1 << 7)],
    ["with KVM_MEM_GUEST_MEMFD", (1 << 3) | (1 << 2)],
    ["with dirty logging", (1 << 3) | (1 << 0)],
  ])("a dma-buf memslot %s is refused by the argument checks with EINVAL", (_what, flags) => {
    const { m, world, buf } = vfio();
    expect(stageOf(setMemslot(m, world, args(buf, { flags })))).toBe("args EINVAL");
  });

  it("a slot size other than the dma-buf's is refused by the argument checks with EINVAL", () => {
    const { m, world, buf } = vfio();
    expect(stageOf(setMemslot(m, world, args(buf, { npages: 1n })))).toBe("args EINVAL");
  });

  it("an fd that is no dma-buf is refused by dma_buf_get with EBADF", () => {
    const { m, world, buf } = vfio();
    expect(stageOf(setMemslot(m, world, args(buf + 99)))).toBe("fd EBADF");
  });

  it("a revoked VFIO dma-buf is refused by the exporter's attach with ENODEV", () => {
    const { m, world, buf } = vfio();
    const revoked = revoke(m, world, buf).world;
    expect(stageOf(setMemslot(m, revoked, args(buf)))).toBe("attach ENODEV");
  });

  it("an exporter without get_pfn is refused at attach by negotiation with EINVAL", () => {
    const m = makeMachine(rfcMappingTypesV1);
    const { world, buf } = exportRam(m, boot(m), MIB2);
    expect(stageOf(setMemslot(m, world, args(buf)))).toBe("attach EINVAL");
  });

  it("a VFIO dma-buf of the slot's size makes the slot and its attachment", () => {
    const { m, world, buf } = vfio();
    const r = setMemslot(m, world, args(buf));
    expect(r.status).toBe("done");
    if (r.status === "done") expect(r.world.atts.get(r.created ?? -1)?.importer).toBe("kvm");
  });
});
