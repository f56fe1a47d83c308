/**
 * What iommufd accepts and where it refuses under each profile
 * (kernel-facts §3.3, §4.3, §4.4; DESIGN §3.4).
 */
import { describe, expect, it } from "vitest";
import {
  defineProfile,
  linux619,
  linux71,
  mustBuf,
  proposalConverters,
  rfcMappingTypesV1,
} from "@dmabuf-ref/core";
import { iommufdAccepts, iommufdImportCapability, iommufdStateOf } from "../../src/index.js";
import {
  dma,
  expectErrno,
  exportForeign,
  exportVfio,
  makeWorld,
  mapFile,
  mapFileOk,
  revoke,
  unmapOk,
  vfioSetup,
} from "./fixtures.js";

const request = { device: "iommufd", dynamic: true, peer2peer: true };
const acceptIds = (p: Parameters<typeof makeWorld>[0]): string[] =>
  iommufdAccepts(makeWorld(p), request).map((a) => a.type.id);

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
  it("a foreign exporter is EOPNOTSUPP under both (non-VFIO dma-buf, kernel-facts §3.3)", () => {
    for (const p of [linux619, linux71]) {
      const { world, ioas } = vfioSetup(p);
      const f = exportForeign(world);
      expectErrno(f.world, mapFile(f.world, { ioas, fd: f.buf, length: 0x4000n }), "EOPNOTSUPP");
    }
  });
});

describe("iommufd pins (7.1) against VFIO's always-failing pin (6.19-rc, kernel-facts §2.4)", () => {
  it("a profile where iommufd pins but VFIO's pin fails refuses MAP_FILE at dma_buf_pin with EOPNOTSUPP", () => {
    const mixed = defineProfile({
      ...linux619,
      id: "6.19-vfio-with-7.1-iommufd",
      rules: { ...linux619.rules, iommufdPins: true },
    });
    const { world, ioas, buf } = vfioSetup(mixed);
    expectErrno(world, mapFile(world, { ioas, fd: buf, length: 0x4000n }), "EOPNOTSUPP");
    expect(iommufdImportCapability(world, buf)).toMatchObject({
      stage: "pin",
      errno: "EOPNOTSUPP",
    });
  });
});

describe("rfc-mapping-types-v1: PAL (RFC 23-25/26)", () => {
  it("a VFIO dma-buf is imported through PAL: the attach holds a PAL mapping, DMA is ok", () => {
    const { world, ioas, buf } = vfioSetup(rfcMappingTypesV1);
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const att = m.world.atts.get(mustBuf(m.world, buf).attachments[0] ?? -1);
    expect(att?.mapType).toBe("pal");
    expect(att?.mapping?.payload).toEqual({ phys: [{ paddr: 0x40_0000_0000n, len: 0x4000n }] });
    expect(dma(m.world, "dev1", m.iova + 0x1000n).outcome).toBe("ok");
  });

  it("a multi-range dma-buf is walked range by range, not refused", () => {
    const { world, ioas } = vfioSetup(rfcMappingTypesV1);
    const e = exportVfio(world, {
      region: "vfio0.bar0",
      ranges: [
        { offset: 0x10000n, length: 0x2000n },
        { offset: 0x40000n, length: 0x2000n },
      ],
    });
    const m = mapFileOk(e.world, { ioas, fd: e.buf, start: 0x1000n, length: 0x2000n });
    expect(dma(m.world, "dev1", m.iova).detail).toBe("vfio0.bar0+0x11000");
    expect(dma(m.world, "dev1", m.iova + 0x1000n).detail).toBe("vfio0.bar0+0x40000");
  });

  it("revoke releases the PAL mapping (dma_buf_pal_unmap_phys) and the area dies", () => {
    const { world, ioas, buf } = vfioSetup(rfcMappingTypesV1);
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const r = revoke(m.world, buf);
    const att = r.atts.get(mustBuf(r, buf).attachments[0] ?? -1);
    expect(att?.mapping).toBeNull();
    expect(dma(r, "dev1", m.iova).outcome).toBe("fault");
    const u = unmapOk(r, ioas, m.iova, 0x4000n);
    expect(u.world.atts.size).toBe(0);
  });

  it("UNMAP of a live PAL area releases the mapping, unpins and detaches", () => {
    const { world, ioas, buf } = vfioSetup(rfcMappingTypesV1);
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const u = unmapOk(m.world, ioas, m.iova, 0x4000n);
    expect(u.world.atts.size).toBe(0);
    expect(mustBuf(u.world, buf).fileRefs).toBe(1);
  });

  it("an exporter without PAL fails the attach with EINVAL from negotiation (the RFC's errno)", () => {
    const { world, ioas } = vfioSetup(rfcMappingTypesV1);
    const f = exportForeign(world);
    expectErrno(f.world, mapFile(f.world, { ioas, fd: f.buf, length: 0x4000n }), "EINVAL");
  });
});

describe("proposal-converters: the iommu-domain type", () => {
  it("MAP_FILE of a PAL exporter's dma-buf maps through core's pal->iommu-domain converter", () => {
    const { world, ioas, buf } = vfioSetup(proposalConverters);
    const m = mapFileOk(world, { ioas, fd: buf, length: 0x4000n });
    const pages = iommufdStateOf(m.world).pages[0]?.pages;
    expect(pages).toMatchObject({ kind: "dmabuf", mappedBy: "core", phys: [] });
    expect(dma(m.world, "dev1", m.iova).outcome).toBe("ok");
  });
});
