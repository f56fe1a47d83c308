/**
 * IOAS objects: IOMMU_IOAS_ALLOC and IOMMU_DESTROY (kernel-model §3.1).
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  IOMMU_IOAS_ALLOC,
  iommuIoasAlloc,
  mustBuf,
  step,
  worldsEqual,
} from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  allocIoas,
  attachDevice,
  destroy,
  detachDeviceStep,
  done,
  expectErrno,
  exportVfio,
  ioctl,
  makeMachine,
  mapFileOk,
  mapUserOk,
  vfioSetup,
} from "./fixtures.js";

describe("IOMMU_IOAS_ALLOC", () => {
  it("IOAS ids count up from 1, like the kernel's object xarray", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const b = allocIoas(m, a.world);
    expect([a.ioas, b.ioas]).toEqual([1, 2]);
  });

  it("non-zero flags are EOPNOTSUPP", () => {
    const m = makeMachine();
    const w = boot(m);
    const bytes = iommuIoasAlloc.encode({ size: 12, flags: 1, out_ioas_id: 0 });
    expectErrno(w, ioctl(m, w, IOMMU_IOAS_ALLOC, bytes), "EOPNOTSUPP");
  });

  it("out_ioas_id is written back, the rest of the struct as passed", () => {
    const m = makeMachine();
    const w = boot(m);
    const bytes = iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 77 });
    const r = done(ioctl(m, w, IOMMU_IOAS_ALLOC, bytes));
    expect(iommuIoasAlloc.decode(r.returned.out)).toEqual({ size: 12, flags: 0, out_ioas_id: 1 });
  });
});

describe("IOMMU_DESTROY", () => {
  it("an unknown id is ENOENT", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    expectErrno(a.world, destroy(m, a.world, 9), "ENOENT");
  });

  it("an IOAS with areas is destroyed with them; its dma-buf attachments are released", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const e = exportVfio(m, a.world);
    const mapped = mapFileOk(m, e.world, { ioas: a.ioas, fd: e.buf, length: 0x4000n });
    const u = mapUserOk(m, mapped.world, { ioas: a.ioas, length: 0x1000n });
    const r = done(destroy(m, u.world, a.ioas));
    expect(iommufdStateOf(m, r.world)).toMatchObject({ ioas: [], pages: [] });
    expect(mustBuf(r.world, e.buf)).toMatchObject({ attachments: [], fileRefs: 1 });
    expect(r.world.grants.size).toBe(0);
  });

  it("an IOAS with a device attached is still referenced: EBUSY", () => {
    const { m, world, ioas } = vfioSetup();
    expectErrno(world, destroy(m, world, ioas), "EBUSY");
  });

  it("iommufd object ids are the lowest free (ictx->objects is an xarray): alloc, alloc, destroy the first, alloc gives the first id again", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const b = allocIoas(m, a.world);
    expect([a.ioas, b.ioas]).toEqual([1, 2]);
    const d = done(destroy(m, b.world, a.ioas));
    const c = allocIoas(m, d.world);
    expect(c.ioas).toBe(1);
    expect(allocIoas(m, c.world).ioas).toBe(3);
  });

  it("IOAS, device and HWPT objects share one id space: an attach's device and HWPT take the lowest free ids", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m)); // IOAS 1
    const attached = attachDevice(m, a.world, "dev1", a.ioas); // device 2, HWPT 3
    const b = allocIoas(m, attached);
    expect(b.ioas).toBe(4);
    // A device object goes with its unbind, an HWPT with its last device: both EBUSY.
    expectErrno(b.world, destroy(m, b.world, 2), "EBUSY");
    expectErrno(b.world, destroy(m, b.world, 3), "EBUSY");
    // Detach frees the automatic HWPT's id; the device stays bound until unbind.
    const detached = detachDeviceStep(m, b.world, "dev1");
    expect(detached.status).toBe("done");
    if (detached.status !== "done") return;
    expect(allocIoas(m, detached.world).ioas).toBe(3);
    expectErrno(detached.world, destroy(m, detached.world, 3), "ENOENT");
    expectErrno(detached.world, destroy(m, detached.world, 2), "EBUSY");
    const u = step(m, detached.world, {
      kind: "driver",
      driver: "iommufd",
      action: { op: "unbind-device", device: "dev1" },
    });
    expect(u.status).toBe("done");
    if (u.status !== "done") return;
    expect(allocIoas(m, u.world).ioas).toBe(2);
  });

  it("allocating and destroying an IOAS returns to an equal world", () => {
    const m = makeMachine();
    const w0 = allocIoas(m, boot(m)).world;
    const a = allocIoas(m, w0);
    expect(worldsEqual(done(destroy(m, a.world, a.ioas)).world, w0)).toBe(true);
  });
});
