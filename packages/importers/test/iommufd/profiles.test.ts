/**
 * What iommufd accepts and where it refuses under each profile
 * (kernel-model §3.3, §4.3, §4.4; DESIGN §3.4).
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  defineProfile,
  linux619,
  linux71,
  mustBuf,
  pal,
  payloadAs,
  proposalConverters,
  rfcMappingTypesV1,
} from "@dmabuf-ref/core";
import { iommufdAccepts, iommufdImportCapability, iommufdStateOf } from "../../src/index.js";
import {
  dma,
  expectErrno,
  exportForeign,
  exportVfio,
  makeMachine,
  mapFile,
  mapFileOk,
  revoke,
  unmapOk,
  vfioSetup,
} from "./fixtures.js";

const request = { device: "iommufd", dynamic: true, peer2peer: true };
const acceptIds = (p: Parameters<typeof makeMachine>[0]): string[] => {
  const m = makeMachine(p);
  return iommufdAccepts(m, boot(m), request).map((a) => a.type.id);
};

describe("iommufd's accept list follows the profile's mapping types", () => {
  it("linux-6.19 and linux-7.1: [vfio-iommufd-private, sgt]", () => {
    expect(acceptIds(linux619)).toEqual(["vfio-iommufd-private", "sgt"]);
    expect(acceptIds(linux71)).toEqual(["vfio-iommufd-private", "sgt"]);
  });

  it("rfc-mapping-types-v1: [pal]; proposal-converters: [iommu-domain]", () => {
    expect(acceptIds(rfcMappingTypesV1)).toEqual(["pal"]);
    expect(acceptIds(proposalConverters)).toEqual(["iommu-domain"]);
  });
});

describe("linux-6.19 / linux-7.1: the private interconnect", () => {
  it("a foreign exporter is EOPNOTSUPP under both (non-VFIO dma-buf, kernel-model §3.3)", () => {
    for (const p of [linux619, linux71]) {
      const { m, world, ioas } = vfioSetup(p);
      const f = exportForeign(m, world);
      expectErrno(f.world, mapFile(m, f.world, { ioas, fd: f.buf, length: 0x4000n }), "EOPNOTSUPP");
    }
  });
});

describe("iommufd pins (7.1) against VFIO's always-failing pin (6.19-rc, kernel-model §2.4)", () => {
  it("a profile where iommufd pins but VFIO's pin fails refuses MAP_FILE at dma_buf_pin with EOPNOTSUPP", () => {
    const mixed = defineProfile({
      ...linux619,
      id: "6.19-vfio-with-7.1-iommufd",
      drivers: {
        ...linux619.drivers,
        iommufd: { pins: true, releaseUnpinsUnderResv: true, releaseDetachesFirst: true },
      },
    });
    const { m, world, ioas, buf } = vfioSetup(mixed);
    expectErrno(world, mapFile(m, world, { ioas, fd: buf, length: 0x4000n }), "EOPNOTSUPP");
    expect(iommufdImportCapability(m, world, buf)).toMatchObject({
      stage: "pin",
      errno: "EOPNOTSUPP",
    });
  });
});

describe("rfc-mapping-types-v1: PAL (RFC 23-25/26)", () => {
  it("a VFIO dma-buf is imported through PAL: the attach holds a PAL mapping, DMA is ok", () => {
    const { m, world, ioas, buf } = vfioSetup(rfcMappingTypesV1);
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const att = mapped.world.atts.get(mustBuf(mapped.world, buf).attachments[0] ?? -1);
    expect(att?.mapType).toBe("pal");
    expect(payloadAs(pal, att?.mapping?.payload)).toEqual({
      phys: [{ paddr: 0x40_0000_0000n, len: 0x4000n }],
    });
    expect(dma(m, mapped.world, "dev1", mapped.iova + 0x1000n).outcome).toBe("ok");
  });

  it("a multi-range dma-buf is walked range by range, not refused", () => {
    const { m, world, ioas } = vfioSetup(rfcMappingTypesV1);
    const e = exportVfio(m, world, {
      region: "vfio0.bar0",
      ranges: [
        { offset: 0x10000n, length: 0x2000n },
        { offset: 0x40000n, length: 0x2000n },
      ],
    });
    const mapped = mapFileOk(m, e.world, { ioas, fd: e.buf, start: 0x1000n, length: 0x2000n });
    expect(dma(m, mapped.world, "dev1", mapped.iova).detail).toBe("vfio0.bar0+0x11000");
    expect(dma(m, mapped.world, "dev1", mapped.iova + 0x1000n).detail).toBe("vfio0.bar0+0x40000");
  });

  it("revoke releases the PAL mapping (dma_buf_pal_unmap_phys) and the area dies", () => {
    const { m, world, ioas, buf } = vfioSetup(rfcMappingTypesV1);
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m, mapped.world, buf);
    const att = r.atts.get(mustBuf(r, buf).attachments[0] ?? -1);
    expect(att?.mapping).toBeNull();
    expect(dma(m, r, "dev1", mapped.iova).outcome).toBe("fault");
    const u = unmapOk(m, r, ioas, mapped.iova, 0x4000n);
    expect(u.world.atts.size).toBe(0);
  });

  it("UNMAP of a live PAL area releases the mapping, unpins and detaches", () => {
    const { m, world, ioas, buf } = vfioSetup(rfcMappingTypesV1);
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const u = unmapOk(m, mapped.world, ioas, mapped.iova, 0x4000n);
    expect(u.world.atts.size).toBe(0);
    expect(mustBuf(u.world, buf).fileRefs).toBe(1);
  });

  it("an exporter without PAL fails the attach with EINVAL from negotiation (the RFC's errno)", () => {
    const { m, world, ioas } = vfioSetup(rfcMappingTypesV1);
    const f = exportForeign(m, world);
    expectErrno(f.world, mapFile(m, f.world, { ioas, fd: f.buf, length: 0x4000n }), "EINVAL");
  });
});

describe("proposal-converters: the iommu-domain type", () => {
  it("MAP_FILE of a PAL exporter's dma-buf maps through core's pal->iommu-domain converter", () => {
    const { m, world, ioas, buf } = vfioSetup(proposalConverters);
    const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
    const pages = iommufdStateOf(m, mapped.world).pages[0]?.pages;
    expect(pages).toMatchObject({ kind: "dmabuf", mappedBy: "core", phys: [] });
    expect(dma(m, mapped.world, "dev1", mapped.iova).outcome).toBe("ok");
  });
});
