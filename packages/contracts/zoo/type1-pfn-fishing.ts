/* The bug zoo: type1-pfn-fishing (see the TSDoc of the entry below). */
import * as z from "zod";
import { dynamicImporter, mustStep } from "@dmabuf-ref/contracts";
import {
  defineDriverOp,
  domainOf,
  done,
  failed,
  hex,
  iommuMap,
  isPayloadOf,
  kernelError,
  sgt,
  translate,
} from "@dmabuf-ref/core";
import type { ImporterDriver, Machine, Op, StepOutcome, World } from "@dmabuf-ref/core";
import type { ImporterUnderTest } from "@dmabuf-ref/contracts";
import type { ImporterZooBug } from "./zoo-bug.js";
import { dynamicImporterUnderTest } from "./harnesses/reference.js";

/** Where the VMM maps the fished PFNs for the device (`VFIO_IOMMU_MAP_DMA`'s `iova`). */
const FISHED_IOVA = 0x10_0000_0000n;

/** The fields of `map-pfns`: the attachment whose memory is fished. */
const mapPfnsSchema = z.strictObject({
  /** The importer's attachment, mapped; its device gets the PFNs at {@link FISHED_IOVA}. */
  att: z.number().int().nonnegative(),
});

/**
 * `VFIO_IOMMU_MAP_DMA` of a `VM_PFNMAP` mmap of the buffer, as type1's
 * `vaddr_get_pfns` -> `follow_fault_pfn` does it: the CPU physical
 * addresses behind the attachment's mapping, put in the device's IOMMU
 * domain at {@link FISHED_IOVA} read and write, with no reference to the
 * dma-buf, its attachment or its exporter, and no grant of the oracle's:
 * the device may reach those pages only through the attachment's mapping,
 * and nothing tells this IOMMU entry when that mapping goes away.
 */
function mapPfns(m: Machine, w: World, att: number, self: string): StepOutcome {
  const a = w.atts.get(att);
  const payload = a?.mapping?.payload;
  const entry = isPayloadOf(sgt, payload) ? payload.value.entries[0] : undefined;
  if (a === undefined || a.importer !== self || a.device === null || entry === undefined)
    return failed(
      w,
      kernelError("EFAULT", () => `attachment ${att} maps nothing of ${self}'s to follow`),
    );
  const domain = domainOf(m, w, a.device);
  const d = domain === undefined ? undefined : w.domains.get(domain);
  if (domain === undefined || d === undefined)
    return failed(
      w,
      kernelError("ENOTTY", () => `${a.device ?? "?"} is behind no IOMMU`),
    );
  const where = translate(d, entry.dmaAddress, entry.length, false);
  if ("fault" in where) return failed(w, kernelError("EFAULT", where.fault));
  if (d.mappings.overlapping(FISHED_IOVA, entry.length) !== undefined)
    return failed(
      w,
      kernelError("EEXIST", () => `${hex(FISHED_IOVA)} is mapped already`),
    );
  const world = iommuMap(w, domain, {
    iova: FISHED_IOVA,
    len: entry.length,
    phys: where.phys,
    read: true,
    write: true,
  });
  return done(world, [
    {
      kind: "note",
      actor: self,
      text:
        `VFIO_IOMMU_MAP_DMA ${a.device} iova ${hex(FISHED_IOVA)} <- ${hex(where.phys)}: ` +
        "follow_fault_pfn took the raw PFNs (no reference, no lifetime link)",
    },
  ]);
}

/** The contract importer plus type1's PFN-following map (`map-pfns`). */
function pfnFishingImporter(): ImporterDriver {
  const right = dynamicImporter();
  const fish = defineDriverOp({
    name: "map-pfns",
    models: "VFIO_IOMMU_MAP_DMA of a VM_PFNMAP mmap: vaddr_get_pfns -> follow_fault_pfn",
    schema: mapPfnsSchema,
    run: (m, w, { att }, self) => mapPfns(m, w, att, self),
  });
  return Object.freeze({ ...right, ops: [...(right.ops ?? []), fish] });
}

/** The `map-pfns` op for one attachment. */
function mapPfnsCall(importer: string, att: number): Op {
  return { kind: "driver", driver: importer, action: { op: "map-pfns", att } };
}

/**
 * The harness: the dynamic importer's, except that after the import the
 * VMM also follows the buffer's PFNs into the device's IOMMU (type1), and
 * the device's DMA goes through that fished IOVA. The release gives up the
 * dma-buf side only: nothing tells type1.
 */
function pfnFishingUnderTest(): ImporterUnderTest {
  const importer = pfnFishingImporter();
  const base = dynamicImporterUnderTest(importer);
  return {
    ...base,
    importBuffer: (m, w, buf) => {
      const imported = base.importBuffer(m, w, buf);
      const att = imported.bufs.get(buf)?.attachments[0];
      if (att === undefined) throw new Error("the import made no attachment");
      return mustStep(m, imported, mapPfnsCall(importer.name, att));
    },
    access: (_m, _w, _buf, dir) => [
      { kind: "dma", device: "dev1", addr: FISHED_IOVA, len: 8n, dir },
    ],
  };
}

/**
 * Zoo: type1-style PFN fishing, an IOMMU mapping of a buffer's PFNs with
 * no lifetime link to the buffer.
 *
 * @remarks
 * VFIO's legacy type1 backend maps a user address range for a device with
 * `VFIO_IOMMU_MAP_DMA`; when the range is a `VM_PFNMAP` mmap (a VFIO BAR, a
 * dma-buf), `pin_user_pages` refuses it and `vaddr_get_pfns` falls back to
 * `follow_fault_pfn`, which reads the raw PFNs out of the page table and
 * maps them with no reference to the VMA, the file or the device
 * (drivers/vfio/vfio_iommu_type1.c; seeds 000 and 001; kernel-facts §8.2:
 * openvmm's "legacy type1 path falls back to best-effort VA mapping"). A
 * revoke cannot reach that mapping: after the importer's unmap the device
 * still reaches the memory through the fished IOVA. Broken rule: no
 * access after the invalidate except read-and-discard, and none after the
 * unmap (kernel-facts §1.3); the dma-buf path with `invalidate_mappings`
 * (IOMMU_IOAS_MAP_FILE, Jason Gunthorpe's "iommufd: Add DMABUF support")
 * is the fix. The wrong importer here is the contract importer plus that
 * map (`map-pfns`); its device DMAs through the fished IOVA, and the
 * oracle's first complaint is its write after the invalidate.
 */
export const type1PfnFishing: ImporterZooBug = {
  id: "type1-pfn-fishing",
  title: "VFIO type1 maps a buffer's raw PFNs (follow_fault_pfn) with no lifetime link",
  source:
    "drivers/vfio/vfio_iommu_type1.c vaddr_get_pfns/follow_fault_pfn (seeds 000, 001); " +
    'iommufd dma-buf import ("iommufd: Add DMABUF support", Nov 2025) as the fix',
  role: "importer",
  harness: pfnFishingUnderTest,
  fixed: () => dynamicImporterUnderTest(dynamicImporter()),
  caughtBy: { case: "importer/no-access-after-unmap", rule: "after invalidate" },
  scenario: {
    file: "type1-pfn-fishing-uaf.yaml",
    expect: "exists: dev1[0] == violation",
    substituted: false,
  },
};
