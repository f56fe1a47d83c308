/**
 * Devices attached to an IOAS through a domain in the fabric (the VFIO
 * cdev ATTACH path): the device's DMA is translated by the IOAS's domain.
 */
import { describe, expect, it } from "vitest";
import { boot, deviceIndex } from "@dmabuf-ref/core";
import { iommufdStateOf } from "../../src/index.js";
import {
  allocIoas,
  attachDevice,
  attachDeviceStep,
  detachDeviceStep,
  dma,
  exportVfio,
  makeMachine,
  mapFileOk,
  mappingsIn,
  vfioSetup,
} from "./fixtures.js";

describe("iommufdAttachDevice", () => {
  it("the device's DMA-API domain is replaced by the IOAS's domain, filled with every live area", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const e = exportVfio(m, a.world);
    const mapped = mapFileOk(m, e.world, { ioas: a.ioas, fd: e.buf, length: 0x4000n });
    const before = mapped.world.deviceDomains.get(deviceIndex(m, "dev1"));
    const w = attachDevice(m, mapped.world, "dev1", a.ioas);
    const domain = iommufdStateOf(m, w).ioas[0]?.domains[0] ?? -1;
    expect(w.deviceDomains.get(deviceIndex(m, "dev1"))).toBe(domain);
    expect(domain).not.toBe(before);
    expect(mappingsIn(w, domain)).toBe(1);
    // IOAS 1, then the bind's device object 2, then the attach's HWPT 3: one id space.
    expect(iommufdStateOf(m, w).devices).toEqual([
      { id: 2, device: "dev1", ioas: a.ioas, hwpt: 3, domain, previousDomain: before },
    ]);
    expect(iommufdStateOf(m, w).hwpts).toEqual([{ id: 3, ioas: a.ioas, domain }]);
  });

  it("a second device shares the IOAS's domain and is granted every area", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const w = attachDevice(m, mapped.world, "dev0", ioas);
    expect(iommufdStateOf(m, w).ioas[0]?.domains).toHaveLength(1);
    expect(dma(m, w, "dev0", mapped.iova).outcome).toBe("ok");
    expect(dma(m, w, "dev1", mapped.iova).outcome).toBe("ok");
  });

  it("an unknown device or one not behind an IOMMU is EINVAL; an unknown IOAS is ENOENT", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const errnoOf = (device: string, ioas: number): string => {
      const r = attachDeviceStep(m, a.world, device, ioas);
      return r.status === "failed" ? r.error.errno : r.status === "done" ? "ok" : "blocked";
    };
    expect(errnoOf("nic9", a.ioas)).toBe("EINVAL");
    expect(errnoOf("dev2", a.ioas)).toBe("EINVAL");
    expect(errnoOf("dev1", 42)).toBe("ENOENT");
  });

  it("attaching to another IOAS moves the device (VFIO replaces the attachment)", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const b = allocIoas(m, mapped.world);
    const w = attachDevice(m, b.world, "dev1", b.ioas);
    expect(iommufdStateOf(m, w).devices.map((d) => d.ioas)).toEqual([b.ioas]);
    expect(dma(m, w, "dev1", mapped.iova).outcome).toBe("fault");
  });

  it("attaching twice to the same IOAS changes nothing", () => {
    const { m, world, ioas } = vfioSetup();
    const r = attachDeviceStep(m, world, "dev1", ioas);
    expect(r.status === "done" && r.world).toBe(world);
  });
});

describe("iommufdDetachDevice", () => {
  it("restores the DMA-API domain, ends the device's grants and destroys the unused domain", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const before = a.world.deviceDomains.get(deviceIndex(m, "dev1"));
    const e = exportVfio(m, attachDevice(m, a.world, "dev1", a.ioas));
    const mapped = mapFileOk(m, e.world, { ioas: a.ioas, fd: e.buf, length: 0x4000n });
    const domain = iommufdStateOf(m, mapped.world).ioas[0]?.domains[0] ?? -1;
    const r = detachDeviceStep(m, mapped.world, "dev1");
    if (r.status !== "done") throw new Error(r.status === "failed" ? r.error.message : r.reason);
    const w = r.world;
    expect(w.deviceDomains.get(deviceIndex(m, "dev1"))).toBe(before);
    expect(w.domains.get(domain)).toBeUndefined();
    expect(iommufdStateOf(m, w).ioas[0]?.domains).toEqual([]);
    expect([...w.grants.values()].filter((g) => g.device === "dev1")).toEqual([]);
    expect(dma(m, w, "dev1", mapped.iova).outcome).toBe("fault");
    expect(w.violations.size).toBe(0);
  });

  it("a device that is not attached is EINVAL", () => {
    const m = makeMachine();
    const a = allocIoas(m, boot(m));
    const r = detachDeviceStep(m, a.world, "dev1");
    expect(r.status === "failed" ? r.error.errno : r.status === "done" ? "ok" : "blocked").toBe(
      "EINVAL",
    );
  });

  it("the domain stays while another device uses it", () => {
    const { m, world, ioas, buf } = vfioSetup();
    const mapped = mapFileOk(m, attachDevice(m, world, "dev0", ioas), {
      ioas,
      fd: buf,
      length: 0x4000n,
    });
    const r = detachDeviceStep(m, mapped.world, "dev1");
    if (r.status !== "done") throw new Error(r.status === "failed" ? r.error.message : r.reason);
    expect(dma(m, r.world, "dev0", mapped.iova).outcome).toBe("ok");
    expect(dma(m, r.world, "dev1", mapped.iova).outcome).toBe("fault");
  });
});
