/*
 * Every in-repo dma-buf importer of @dmabuf-ref/importers runs the importer
 * contract suite and passes (issue 13, item 2): iommufd, KVM and the three
 * RDMA umem importers, each importing the contract exporter's buffer the way
 * its users do (an ioctl, a memslot, an MR registration) and reaching it
 * with its own device.
 *
 * vfio-type1 gets no importer suite: it is not a dma-buf importer. It maps
 * the PFNs of a VM_PFNMAP VMA (vaddr_get_pfns -> follow_pfnmap) with no
 * attachment and no lifetime link to the exporter, so there is nothing a
 * revoke can invalidate; the bug zoo's PFN-fishing entry shows what that
 * costs.
 *
 * The harnesses live here, not in packages/importers/test: importers never
 * import contracts (scripts/eslint-layering.mjs), while contracts' tests may
 * name any driver.
 */
import { describe } from "vitest";
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  defineMachine,
  err,
  iommuDestroy,
  iommuIoasAlloc,
  iommuIoasMapFile,
  iommuIoasUnmap,
  isPayloadOf,
  kvmPfn,
  linux71,
  mappingPayload,
  mustAtt,
  mustBuf,
  offer,
  ok,
  proposalConverters,
  rfcMappingTypesV1,
  refExporterPriv,
  sgt,
  step,
  topologySchema,
} from "@dmabuf-ref/core";
import type { ExporterDriver, Machine, Op, Profile, World } from "@dmabuf-ref/core";
import { importerContract, mustStep, mustSteps } from "@dmabuf-ref/contracts";
import type { ImporterUnderTest, ThreadCall } from "@dmabuf-ref/contracts";
import {
  IOMMUFD,
  KVM,
  iommufdImporter,
  iommufdStateOf,
  kvmImporter,
  kvmStateOf,
  rdmaOdpImporter,
  rdmaPinnedImporter,
  rdmaPinnedRevocableImporter,
  rdmaStateOf,
} from "@dmabuf-ref/importers";
import type { RdmaImporterName } from "@dmabuf-ref/importers";

/**
 * RAM for the contract exporter (`ram0`, owned by `exp0`), and the
 * importing devices behind the IOMMU on another switch: `dev1` (a VFIO
 * device attached to an iommufd IOAS) and `nic0` (an RDMA NIC).
 */
const topology = topologySchema.parse({
  regions: [{ id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x100_0000n }],
  devices: [
    { id: "exp0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
    { id: "nic0", switch: "sw1" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/** A driver-op call of an importer. */
function driverOp(driver: string, action: Record<string, unknown>): Op {
  return { kind: "driver", driver, action };
}

/** Steps an op that must run and returns what the kernel copied back (an ioctl's struct). */
function mustIoctl(m: Machine, w: World, op: Op): { world: World; out: Uint8Array } {
  const r = step(m, w, op);
  if (r.status !== "done" || r.returned?.out === undefined)
    throw new Error(
      `${op.kind}: ${r.status === "failed" ? `${r.error.errno}: ${r.error.message}` : r.status}`,
    );
  return { world: r.world, out: r.returned.out };
}

// ------------------------------------------------------------------ iommufd

/** The device iommufd's harness attaches to its IOAS (a VFIO cdev device). */
const IOMMUFD_DEVICE = "dev1";

/** The area of an IOAS that maps `buf` (IOMMU_IOAS_MAP_FILE of its fd), if any. */
function iommufdAreaOf(
  m: Machine,
  w: World,
  buf: number,
): { ioas: number; iova: bigint; length: bigint } | undefined {
  const state = iommufdStateOf(m, w);
  const pages = new Set(
    state.pages.filter((p) => p.pages.kind === "dmabuf" && p.pages.buf === buf).map((p) => p.id),
  );
  for (const ioas of state.ioas)
    for (const area of ioas.areas)
      if (pages.has(area.pages)) return { ioas: ioas.id, iova: area.iova, length: area.length };
  return undefined;
}

/** `IOMMU_IOAS_MAP_FILE` of the whole buffer at an IOVA iommufd picks, read-write. */
function mapFileOp(ioas: number, buf: number, length: bigint): Op {
  return driverOp(IOMMUFD, {
    op: "ioctl",
    number: IOMMU_IOAS_MAP_FILE,
    buffer: iommuIoasMapFile.encode({
      size: iommuIoasMapFile.size,
      flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
      ioas_id: ioas,
      fd: buf,
      start: 0n,
      length,
      iova: 0n,
    }),
  });
}

/** `IOMMU_IOAS_UNMAP` of one area. */
function unmapOp(ioas: number, iova: bigint, length: bigint): Op {
  return driverOp(IOMMUFD, {
    op: "ioctl",
    number: IOMMU_IOAS_UNMAP,
    buffer: iommuIoasUnmap.encode({ size: iommuIoasUnmap.size, ioas_id: ioas, iova, length }),
  });
}

/*
 * iommufd: IOMMU_IOAS_ALLOC, the VFIO device attached to the IOAS
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT), IOMMU_IOAS_MAP_FILE of the dma-buf fd; the
 * device's DMA at the mapped IOVA; IOAS_UNMAP, detach, IOMMU_DESTROY. Under
 * linux-7.1 through the private phys lookup, under the RFC through PAL, under
 * proposal-converters through core's PAL->iommu-domain converter. Not under
 * linux-6.19 or linux-7.1.0: their iommufd release destroys the pages state
 * before it detaches (fixed by f2d70dbd3dce), which `importer/release-races-
 * revoke` reports, as it should (the bug zoo's case).
 */
importerContract(() => ({
  driver: IOMMUFD,
  profiles: [linux71, rfcMappingTypesV1, proposalConverters],
  // linux-7.1's iommufd imports a dma-buf only through the private phys
  // lookup (vfio_pci_dma_buf_iommufd_map), which among non-VFIO exporters
  // only the selftest mock provides: the contract exporter has that hook.
  machine: (profile, partner) =>
    defineMachine({
      profile,
      topology,
      exporters: [partner],
      importers: [iommufdImporter()],
    }),
  importBuffer: (m, w, buf) => {
    const alloc = mustIoctl(
      m,
      w,
      driverOp(IOMMUFD, {
        op: "ioctl",
        number: IOMMU_IOAS_ALLOC,
        buffer: iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 }),
      }),
    );
    const ioas = iommuIoasAlloc.decode(alloc.out).out_ioas_id;
    return mustSteps(m, alloc.world, [
      driverOp(IOMMUFD, { op: "attach-device", device: IOMMUFD_DEVICE, ioas }),
      mapFileOp(ioas, buf, mustBuf(alloc.world, buf).size),
    ]);
  },
  access: (m, w, buf, dir) => {
    const area = iommufdAreaOf(m, w, buf);
    if (area === undefined) return [];
    return [{ kind: "dma", device: IOMMUFD_DEVICE, addr: area.iova, len: 8n, dir }];
  },
  release: (m, w, buf) => {
    const area = iommufdAreaOf(m, w, buf);
    if (area === undefined) return [];
    return [
      unmapOp(area.ioas, area.iova, area.length),
      driverOp(IOMMUFD, { op: "detach-device", device: IOMMUFD_DEVICE }),
      driverOp(IOMMUFD, {
        op: "ioctl",
        number: IOMMU_DESTROY,
        buffer: iommuDestroy.encode({ size: 8, id: area.ioas }),
      }),
    ];
  },
  // The VMM's calls: device attach and detach (iommufd's own candidates),
  // MAP_FILE of every live contract buffer into every IOAS, and UNMAP of
  // every area.
  userOps: (m, w) => {
    const ops: Op[] = [...(m.importers.get(IOMMUFD)?.candidates?.(m, w) ?? [])];
    const state = iommufdStateOf(m, w);
    for (const ioas of state.ioas) {
      for (const [buf, b] of w.bufs.entries())
        if (!b.released) ops.push(mapFileOp(ioas.id, buf, b.size));
      for (const area of ioas.areas) ops.push(unmapOp(ioas.id, area.iova, area.length));
    }
    return ops;
  },
}));

// ---------------------------------------------------------------------- kvm

/** The guest frame KVM's harness puts its memslot at (4 GiB). */
const KVM_GFN = 0x10_0000n;

/**
 * The contract exporter with a `get_pfn` (Xu Yilun's exporter op,
 * kernel-model §5.1) where the profile has `kvm-pfn`: RAM, so write-back
 * and not MMIO; refused with ENODEV once revoked, as its map is. The
 * contract exporter (the iommufd selftest mock) has no `get_pfn`: a KVM
 * import needs an exporter that offers `kvm-pfn`, so the harness adds it.
 */
function withGetPfn(partner: ExporterDriver): ExporterDriver {
  return {
    ...partner,
    offers: (m, w, buf) => [
      ...(m.profile.mappingTypes.includes(kvmPfn) ? [offer(kvmPfn, { mmio: false })] : []),
      ...partner.offers(m, w, buf),
    ],
    map: (m, w, att) => {
      const a = mustAtt(w, att);
      if (a.exporterType !== kvmPfn.id) return partner.map(m, w, att);
      const b = mustBuf(w, a.buf);
      if (b.revoked !== "usable") return err("ENODEV", "the buffer is revoked");
      const priv = refExporterPriv(b);
      if (priv === undefined) throw new Error(`buf ${a.buf} is not the contract exporter's`);
      const payload = mappingPayload(kvmPfn, {
        ranges: [{ paddr: priv.phys, len: b.size }],
        mmio: false,
        cache: "write-back",
      });
      return ok({ world: w, events: [], mapping: { payload, grants: [], iova: [] } });
    },
  };
}

/** KVM's memslot backed by `buf`, if any. */
function kvmSlotOf(m: Machine, w: World, buf: number): number | undefined {
  return kvmStateOf(m, w).slots.find((s) => s.buf === buf)?.slot;
}

/** The KVM harness under a profile that has Xu Yilun's series. */
function kvmHarness(profiles: readonly Profile[]): ImporterUnderTest {
  return {
    driver: KVM,
    profiles,
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology,
        exporters: [withGetPfn(partner)],
        importers: [kvmImporter()],
      }),
    // KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_VFIO_DMABUF over the whole buffer.
    importBuffer: (m, w, buf) =>
      mustStep(
        m,
        w,
        driverOp(KVM, {
          op: "KVM_SET_USER_MEMORY_REGION2",
          slot: 0,
          gfnBase: KVM_GFN,
          npages: mustBuf(w, buf).size / 0x1000n,
          fd: buf,
          offset: 0n,
        }),
      ),
    // A guest load or store at the slot's first frame (faulting it in
    // through get_pfn on a stage-2 miss).
    access: (m, w, buf, dir) => {
      const slot = kvmSlotOf(m, w, buf);
      if (slot === undefined) return [];
      return [driverOp(KVM, { op: "guest-access", slot, gfn: KVM_GFN, offset: 0n, len: 8n, dir })];
    },
    // The model has no memslot deletion (see the skip below).
    release: () => [],
  };
}

/** Every importer case, for a registration whose whole suite does not apply. */
const IMPORTER_CASE_IDS = [
  "importer/lifetime",
  "importer/revoke-unmaps",
  "importer/no-access-after-unmap",
  "importer/release-races-revoke",
  "importer/unrevoke-is-harmless",
  "importer/failed-calls-change-nothing",
  "importer/model-runs-keep-the-rules",
] as const;

/** Skips every case with one reason. */
function skipAll(reason: string): Record<string, string> {
  return Object.fromEntries(IMPORTER_CASE_IDS.map((id) => [id, reason]));
}

/*
 * KVM under proposal-converters (Xu Yilun's series is on there): a
 * revocable, dynamic importer whose move_notify zaps the slot.
 */
importerContract(() => kvmHarness([proposalConverters]), {
  skip: {
    "importer/lifetime":
      "model limit: KVM's memslot deletion (KVM_SET_USER_MEMORY_REGION2 with memory_size 0, " +
      "which unbinds the dma-buf) is not modelled, so a KVM import cannot be released",
  },
});

describe("linux-7.1 (KVM imports no dma-buf)", () => {
  importerContract(() => kvmHarness([linux71]), {
    skip: skipAll(
      "linux-7.1 has no KVM_MEM_VFIO_DMABUF (Xu Yilun's series is not merged): the memslot " +
        "flag is EINVAL, KVM imports no dma-buf",
    ),
  });
});

// --------------------------------------------------------------------- rdma

/** The RDMA NIC the umem importers register MRs for. */
const NIC = "nic0";

/** The umem of `importer` over `buf`, if any. */
function umemOf(
  m: Machine,
  w: World,
  importer: RdmaImporterName,
  buf: number,
): { att: number; revoked: boolean } | undefined {
  return rdmaStateOf(m, w, importer).umems.find((u) => u.buf === buf);
}

/** The NIC's DMA address of an attachment's mapping (its SGT's first entry), if mapped. */
function mappedAddr(w: World, att: number): bigint | undefined {
  const payload = w.atts.get(att)?.mapping?.payload;
  return isPayloadOf(sgt, payload) ? payload.value.entries[0]?.dmaAddress : undefined;
}

/**
 * An RDMA umem importer: `ib_umem_dmabuf_get*()` of the whole buffer for
 * the NIC, the NIC's DMA through the MR, `ib_umem_release()`.
 */
function rdmaHarness(
  driver: RdmaImporterName,
  make: () => ReturnType<typeof rdmaOdpImporter>,
  profiles: readonly Profile[],
): ImporterUnderTest {
  return {
    driver,
    profiles,
    machine: (profile, partner) =>
      defineMachine({ profile, topology, exporters: [partner], importers: [make()] }),
    importBuffer: (m, w, buf) =>
      mustStep(
        m,
        w,
        driverOp(driver, {
          op: "ib_umem_dmabuf_get",
          device: NIC,
          fd: buf,
          offset: 0n,
          size: mustBuf(w, buf).size,
        }),
      ),
    access: (m, w, buf, dir) => {
      const umem = umemOf(m, w, driver, buf);
      if (umem === undefined) return [];
      const att = umem.att;
      const fault = driverOp(driver, { op: "odp-fault", att });
      // The NIC's access through the MR: its DMA at the MR's address while
      // the MR is mapped; an ODP MR that is not (never faulted in, or
      // invalidated since) takes a page fault instead, which re-maps it.
      const dma: ThreadCall = (now) => {
        const addr = mappedAddr(now, att);
        if (addr === undefined) return fault;
        return { kind: "dma", device: NIC, addr, len: 8n, dir };
      };
      if (driver === "rdma-odp") return [fault, dma];
      const addr = mappedAddr(w, att);
      return addr === undefined ? [] : [dma];
    },
    release: (m, w, buf) => {
      const umem = umemOf(m, w, driver, buf);
      return umem === undefined ? [] : [driverOp(driver, { op: "ib_umem_release", att: umem.att })];
    },
  };
}

/*
 * rdma-odp (ib_umem_dmabuf_get, an ODP MR): revocable under linux-7.1 and the
 * proposals; its invalidate zaps the MR and unmaps, the next ODP fault re-maps.
 */
importerContract(() => rdmaHarness("rdma-odp", rdmaOdpImporter, [linux71, proposalConverters]));

/** Why the pinned importer has no revoke cases. */
const PINNED_NOT_REVOCABLE =
  "rdma-pinned (ib_umem_dmabuf_get_pinned) has no invalidate_mappings since 7.1, so it is not " +
  "dma_buf_attach_revocable(): it never unmaps on a revoke, and revocable exporters refuse it " +
  "(VFIO's attach: EOPNOTSUPP, kernel-facts §1.3); a revoke of its buffer completes only " +
  "once it releases the MR";

/*
 * rdma-pinned under linux-7.1: imports from an exporter that does not
 * require revocable importers (the contract exporter, like iommufd's selftest
 * mock), holds its pin and mapping until released. Its release racing a
 * revoke and the model runs are still checked: nothing it does breaks a rule.
 */
importerContract(() => rdmaHarness("rdma-pinned", rdmaPinnedImporter, [linux71]), {
  skip: {
    "importer/revoke-unmaps": PINNED_NOT_REVOCABLE,
    "importer/no-access-after-unmap": PINNED_NOT_REVOCABLE,
    "importer/unrevoke-is-harmless": PINNED_NOT_REVOCABLE,
  },
});

/*
 * rdma-pinned-revocable (Jacob Moroni's series) under proposal-converters,
 * where its entry point exists: pinned, and revocable for good.
 */
importerContract(() =>
  rdmaHarness("rdma-pinned-revocable", rdmaPinnedRevocableImporter, [proposalConverters]),
);

describe("linux-7.1 (no pinned-revocable interface)", () => {
  importerContract(
    () => rdmaHarness("rdma-pinned-revocable", rdmaPinnedRevocableImporter, [linux71]),
    {
      skip: skipAll(
        "linux-7.1 has no ib_umem_dmabuf_get_pinned_revocable_and_lock() (Jacob Moroni's " +
          "series is not merged): the registration fails with EOPNOTSUPP, nothing is imported",
      ),
    },
  );
});
