/* The bug zoo: kref-underflow (see the TSDoc of the entry below). */
import { isVfioPciExporter, vfioPciExporter } from "@dmabuf-ref/exporters";
import type { ExporterZooBug } from "./zoo-bug.js";
import { harnessVfioPci, vfioPciUnderTest } from "./harnesses/vfio-pci.js";

/**
 * Zoo: vfio-pci's close drains a dma-buf that a memory-disable revoke
 * already drained (the v7.1-rc kref underflow).
 *
 * @remarks
 * Since 1a8a5227f229 a VFIO dma-buf holds a kref (a base reference plus
 * one per mapping) and a completion its revoke waits on. On the v7.1-rc
 * kernels before c64a647c84f3 a revoke did not re-arm them at its end and
 * `vfio_pci_dma_buf_cleanup()` drained every buffer again: after a guest
 * cleared PCI_COMMAND.MEMORY (a revoke that drained the buffer), the close
 * of the device fd put the base reference a second time, `refcount_t`
 * underflowed (a WARN) and `wait_for_completion()` never returned, so the
 * close hung for ever. Broken rule: a kref is put once per get, and every
 * call returns. Fixed by c64a647c84f3 "vfio/pci: fix dma-buf kref underflow
 * after revoke" (Alex Williamson, Fixes 1a8a5227f229, Cc stable; it
 * replaced Matt Evans' "vfio/pci: Fix vfio_pci_dma_buf_cleanup()
 * double-put"), kernel-facts §2.5, §8.1. The model's vfio-pci has the
 * bug with `krefRearm: false`. The suite's `exporter/revoke-after-revoke`
 * clears PCI_COMMAND.MEMORY (the harness's revoke until a restore), then
 * closes the device fd, as a VM shutdown does.
 */
export const krefUnderflow: ExporterZooBug = {
  id: "kref-underflow",
  title: "vfio-pci's close drains a buffer a memory-disable revoke already drained (close hangs)",
  source:
    'c64a647c84f3 "vfio/pci: fix dma-buf kref underflow after revoke" (Fixes 1a8a5227f229), ' +
    "v7.1-rc",
  role: "exporter",
  harness: () => vfioPciUnderTest(harnessVfioPci({ krefRearm: false })),
  fixed: () => vfioPciUnderTest(harnessVfioPci({ krefRearm: true })),
  substitute: (original) =>
    isVfioPciExporter(original)
      ? vfioPciExporter({ ...original.vfio, krefRearm: false })
      : original,
  caughtBy: {
    case: "exporter/revoke-after-revoke",
    rule: "a dma-buf's kref is put once per get",
  },
  scenario: { file: "kref-underflow-close.yaml", expect: "forall: no-deadlock", substituted: true },
};
