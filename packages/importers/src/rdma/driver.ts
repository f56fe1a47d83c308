import { accept, sgt } from "@dmabuf-ref/core";
import type {
  AttachRequest,
  ImporterAccept,
  ImporterDriver,
  Machine,
  World,
} from "@dmabuf-ref/core";
import { rdmaCandidates, rdmaOps } from "./action.js";
import type { RdmaImporterName } from "./constants.js";
import { rdmaOdpInvalidate } from "./odp.js";
import { rdmaPinnedRevoke } from "./revocable.js";
import { RDMA_SLICES } from "./state.js";

/**
 * What an RDMA umem importer accepts (kernel-facts §5.2): one SGT for the
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

/**
 * The ODP / dynamic MR importer, `ib_umem_dmabuf_get()` (kernel-facts
 * §5.2): `allow_peer2peer = true` and an `invalidate_mappings` that stops HW
 * access and unmaps; the MR re-maps on the next ODP fault. Revocable.
 * Register it as `"rdma-odp"`.
 *
 * @returns the importer driver.
 */
export function rdmaOdpImporter(): ImporterDriver {
  return Object.freeze({
    name: "rdma-odp",
    allowPeer2peer: true,
    accepts: rdmaAccepts("rdma-odp"),
    invalidateMappings: rdmaOdpInvalidate,
    ops: rdmaOps("rdma-odp"),
    candidates: (m: Machine, w: World) => rdmaCandidates(m, w, "rdma-odp"),
    slices: RDMA_SLICES,
  });
}

/**
 * The pinned importer, `ib_umem_dmabuf_get_pinned()` (kernel-facts §5.2,
 * §1.3): `allow_peer2peer = true` and, since 7.1, no invalidate op, so it
 * is not revocable (`dma_buf_attach_revocable()` is false) and VFIO refuses
 * it under 7.1. Register it as `"rdma-pinned"`.
 *
 * @returns the importer driver.
 */
export function rdmaPinnedImporter(): ImporterDriver {
  return Object.freeze({
    name: "rdma-pinned",
    allowPeer2peer: true,
    accepts: rdmaAccepts("rdma-pinned"),
    ops: rdmaOps("rdma-pinned"),
    candidates: (m: Machine, w: World) => rdmaCandidates(m, w, "rdma-pinned"),
    slices: RDMA_SLICES,
  });
}

/**
 * Jacob Moroni's pinned revocable importer (kernel-facts §5.2, under
 * review): pinned, with an invalidate callback that stops HW access, unmaps
 * and unpins before returning, so it is revocable. Its entry point exists
 * only where the profile has the rdma option `pinnedRevocable`. Register it as
 * `"rdma-pinned-revocable"`.
 *
 * @returns the importer driver.
 */
export function rdmaPinnedRevocableImporter(): ImporterDriver {
  return Object.freeze({
    name: "rdma-pinned-revocable",
    allowPeer2peer: true,
    accepts: rdmaAccepts("rdma-pinned-revocable"),
    invalidateMappings: rdmaPinnedRevoke,
    ops: rdmaOps("rdma-pinned-revocable"),
    candidates: (m: Machine, w: World) => rdmaCandidates(m, w, "rdma-pinned-revocable"),
    slices: RDMA_SLICES,
  });
}
