/*
 * Every in-repo exporter of @dmabuf-ref/exporters runs the exporter
 * contract suite and passes (issue 13, item 2): vfio-pci, the TTM-like GPU
 * and the RDMA uverbs exporter, each on its own hardware with the contract
 * importer (`ref-importer`) attaching from a peer device.
 *
 * The harnesses live here, not in packages/exporters/test: exporters never
 * import contracts (scripts/eslint-layering.mjs), while contracts' tests may
 * name any driver.
 */
import { defineMachine, linux71, proposalVfioDmabufMmap, topologySchema } from "@dmabuf-ref/core";
import { exporterContract, mustStep } from "@dmabuf-ref/contracts";
import { harnessVfioPci, vfioPciUnderTest } from "@dmabuf-ref/contracts/zoo";
import { gpuExporter, rdmaExporter } from "@dmabuf-ref/exporters";

const MiB = 0x10_0000n;

/**
 * The exporters' devices below one switch, the importing device `dev1`
 * below another switch of the same P2P-capable host bridge: every exporter
 * here is reachable peer to peer (through dev1's IOMMU), as a VFIO BAR or a
 * NIC BAR must be for a dynamic importer to map it.
 */
const topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x100_0000n },
    { id: "vfio0.bar0", kind: "bar", base: 0x40_0000_0000n, size: MiB, device: "vfio0" },
    { id: "gpu0.vram", kind: "vram", base: 0x60_0000_0000n, size: 0x100_0000n, device: "gpu0" },
    { id: "nic0.bar0", kind: "bar", base: 0x70_0000_0000n, size: MiB, device: "nic0" },
  ],
  devices: [
    { id: "vfio0", switch: "sw0" },
    { id: "gpu0", switch: "sw0" },
    { id: "nic0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

// ---------------------------------------------------------------- vfio-pci

/*
 * vfio-pci under mainline v7.1 (the un-revoke invalidates) and under Matt
 * Evans' series v4 (it does not): the harness (the bug zoo's, whose wrong
 * vfio-pci drivers run in the same shape) reads which from the profile's
 * vfio-pci options, so both answers are checked. The export is
 * VFIO_DEVICE_FEATURE GET | DMA_BUF over two pages of BAR 0, the revoke for
 * good the last close of the device fd, the temporary revoke an FLR, the
 * revoke until a restore the guest clearing PCI_COMMAND.MEMORY.
 */
exporterContract(() =>
  vfioPciUnderTest(harnessVfioPci(), { profiles: [linux71, proposalVfioDmabufMmap] }),
);

// ---------------------------------------------------------------------- gpu

/** The revoke cases a TTM exporter has no entry point for, and why. */
const TTM_NEVER_REVOKES =
  "a TTM exporter moves its buffer objects (ttm_bo_move invalidates, the importer re-maps " +
  "the new placement) and has no revoke: dma_buf_invalidate_mappings here is a move";

/*
 * The GPU exporter: buffer objects in VRAM, moved by eviction and migration
 * (its `candidates`, so the model runs race moves with the importer's jobs).
 */
exporterContract(
  () => ({
    driver: "gpu",
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology,
        exporters: [gpuExporter({ devices: [{ id: "gpu0", vram: "gpu0.vram", system: "ram0" }] })],
        importers: [partner],
      }),
    // drm_gem_prime_export() of a two-page BO placed in VRAM.
    exportBuffer: (m, w) =>
      mustStep(m, w, {
        kind: "export",
        exporter: "gpu",
        owner: "gpu0",
        args: { size: 0x2000n, placement: "vram" },
      }),
    importingDevice: "dev1",
    revoke: null,
  }),
  {
    skip: {
      "exporter/revoke-completes": TTM_NEVER_REVOKES,
      "exporter/revoke-races-dma": TTM_NEVER_REVOKES,
      "exporter/revoked-refuses-map": TTM_NEVER_REVOKES,
      "exporter/unrevoke-invalidates": TTM_NEVER_REVOKES,
    },
  },
);

// --------------------------------------------------------------------- rdma

/**
 * The RDMA uverbs exporter: a page-aligned window of the NIC's BAR per
 * dma-buf, revoked for good when its mmap entry is removed.
 */
exporterContract(
  () => ({
    driver: "rdma",
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology,
        exporters: [rdmaExporter({ devices: [{ id: "nic0", bar: "nic0.bar0" }] })],
        importers: [partner],
      }),
    exportBuffer: (m, w) =>
      mustStep(m, w, {
        kind: "export",
        exporter: "rdma",
        owner: "nic0",
        args: { size: 0x2000n, offset: 0n },
      }),
    importingDevice: "dev1",
    // rdma_user_mmap_entry_remove(): the uverbs object's destroy revokes
    // the dma-buf for good (kref + completion: it waits for every unmap).
    revoke: (_m, _w, buf) => ({
      kind: "driver",
      driver: "rdma",
      action: { op: "remove-mmap-entry", buf },
    }),
  }),
  {
    skip: {
      "exporter/unrevoke-invalidates":
        "the RDMA uverbs exporter has no temporary revoke: removing the mmap entry is final",
    },
  },
);
