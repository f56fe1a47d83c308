// drivers/vfio/pci/vfio_pci_dmabuf.c: the callbacks an importer reaches on a
// VFIO dma-buf. Models:
// - `vfio_pci_dmabuf_ops`: `.attach`, i.e. `vfio_pci_dma_buf_attach()`
//   (vfioAttach); `.pin` as 6.19-rc has it (vfioPin); `.map_dma_buf`
//   (vfioMap, through `dma_buf_phys_vec_to_sgt()`, whose entry cap is
//   SG_ENTRY_MAX) and `.unmap_dma_buf` (vfioUnmap);
// - `.get_pfn`, the exporter op of Xu Yilun's RFC for KVM (vfioGetPfn);
// - `vfio_pci_dma_buf_iommufd_map()` (vfioPrivatePhys).
// `.release` and the 7.1 no-op unpin are inline in driver.ts; the export
// ioctl, `struct vfio_pci_dma_buf` and `vfio_pci_dma_buf_move()` are in
// vfio_pci_dmabuf.ts.
import {
  attachRevocable,
  dmaMapRanges,
  dmaUnmapIova,
  err,
  kvmPfn,
  mappingPayload,
  mustAtt,
  mustBuf,
  ok,
  pal,
  sgt,
} from "@dmabuf-ref/core";
import type {
  AttachmentState,
  DmaEntry,
  DriverStep,
  Machine,
  MappingState,
  MapStep,
  PhysVec,
  Result,
  World,
} from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { PAGE_SIZE } from "./page.js";
import { vfioProfileOptions } from "./profile-options.js";
import { privOf } from "./vfio_pci_dmabuf.js";

/**
 * `vfio_pci_dma_buf_attach()` (kernel-model §2.3, §7.4), in the kernel's
 * order: no `peer2peer` (every static importer) `-EOPNOTSUPP`; revoked
 * (temporarily or for good, which includes `vdev == NULL`) `-ENODEV`; under
 * a profile with the vfio-pci option `refusesNonRevocable` (7.1), an attachment that is
 * not `dma_buf_attach_revocable()` `-EOPNOTSUPP`.
 *
 * @param m - the machine.
 * @param w - the world with the attachment linked.
 * @param att - the attachment id.
 * @returns the unchanged world, or the errno.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_attach
 */
export function vfioAttach(m: Machine, w: World, att: number): Result<DriverStep> {
  const a = mustAtt(w, att);
  if (!a.peer2peer) return err("EOPNOTSUPP", "VFIO MMIO needs attach->peer2peer");
  if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the VFIO dma-buf is revoked");
  if (vfioProfileOptions(m.profile).refusesNonRevocable && !attachRevocable(a)) {
    return err("EOPNOTSUPP", "the attachment is not dma_buf_attach_revocable()");
  }
  return ok({ world: w, events: [] });
}

/**
 * VFIO's `pin` (kernel-model §2.4): the 6.19-rc fix returns `-EOPNOTSUPP` to
 * keep pinned importers (RDMA) away; in 7.1 pin/unpin are gone, which the
 * model states as a successful no-op (the vfio-pci option `pin`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the unchanged world, or `EOPNOTSUPP`.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_pin
 */
export function vfioPin(m: Machine, w: World): Result<DriverStep> {
  return vfioProfileOptions(m.profile).pin === "eopnotsupp"
    ? err("EOPNOTSUPP", "VFIO dma-bufs cannot be pinned (6.19)")
    : ok({ world: w, events: [] });
}

/**
 * `ALIGN_DOWN(UINT_MAX, PAGE_SIZE)`: the longest sg entry `dma_buf_phys_vec_to_sgt()` makes.
 *
 * @category Drivers
 */
export const SG_ENTRY_MAX = ((2n ** 32n - 1n) / PAGE_SIZE) * PAGE_SIZE;

/** How VFIO's map serves an attachment's negotiated type. */
type MapRoute =
  | { readonly kind: "sgt" }
  | { readonly kind: "pal" }
  | { readonly kind: "kvm-pfn" }
  | { readonly kind: "refuse"; readonly why: string };

function routeOf(a: AttachmentState): MapRoute {
  // The exporter maps its own type; with a converter core converts after.
  if (a.exporterType === sgt.id) return { kind: "sgt" };
  if (a.exporterType === pal.id) return { kind: "pal" };
  if (a.exporterType === kvmPfn.id) return { kind: "kvm-pfn" };
  return {
    kind: "refuse",
    why: `VFIO has no map op for ${a.exporterType} (iommufd calls vfio_pci_dma_buf_iommufd_map)`,
  };
}

function capEntries(entries: readonly DmaEntry[]): DmaEntry[] {
  const out: DmaEntry[] = [];
  for (const e of entries) {
    for (let at = 0n; at < e.length; at += SG_ENTRY_MAX) {
      const left = e.length - at;
      out.push({
        dmaAddress: e.dmaAddress + at,
        length: left < SG_ENTRY_MAX ? left : SG_ENTRY_MAX,
      });
    }
  }
  return out;
}

function mapSgt(
  m: Machine,
  w: World,
  att: number,
  device: string | null,
  phys: readonly PhysVec[],
): Result<MapStep> {
  if (device === null) return err("EINVAL", "an SGT needs an importing DMA device");
  const mapped = dmaMapRanges(m, w, device, phys, { att, write: true });
  if (!mapped.ok) return mapped;
  const payload = mappingPayload(sgt, { entries: capEntries(mapped.value.entries) });
  return ok({
    world: mapped.value.world,
    events: [],
    mapping: { payload, grants: mapped.value.grants, iova: mapped.value.iova },
  });
}

/**
 * VFIO's `map_dma_buf` (resv held; kernel-model §2.3, §7.5): revoked
 * `-ENODEV`; then by negotiated type:
 *
 * - `sgt` (also `pal->sgt`, which core should convert but does not yet):
 *   `dma_buf_phys_vec_to_sgt()` through the p2pdma provider, i.e. core's
 *   `dmaMapRanges` (bus address below a common switch, an IOVA through the
 *   host bridge, `-EINVAL` when not P2P reachable), entries capped at
 *   `ALIGN_DOWN(UINT_MAX, PAGE_SIZE)`; the grants record the access;
 * - `pal`: `map_phys` returns a copy of `phys_vec[]` (RFC patch 22). No
 *   grant: PAL hands out CPU physical addresses, and whoever programs them
 *   into an IOMMU (iommufd) creates the access and its grant;
 * - `kvm-pfn`: Xu Yilun's `get_pfn` for KVM ({@link vfioGetPfn}, §5.1):
 *   the ranges, MMIO, uncached; revoked is the `-ENODEV` above, which
 *   KVM's fault turns into `-EIO`;
 * - `vfio-iommufd-private` and anything else: `-EOPNOTSUPP`: iommufd never
 *   calls map, it uses {@link vfioPrivatePhys}.
 *
 * The kref taken per mapping is implicit: core's revoke waits until no
 * attachment holds a mapping.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @returns the mapping, or the errno.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_map
 */
export function vfioMap(m: Machine, w: World, att: number): Result<MapStep> {
  const a = mustAtt(w, att);
  if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the VFIO dma-buf is revoked");
  const phys = privOf(w, a.buf).phys;
  return match(routeOf(a))
    .returnType<Result<MapStep>>()
    .with({ kind: "sgt" }, () => mapSgt(m, w, att, a.device, phys))
    .with({ kind: "pal" }, () =>
      ok({
        world: w,
        events: [],
        mapping: { payload: mappingPayload(pal, { phys }), grants: [], iova: [] },
      }),
    )
    .with({ kind: "kvm-pfn" }, () => vfioGetPfn(w, phys))
    .with({ kind: "refuse" }, (r) => err("EOPNOTSUPP", r.why))
    .exhaustive();
}

/**
 * VFIO's `unmap_dma_buf`: `dma_buf_free_sgt()` gives back the IOVA; core
 * ends the grants. The kref put is implicit (see {@link vfioMap}).
 *
 * @param _m - the machine.
 * @param w - the world.
 * @param _att - the attachment id.
 * @param mapping - the mapping being torn down.
 * @returns the world.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_unmap
 */
export function vfioUnmap(_m: Machine, w: World, _att: number, mapping: MappingState): DriverStep {
  return { world: dmaUnmapIova(w, mapping.iova), events: [] };
}

/**
 * `vfio_pci_dma_buf_iommufd_map(attach, *phys)` (kernel-model §2.7), resv
 * held (core checks it and answers `-EOPNOTSUPP` for other exporters):
 * revoked `-ENODEV`; `nr_ranges != 1` `-EOPNOTSUPP`; otherwise the one range.
 * Nothing is counted as mapped.
 *
 * @param _m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @returns the range, or the errno.
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_iommufd_map
 */
export function vfioPrivatePhys(_m: Machine, w: World, att: number): Result<readonly PhysVec[]> {
  const a = mustAtt(w, att);
  if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the VFIO dma-buf is revoked");
  const priv = privOf(w, a.buf);
  const [only] = priv.phys;
  if (priv.nrRanges !== 1 || only === undefined) {
    return err("EOPNOTSUPP", () => `the VFIO dma-buf has ${priv.nrRanges} ranges, not 1`);
  }
  return ok([only]);
}

/**
 * VFIO's `get_pfn` for KVM, the exporter op of Xu Yilun's RFC that
 * `dma_buf_get_pfn_unlocked(attach, pgoff, &pfn, &max_order)` calls at
 * guest fault time (kernel-model §5.1), stated as the `kvm-pfn` mapping
 * VFIO's map (`vfioMap`) hands out (resv held, revoked already refused there with
 * `-ENODEV`, which KVM turns into `-EIO`).
 *
 * @remarks
 * The payload is the buffer's `phys_vec[]` in buffer order, from which KVM
 * computes the PFN of any `pgoff` and the largest order a naturally aligned
 * block keeps inside one range. It is `mmio: true` and `uncached`: a BAR is
 * device MMIO and KVM never maps MMIO cacheable (the point of Yilun's
 * series is that KVM learns MMIO-ness and caching from the exporter, not
 * from a host VMA, since private MMIO never has one). Nothing is granted
 * in the fabric: the guest reaches the BAR through KVM's stage-2 / EPT
 * tables, which the slot's zap on invalidate tears down.
 *
 * @param w - the world (unchanged).
 * @param phys - the buffer's `priv->phys_vec[]`.
 * @returns the mapping.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, kvmPfn, payloadAs, referenceMachine } from "@dmabuf-ref/core";
 * import { vfioGetPfn } from "@dmabuf-ref/exporters";
 *
 * // KVM faults on a VFIO dma-buf of 64 KiB of BAR 0.
 * const r = vfioGetPfn(boot(referenceMachine()), [{ paddr: 0x4000000000n, len: 0x10000n }]);
 * assert.ok(r.ok);
 * const p = payloadAs(kvmPfn, r.value.mapping.payload);
 * assert.equal(p.mmio, true);
 * assert.equal(p.cache, "uncached");
 * ```
 * @category Drivers
 */
export function vfioGetPfn(w: World, phys: readonly PhysVec[]): Result<MapStep> {
  const payload = mappingPayload(kvmPfn, { ranges: phys, mmio: true, cache: "uncached" });
  return ok({ world: w, events: [], mapping: { payload, grants: [], iova: [] } });
}
