import { accept, defineDriver, sgt } from "@dmabuf-ref/core";
import type {
  AttachRequest,
  DefinedImporter,
  ImporterAccept,
  Machine,
  SliceDef,
  World,
} from "@dmabuf-ref/core";
import { rdmaActionSchema, rdmaCandidates, rdmaOps } from "./action.js";
import type { RdmaImporterName } from "./constants.js";
import { rdmaOdpInvalidate } from "./odp.js";
import { rdmaPinnedRevoke } from "./revocable.js";
import { rdmaUmemsSlice } from "./state.js";
import type { RdmaUmem } from "./state.js";
import type { PTable } from "@dmabuf-ref/core/encoding";

/**
 * What an RDMA umem importer accepts (kernel-model §5.2): one SGT for the
 * NIC's DMA device, accepting P2P when the attachment is `peer2peer`.
 *
 * @param importer - the importer's name (the accept's module).
 * @returns the accepts function.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 * import { rdmaAccepts } from "@dmabuf-ref/importers";
 *
 * // Every RDMA umem importer accepts an SGT mapped for its NIC, with P2P if the attach allows it.
 * const m = referenceMachine();
 * const req = { device: "dev0", dynamic: true, peer2peer: true };
 * const [a] = rdmaAccepts("rdma-odp")(m, boot(m), req);
 * assert.equal(a?.type.id, "sgt");
 * assert.equal(a?.module, "rdma-odp");
 * assert.deepEqual(a?.data, { device: "dev0", acceptsP2P: true });
 * ```
 * @category Drivers
 */
export function rdmaAccepts(
  importer: RdmaImporterName,
): (m: Machine, w: World, req: AttachRequest) => readonly ImporterAccept[] {
  return (_m, _w, req) => [
    accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, importer),
  ];
}

// A type, not an interface: it must fit core's `SliceRecord` (an indexable record).
/**
 * The slices every RDMA importer declares.
 *
 * @category Drivers
 */
export type RdmaSlices = {
  /** The importer's umems by attachment (`struct ib_umem_dmabuf`). */
  readonly umems: SliceDef<PTable<RdmaUmem>>;
};

/**
 * An RDMA importer: its umems slice and its actions (the ODP fault only for `rdma-odp`).
 *
 * @category Drivers
 */
export type RdmaImporter = DefinedImporter<RdmaSlices, typeof rdmaActionSchema>;

/**
 * The ODP / dynamic MR importer, `ib_umem_dmabuf_get()` (kernel-model
 * §5.2): `allow_peer2peer = true` and an `invalidate_mappings` that stops HW
 * access and unmaps; the MR re-maps on the next ODP fault. Revocable.
 * Register it as `"rdma-odp"`.
 *
 * @returns the importer driver.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { rdmaOdpImporter } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [rdmaOdpImporter()] });
 * const odp = (action: object) => ({ kind: "driver", driver: "rdma-odp", action }) as const;
 * const got = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "gpu", args: { size: 0x4000n } },
 *   odp({ op: "ib_umem_dmabuf_get", device: "dev0", fd: 1, offset: 0n, size: 0x4000n }),
 * ]);
 * // A dynamic MR: attached, not pinned, and mapped only at the first ODP fault.
 * assert.deepEqual([got.world.atts.get(1)?.pins, got.world.atts.get(1)?.mapping], [0, null]);
 * const faulted = runScript(m, got.world, [odp({ op: "odp-fault", att: 1 })]);
 * assert.notEqual(faulted.world.atts.get(1)?.mapping, null);
 * ```
 * @category Drivers
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { rdmaPinnedImporter } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [rdmaPinnedImporter()] });
 * const get = { op: "ib_umem_dmabuf_get", device: "dev0", fd: 1, offset: 0n, size: 0x4000n };
 * const run = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "gpu", args: { size: 0x4000n } },
 *   { kind: "driver", driver: "rdma-pinned", action: get },
 * ]);
 * // ib_umem_dmabuf_get_pinned pins and maps at once: the MR never moves.
 * assert.equal(run.world.atts.get(1)?.pins, 1);
 * assert.notEqual(run.world.atts.get(1)?.mapping, null);
 * // No invalidate op since 7.1: not revocable, so VFIO refuses it under 7.1.
 * assert.equal(rdmaPinnedImporter().invalidateMappings, undefined);
 * ```
 * @category Drivers
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, linux71, proposalConverters, referenceMachine, step } from "@dmabuf-ref/core";
 * import type { Profile } from "@dmabuf-ref/core";
 * import { rdmaPinnedRevocableImporter } from "@dmabuf-ref/importers";
 *
 * const umemGet = (profile: Profile) => {
 *   const m = referenceMachine({ profile, importers: [rdmaPinnedRevocableImporter()] });
 *   const args = { size: 0x4000n };
 *   const e = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "gpu", args });
 *   const action = { op: "ib_umem_dmabuf_get", device: "dev0", fd: 1, offset: 0n, size: 0x4000n };
 *   const r = step(m, e.world, { kind: "driver", driver: "rdma-pinned-revocable", action });
 *   return r.status === "failed" ? r.error.errno : r.status;
 * };
 * // The entry point is under review: absent from 7.1, present in the proposal's profile.
 * assert.equal(umemGet(linux71), "EOPNOTSUPP");
 * assert.equal(umemGet(proposalConverters), "done");
 * ```
 * @category Drivers
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
