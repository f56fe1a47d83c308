import { accept, defineDriver, sgt } from "@dmabuf-ref/core";
import type {
  AttachRequest,
  DefinedImporter,
  ImporterAccept,
  Machine,
  World,
} from "@dmabuf-ref/core";
import { rdmaActionSchema, rdmaCandidates, rdmaOps } from "./action.js";
import type { RdmaImporterName } from "./constants.js";
import { rdmaOdpInvalidate } from "./odp.js";
import { rdmaPinnedRevoke } from "./revocable.js";
import { rdmaUmemsSlice } from "./state.js";

/**
 * What an RDMA umem importer accepts (kernel-model §5.2): one SGT for the
 * NIC's DMA device, accepting P2P when the attachment is `peer2peer`.
 *
 * @param importer - the importer's name (the accept's module).
 * @returns the accepts function.
 */
export function rdmaAccepts(
  importer: RdmaImporterName,
): (m: Machine, w: World, req: AttachRequest) => readonly ImporterAccept[] {
  return (_m, _w, req) => [
    accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, importer),
  ];
}

// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
/** The slices every RDMA importer declares. */
export type RdmaSlices = {
  /** The importer's umems by attachment (`struct ib_umem_dmabuf`). */
  readonly umems: typeof rdmaUmemsSlice;
};

/** An RDMA importer: its umems slice and its actions (the ODP fault only for `rdma-odp`). */
export type RdmaImporter = DefinedImporter<RdmaSlices, typeof rdmaActionSchema>;

/**
 * The ODP / dynamic MR importer, `ib_umem_dmabuf_get()` (kernel-model
 * §5.2): `allow_peer2peer = true` and an `invalidate_mappings` that stops HW
 * access and unmaps; the MR re-maps on the next ODP fault. Revocable.
 * Register it as `"rdma-odp"`.
 *
 * @returns the importer driver.
 */
export function rdmaOdpImporter(): RdmaImporter {
  return defineDriver<RdmaSlices, typeof rdmaActionSchema>({
    role: "importer",
    name: "rdma-odp",
    slices: { umems: rdmaUmemsSlice },
    ops: rdmaOps("rdma-odp"),
    callbacks: {
      allowPeer2peer: true,
      accepts: rdmaAccepts("rdma-odp"),
      invalidateMappings: rdmaOdpInvalidate,
      candidates: (m: Machine, w: World) => rdmaCandidates(m, w, "rdma-odp"),
    },
  });
}

/**
 * The pinned importer, `ib_umem_dmabuf_get_pinned()` (kernel-model §5.2,
 * §1.3): `allow_peer2peer = true` and, since 7.1, no invalidate op, so it
 * is not revocable (`dma_buf_attach_revocable()` is false) and VFIO refuses
 * it under 7.1. Register it as `"rdma-pinned"`.
 *
 * @returns the importer driver.
 */
export function rdmaPinnedImporter(): RdmaImporter {
  return defineDriver<RdmaSlices, typeof rdmaActionSchema>({
    role: "importer",
    name: "rdma-pinned",
    slices: { umems: rdmaUmemsSlice },
    ops: rdmaOps("rdma-pinned"),
    callbacks: {
      allowPeer2peer: true,
      accepts: rdmaAccepts("rdma-pinned"),
      candidates: (m: Machine, w: World) => rdmaCandidates(m, w, "rdma-pinned"),
    },
  });
}

/**
 * Jacob Moroni's pinned revocable importer (kernel-model §5.2, under
 * review): pinned, with an invalidate callback that stops HW access, unmaps
 * and unpins before returning, so it is revocable. Its entry point exists
 * only where the profile has the rdma option `pinnedRevocable`. Register it as
 * `"rdma-pinned-revocable"`.
 *
 * @returns the importer driver.
 */
export function rdmaPinnedRevocableImporter(): RdmaImporter {
  return defineDriver<RdmaSlices, typeof rdmaActionSchema>({
    role: "importer",
    name: "rdma-pinned-revocable",
    slices: { umems: rdmaUmemsSlice },
    ops: rdmaOps("rdma-pinned-revocable"),
    callbacks: {
      allowPeer2peer: true,
      accepts: rdmaAccepts("rdma-pinned-revocable"),
      invalidateMappings: rdmaPinnedRevoke,
      candidates: (m: Machine, w: World) => rdmaCandidates(m, w, "rdma-pinned-revocable"),
    },
  });
}
