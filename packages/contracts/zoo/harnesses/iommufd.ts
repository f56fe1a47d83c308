/*
 * A harness for the iommufd importer (drivers/iommu/iommufd): a VMM
 * allocates an IOAS, attaches `dev1` to it and maps the contract
 * exporter's dma-buf with IOMMU_IOAS_MAP_FILE at a fixed IOVA; `dev1`
 * accesses the buffer by DMA at that IOVA; the VMM lets go with
 * IOMMU_IOAS_UNMAP of the area (iopt_release_pages: unpin, detach, put).
 */
import {
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  defineMachine,
  iommuIoasAlloc,
  iommuIoasMapFile,
  iommuIoasUnmap,
  referenceExporter,
  topologySchema,
} from "@dmabuf-ref/core";
import type { ImporterDriver, Machine, Op, World } from "@dmabuf-ref/core";
import { CONTRACT_EXPORTER, mustStep, mustSteps } from "@dmabuf-ref/contracts";
import type { ImporterUnderTest } from "@dmabuf-ref/contracts";
import { IOMMUFD, iommufdStateOf } from "@dmabuf-ref/importers";

/** Where the VMM maps the dma-buf in the IOAS (`IOMMU_IOAS_MAP_FIXED_IOVA`). */
export const IOMMUFD_HARNESS_IOVA = 0x10_0000n;

/** The contract buffer's length: two pages, as the importer suite exports it. */
const LENGTH = 0x2000n;

/** RAM for the contract exporter, its owner `exp0`, and `dev1` behind the IOMMU. */
const topology = topologySchema.parse({
  regions: [{ id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x100_0000n }],
  devices: [
    { id: "exp0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/** An ioctl on the iommufd fd as a core `driver` op. */
function ioctl(number: number, buffer: Uint8Array): Op {
  return { kind: "driver", driver: IOMMUFD, action: { op: "ioctl", number, buffer } };
}

/** The first IOAS and its area at the harness's IOVA, if the VMM mapped one. */
function mapped(m: Machine, w: World): { ioas: number; area: boolean } | undefined {
  const ioas = iommufdStateOf(m, w).ioas[0];
  if (ioas === undefined) return undefined;
  return { ioas: ioas.id, area: ioas.areas.some((a) => a.iova === IOMMUFD_HARNESS_IOVA) };
}

/**
 * iommufd under test. The contract exporter here carries the iommufd
 * selftest mock's private hook (`referenceExporter({ selftestHook: true })`,
 * kernel-model §3.3 step 4, §3.6), because iommufd imports only dma-bufs
 * that answer `vfio_pci_dma_buf_iommufd_map` (any other is EOPNOTSUPP);
 * otherwise it is the contract exporter, under the same name.
 *
 * @param importer - the importer, named `iommufd` (`iommufdImporter()` or a
 *   wrapped, wrong one).
 * @returns the harness.
 */
export function iommufdUnderTest(importer: ImporterDriver): ImporterUnderTest {
  return {
    driver: importer.name,
    machine: (profile) =>
      defineMachine({
        profile,
        topology,
        exporters: [
          referenceExporter({ name: CONTRACT_EXPORTER, region: "ram0", selftestHook: true }),
        ],
        importers: [importer],
      }),
    exportingDevice: "exp0",
    importBuffer: (m, w, buf) => {
      const alloc = iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 });
      const withIoas = mustStep(m, w, ioctl(IOMMU_IOAS_ALLOC, alloc));
      const ioas = mapped(m, withIoas)?.ioas;
      if (ioas === undefined) throw new Error("IOMMU_IOAS_ALLOC made no IOAS");
      const mapFile = iommuIoasMapFile.encode({
        size: iommuIoasMapFile.size,
        flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_FIXED_IOVA,
        ioas_id: ioas,
        fd: buf,
        start: 0n,
        length: LENGTH,
        iova: IOMMUFD_HARNESS_IOVA,
      });
      return mustSteps(m, withIoas, [
        { kind: "driver", driver: IOMMUFD, action: { op: "attach-device", device: "dev1", ioas } },
        ioctl(IOMMU_IOAS_MAP_FILE, mapFile),
      ]);
    },
    access: (m, w, _buf, dir) =>
      mapped(m, w)?.area === true
        ? [{ kind: "dma", device: "dev1", addr: IOMMUFD_HARNESS_IOVA, len: 8n, dir }]
        : [],
    release: (m, w) => {
      const at = mapped(m, w);
      if (at?.area !== true) return [];
      const unmap = iommuIoasUnmap.encode({
        size: iommuIoasUnmap.size,
        ioas_id: at.ioas,
        iova: IOMMUFD_HARNESS_IOVA,
        length: LENGTH,
      });
      return [ioctl(IOMMU_IOAS_UNMAP, unmap)];
    },
  };
}
