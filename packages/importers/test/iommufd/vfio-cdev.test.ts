/**
 * The VFIO device cdev ioctls that hand a device to iommufd
 * (drivers/vfio/device_cdev.c): VFIO_DEVICE_BIND_IOMMUFD,
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT, each with
 * the kernel's order of checks, and unbind at the fd's close.
 */
import { describe, expect, it } from "vitest";
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  boot,
  step,
  vfioDeviceAttachIommufdPt,
  vfioDeviceBindIommufd,
  vfioDeviceDetachIommufdPt,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import { allocIoas, dma, expectErrno, makeMachine, mapUserOk, PAGE } from "./fixtures.js";

function cdev(
  m: Machine,
  w: World,
  device: string,
  number: number,
  buffer: Uint8Array,
  iommufd?: number,
): StepOutcome {
  const action =
    iommufd === undefined
      ? { op: "vfio-cdev-ioctl", device, number, buffer }
      : { op: "vfio-cdev-ioctl", device, number, buffer, iommufd };
  return step(m, w, { kind: "driver", driver: "iommufd", action });
}

const bindBytes = (f: Partial<ReturnType<typeof vfioDeviceBindIommufd.decode>> = {}): Uint8Array =>
  vfioDeviceBindIommufd.encode({ argsz: 16, flags: 0, iommufd: 3, out_devid: 0, ...f });
const attachBytes = (pt: number, flags = 0): Uint8Array =>
  vfioDeviceAttachIommufdPt.encode({ argsz: 16, flags, pt_id: pt, pasid: 0 });
const detachBytes = (flags = 0): Uint8Array =>
  vfioDeviceDetachIommufdPt.encode({ argsz: 12, flags, pasid: 0 });

function ok(r: StepOutcome): { world: World; out: Uint8Array } {
  if (r.status !== "done" || r.returned?.out === undefined) {
    throw new Error(r.status === "failed" ? `${r.error.errno}: ${r.error.message}` : r.status);
  }
  return { world: r.world, out: r.returned.out };
}

describe("VFIO_DEVICE_BIND_IOMMUFD", () => {
  it("binds the device: out_devid is its device object's id, the lowest free one", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const b = ok(cdev(m, a.world, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes()));
    expect(vfioDeviceBindIommufd.decode(b.out).out_devid).toBe(2);
    expect(iommufdStateOf(m, b.world).bound).toEqual([{ id: 2, device: "dev1" }]);
    expect(iommufdStateOf(m, b.world).devices).toEqual([]);
  });

  it("checks in the kernel's order: short buffer EFAULT, argsz/flags/negative fd EINVAL, bound twice EINVAL, not the iommufd EBADF, no IOMMU EINVAL", () => {
    const m = makeMachine();
    const w = boot(m);
    expectErrno(w, cdev(m, w, "dev1", VFIO_DEVICE_BIND_IOMMUFD, new Uint8Array(12)), "EFAULT");
    expectErrno(
      w,
      cdev(m, w, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes({ argsz: 15 })),
      "EINVAL",
    );
    expectErrno(w, cdev(m, w, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes({ flags: 1 })), "EINVAL");
    expectErrno(
      w,
      cdev(m, w, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes({ iommufd: -1 })),
      "EINVAL",
    );
    expectErrno(
      w,
      cdev(m, w, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes({ iommufd: 4 }), 3),
      "EBADF",
    );
    expectErrno(w, cdev(m, w, "dev2", VFIO_DEVICE_BIND_IOMMUFD, bindBytes()), "EINVAL");
    const b = ok(cdev(m, w, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes(), 3));
    expectErrno(b.world, cdev(m, b.world, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes()), "EINVAL");
  });
});

describe("VFIO_DEVICE_ATTACH_IOMMUFD_PT / VFIO_DEVICE_DETACH_IOMMUFD_PT", () => {
  function bound(): { m: Machine; world: World; ioas: number } {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const b = ok(cdev(m, a.world, "dev1", VFIO_DEVICE_BIND_IOMMUFD, bindBytes()));
    return { m, world: b.world, ioas: a.ioas };
  }

  it("an fd not bound yet answers EINVAL", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    expectErrno(
      a.world,
      cdev(m, a.world, "dev1", VFIO_DEVICE_ATTACH_IOMMUFD_PT, attachBytes(1)),
      "EINVAL",
    );
    expectErrno(
      a.world,
      cdev(m, a.world, "dev1", VFIO_DEVICE_DETACH_IOMMUFD_PT, detachBytes()),
      "EINVAL",
    );
  });

  it("attaching to an IOAS writes back the automatic HWPT's id; DMA goes through its domain", () => {
    const { m, world, ioas } = bound();
    const mapped = mapUserOk(m, world, { ioas, length: PAGE });
    const a = ok(cdev(m, mapped.world, "dev1", VFIO_DEVICE_ATTACH_IOMMUFD_PT, attachBytes(ioas)));
    expect(vfioDeviceAttachIommufdPt.decode(a.out).pt_id).toBe(3);
    expect(dma(m, a.world, "dev1", mapped.iova).outcome).toBe("ok");
  });

  it("short buffer EFAULT, argsz or unknown flags EINVAL, PASID EOPNOTSUPP, an unknown id ENOENT, a device id EINVAL", () => {
    const { m, world, ioas } = bound();
    const attach = (b: Uint8Array): StepOutcome =>
      cdev(m, world, "dev1", VFIO_DEVICE_ATTACH_IOMMUFD_PT, b);
    expectErrno(world, attach(new Uint8Array(8)), "EFAULT");
    expectErrno(
      world,
      attach(vfioDeviceAttachIommufdPt.encode({ argsz: 8, flags: 0, pt_id: ioas, pasid: 0 })),
      "EINVAL",
    );
    expectErrno(world, attach(attachBytes(ioas, 2)), "EINVAL");
    expectErrno(world, attach(attachBytes(ioas, 1)), "EOPNOTSUPP");
    expectErrno(world, attach(attachBytes(42)), "ENOENT");
    expectErrno(world, attach(attachBytes(2)), "EINVAL");
  });

  it("detach ends the device's DMA through the IOAS; detaching again is a no-op; the device stays bound", () => {
    const { m, world, ioas } = bound();
    const mapped = mapUserOk(m, world, { ioas, length: PAGE });
    const a = ok(cdev(m, mapped.world, "dev1", VFIO_DEVICE_ATTACH_IOMMUFD_PT, attachBytes(ioas)));
    const d = cdev(m, a.world, "dev1", VFIO_DEVICE_DETACH_IOMMUFD_PT, detachBytes());
    expect(d.status).toBe("done");
    if (d.status !== "done") return;
    expect(dma(m, d.world, "dev1", mapped.iova).outcome).toBe("fault");
    expect(iommufdStateOf(m, d.world).bound).toEqual([{ id: 2, device: "dev1" }]);
    expect(cdev(m, d.world, "dev1", VFIO_DEVICE_DETACH_IOMMUFD_PT, detachBytes()).status).toBe(
      "done",
    );
    expectErrno(
      d.world,
      cdev(m, d.world, "dev1", VFIO_DEVICE_DETACH_IOMMUFD_PT, detachBytes(2)),
      "EINVAL",
    );
  });

  it("unbind at the fd's close detaches and frees the device id", () => {
    const { m, world, ioas } = bound();
    const a = ok(cdev(m, world, "dev1", VFIO_DEVICE_ATTACH_IOMMUFD_PT, attachBytes(ioas)));
    const u = step(m, a.world, {
      kind: "driver",
      driver: "iommufd",
      action: { op: "unbind-device", device: "dev1" },
    });
    expect(u.status).toBe("done");
    if (u.status !== "done") return;
    expect(iommufdStateOf(m, u.world).bound).toEqual([]);
    expect(iommufdStateOf(m, u.world).hwpts).toEqual([]);
  });

  it("an ioctl number the cdev does not model is ENOTTY", () => {
    const { m, world } = bound();
    expectErrno(world, cdev(m, world, "dev1", 0x3b79, new Uint8Array(16)), "ENOTTY");
  });
});
