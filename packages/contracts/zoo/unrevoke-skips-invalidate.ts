/* The bug zoo: unrevoke-skips-invalidate (see the TSDoc of the entry below). */
import { linux71 } from "@dmabuf-ref/core";
import type { ExporterZooBug } from "./zoo-bug.js";
import { exporterWithOptions } from "./harnesses/driver-options.js";
import { VFIO_PCI, harnessVfioPci, vfioPciUnderTest } from "./harnesses/vfio-pci.js";

/** vfio-pci's option of Matt Evans' series: the un-revoke only sets the state back. */
const SERIES_UNREVOKE = { unrevokeInvalidates: false } as const;

/**
 * Zoo: vfio-pci's un-revoke does not invalidate the importers under a
 * profile that says it must (mainline v7.1).
 *
 * @remarks
 * In mainline v7.1 the un-revoke (`vfio_pci_dma_buf_move(vdev, false)`)
 * locks resv while the buffer is still revoked, invalidates the importers
 * and waits for the fences, unlocks, then clears `revoked` under resv
 * again (kernel-facts §2.5, un-revoke steps 1-4, after c64a647c84f3
 * reordered the kref re-arm), so a dynamic importer that raced the revoke
 * learns of the new state before it maps again. Matt Evans' series
 * ("vfio/pci: Add mmap() for DMABUFs", from v4,
 * 20260701171245.90111-1-matt@ozlabs.org, not merged) skips that
 * invalidate and the wait; the wrong driver here is vfio-pci with the
 * series' behaviour (`unrevokeInvalidates: false`) while the profile in
 * force is linux-7.1, whose harness says the un-revoke must invalidate.
 * Broken rule: a revoke and its un-revoke send two invalidates under
 * linux-7.1.
 */
export const unrevokeSkipsInvalidate: ExporterZooBug = {
  id: "unrevoke-skips-invalidate",
  title: "vfio-pci's un-revoke skips the invalidate mainline v7.1 sends",
  source:
    "mainline v7.1 vfio_pci_dma_buf_move(false) invalidates before clearing revoked " +
    "(c64a647c84f3 ordering); Matt Evans' series v4 drops it (not merged)",
  role: "exporter",
  harness: () =>
    vfioPciUnderTest(exporterWithOptions(harnessVfioPci(), VFIO_PCI, SERIES_UNREVOKE), {
      profiles: [linux71],
      unrevokeInvalidates: () => true,
    }),
  fixed: () =>
    vfioPciUnderTest(harnessVfioPci(), { profiles: [linux71], unrevokeInvalidates: () => true }),
  substitute: (original) => exporterWithOptions(original, VFIO_PCI, SERIES_UNREVOKE),
  caughtBy: {
    case: "exporter/unrevoke-invalidates",
    rule: "a revoke and its un-revoke send 2 invalidates under linux-7.1",
  },
  unseenByScenarios:
    "at the un-revoke no importer holds a mapping (the revoke waited for every unmap, and map " +
    "is refused while revoked) and no fence is pending, and every importer of the model " +
    "re-maps lazily (on its next job or fault) or never (iommufd): the missing invalidate " +
    "changes no state a scenario condition observes; the suite case counts the callbacks",
};
