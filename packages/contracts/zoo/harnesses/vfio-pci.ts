/*
 * A harness for the vfio-pci exporter (drivers/vfio/pci/vfio_pci_dmabuf.c):
 * one VFIO function `vfio0` with a 1 MiB BAR 0 below one switch, the
 * contract importer's device `dev1` below another switch of the same
 * P2P-capable host bridge, so `dev1` reaches the BAR through its IOMMU.
 */
import {
  VFIO_DEVICE_FEATURE_GET,
  defineMachine,
  encodeDmaBufFeature,
  topologySchema,
} from "@dmabuf-ref/core";
import type { ExporterDriver, Op, Profile } from "@dmabuf-ref/core";
import { mustStep } from "@dmabuf-ref/contracts";
import type { ExporterUnderTest } from "@dmabuf-ref/contracts";
import { O_CLOEXEC, O_RDWR, vfioPciExporter, vfioProfileOptions } from "@dmabuf-ref/exporters";
import type { VfioPciConfigInput } from "@dmabuf-ref/exporters";

/** The vfio-pci driver's name in the machine. */
export const VFIO_PCI = "vfio-pci";

/** CPU physical base of vfio0's BAR 0 (1 MiB at 256 GiB). */
export const VFIO0_BAR0 = 0x40_0000_0000n;

/**
 * The harness's hardware: vfio0's BAR 0 and the importing device `dev1`,
 * peers through host bridge `hb0` (dev1 behind its IOMMU on another
 * switch), and RAM.
 */
export const VFIO_HARNESS_TOPOLOGY = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x100_0000n },
    { id: "vfio0.bar0", kind: "bar", base: VFIO0_BAR0, size: 0x10_0000n, device: "vfio0" },
  ],
  devices: [
    { id: "vfio0", switch: "sw0" },
    { id: "dev1", switch: "sw1" },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/**
 * The vfio-pci exporter of this harness's hardware, with `config`'s
 * overrides (`krefRearm`, `closeOrder`).
 *
 * @param config - overrides of the driver configuration.
 * @returns the exporter, named `vfio-pci`.
 */
export function harnessVfioPci(config: Omit<VfioPciConfigInput, "devices"> = {}): ExporterDriver {
  return vfioPciExporter({
    ...config,
    devices: [{ id: "vfio0", bars: [{ index: 0, region: "vfio0.bar0" }] }],
  });
}

/** A vfio-pci action as a core `driver` op. */
function vfioAction(action: Readonly<Record<string, unknown>>): Op {
  return { kind: "driver", driver: VFIO_PCI, action };
}

/**
 * `ioctl(device_fd, VFIO_DEVICE_FEATURE, GET | DMA_BUF)` on vfio0's BAR 0
 * over `ranges`, as a driver op.
 *
 * @param ranges - the byte ranges of the BAR the dma-buf covers.
 * @returns the op.
 */
export function vfioExportOp(
  ranges: readonly { readonly offset: bigint; readonly length: bigint }[],
): Op {
  return vfioAction({
    op: "VFIO_DEVICE_FEATURE",
    device: "vfio0",
    argp: encodeDmaBufFeature({
      flags: VFIO_DEVICE_FEATURE_GET,
      data: { region_index: 0, open_flags: O_RDWR | O_CLOEXEC, flags: 0 },
      ranges: [...ranges],
    }),
  });
}

/**
 * vfio-pci under test: the export is `ioctl(device_fd, VFIO_DEVICE_FEATURE,
 * GET | DMA_BUF)` over two pages of BAR 0; the revoke for good is the last
 * close of the device fd (`vfio_pci_core_close_device()` runs
 * `vfio_pci_dma_buf_cleanup()`); the temporary revoke is a function-level
 * reset (revoke, reset, un-revoke); the revoke until a restore is the
 * guest clearing PCI_COMMAND.MEMORY.
 *
 * @param exporter - the exporter (default: {@link harnessVfioPci}).
 * @param opts - the profiles; whether the un-revoke must invalidate
 *   (default: what the profile's vfio-pci options say).
 * @returns the harness.
 */
export function vfioPciUnderTest(
  exporter: ExporterDriver = harnessVfioPci(),
  opts: {
    readonly profiles?: readonly Profile[];
    readonly unrevokeInvalidates?: (profile: Profile) => boolean;
  } = {},
): ExporterUnderTest {
  return {
    driver: exporter.name,
    ...(opts.profiles === undefined ? {} : { profiles: opts.profiles }),
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology: VFIO_HARNESS_TOPOLOGY,
        exporters: [exporter],
        importers: [partner],
      }),
    exportBuffer: (m, w) => mustStep(m, w, vfioExportOp([{ offset: 0n, length: 0x2000n }])),
    importingDevice: "dev1",
    revoke: () => vfioAction({ op: "close-device", device: "vfio0" }),
    revokeTemporarily: () => vfioAction({ op: "flr", device: "vfio0" }),
    revokeUntilRestored: () =>
      vfioAction({ op: "config-write-command", device: "vfio0", memory: false }),
    unrevokeInvalidates:
      opts.unrevokeInvalidates ?? ((profile) => vfioProfileOptions(profile).unrevokeInvalidates),
  };
}
