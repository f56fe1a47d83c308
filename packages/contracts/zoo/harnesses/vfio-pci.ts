/*
 * A harness for the vfio-pci exporter (drivers/vfio/pci/vfio_pci_dmabuf.c):
 * one VFIO function `vfio0` with a 1 MiB BAR 0 below one switch, the
 * contract importer's device `dev1` below another switch of the same
 * P2P-capable host bridge, so `dev1` reaches the BAR through its IOMMU.
 */
import * as z from "zod";
import {
  VFIO_DEVICE_FEATURE_GET,
  defineDriverOp,
  defineMachine,
  encodeDmaBufFeature,
  step,
  topologySchema,
} from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Op, Profile } from "@dmabuf-ref/core";
import { mustStep } from "@dmabuf-ref/contracts";
import type { ExporterUnderTest } from "@dmabuf-ref/contracts";
import {
  O_CLOEXEC,
  O_RDWR,
  vfioDeviceState,
  vfioOperations,
  vfioPciExporter,
  vfioProfileOptions,
} from "@dmabuf-ref/exporters";
import type { VfioPciConfigInput } from "@dmabuf-ref/exporters";

/** The vfio-pci driver's name in the machine. */
export const VFIO_PCI = "vfio-pci";

/** vfio0's BAR 0 and the importing device `dev1`, peers through host bridge `hb0`. */
const topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x100_0000n },
    { id: "vfio0.bar0", kind: "bar", base: 0x40_0000_0000n, size: 0x10_0000n, device: "vfio0" },
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

/** The name of the harness's VMM (a driver of the machine with no dma-buf role). */
export const VMM = "vmm";

/**
 * The VMM at VM shutdown, as a driver of the machine: its `shutdown` op is
 * the guest's last config write, clearing PCI_COMMAND.MEMORY (a revoke of
 * every dma-buf of the function, kernel-facts §2.5); once that revoke
 * returned, the VMM's own next step (its `pending` work) is the last
 * close of the device fd, whose cleanup revokes for good. That is the
 * order of `rfc/scenarios/kref-underflow-close.yaml`: a close that finds
 * its buffers already revoked. It imports nothing (it accepts no mapping
 * type), as VFIO's type1 backend is an importer of the machine that
 * accepts none.
 *
 * @returns the driver, named `vmm`.
 */
export function vmmAtShutdown(): ImporterDriver {
  const shutdown = defineDriverOp({
    name: "shutdown",
    models: "VM shutdown: the guest clears PCI_COMMAND.MEMORY, then the VMM closes the device fd",
    schema: z.strictObject({
      /** The VFIO function. */
      device: z.string().min(1),
    }),
    run: (m, w, { device }) =>
      step(m, w, vfioAction({ op: "config-write-command", device, memory: false })),
  });
  return {
    name: VMM,
    allowPeer2peer: false,
    accepts: () => [],
    ops: [shutdown],
    // The close is due once memory decoding is off and the revoke of the
    // write returned (no vfio-pci operation left), while the fd is open.
    pending: (m, w) => {
      const state = vfioDeviceState(m, w, "vfio0");
      return !state.memoryEnabled && state.open && vfioOperations(m, w, "vfio0").length === 0
        ? [vfioAction({ op: "close-device", device: "vfio0" })]
        : [];
    },
  };
}

/**
 * vfio-pci under test: the export is `ioctl(device_fd, VFIO_DEVICE_FEATURE,
 * GET | DMA_BUF)` over two pages of BAR 0; the revoke for good is the last
 * close of the device fd (`vfio_pci_core_close_device()` runs
 * `vfio_pci_dma_buf_cleanup()`); the temporary revoke is a function-level
 * reset (revoke, reset, un-revoke).
 *
 * @param exporter - the exporter (default: {@link harnessVfioPci}).
 * @param opts - the profiles; whether the un-revoke must invalidate
 *   (default: what the profile's vfio-pci options say); and the revoke
 *   for good: the close of the device fd (default), or a VM shutdown
 *   ({@link vmmAtShutdown}: memory decoding off, then the close).
 * @returns the harness.
 */
export function vfioPciUnderTest(
  exporter: ExporterDriver = harnessVfioPci(),
  opts: {
    readonly profiles?: readonly Profile[];
    readonly unrevokeInvalidates?: (profile: Profile) => boolean;
    readonly revokeForGood?: "close" | "shutdown";
  } = {},
): ExporterUnderTest {
  const shutdown = opts.revokeForGood === "shutdown";
  return {
    driver: exporter.name,
    ...(opts.profiles === undefined ? {} : { profiles: opts.profiles }),
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology,
        exporters: [exporter],
        importers: shutdown ? [partner, vmmAtShutdown()] : [partner],
      }),
    exportBuffer: (m, w) =>
      mustStep(
        m,
        w,
        vfioAction({
          op: "VFIO_DEVICE_FEATURE",
          device: "vfio0",
          argp: encodeDmaBufFeature({
            flags: VFIO_DEVICE_FEATURE_GET,
            data: { region_index: 0, open_flags: O_RDWR | O_CLOEXEC, flags: 0 },
            ranges: [{ offset: 0n, length: 0x2000n }],
          }),
        }),
      ),
    importingDevice: "dev1",
    revoke: () =>
      shutdown
        ? { kind: "driver", driver: VMM, action: { op: "shutdown", device: "vfio0" } }
        : vfioAction({ op: "close-device", device: "vfio0" }),
    revokeTemporarily: () => vfioAction({ op: "flr", device: "vfio0" }),
    unrevokeInvalidates:
      opts.unrevokeInvalidates ?? ((profile) => vfioProfileOptions(profile).unrevokeInvalidates),
  };
}
