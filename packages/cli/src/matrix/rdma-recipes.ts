import { step } from "@dmabuf-ref/core";
import type { Machine, Profile, World } from "@dmabuf-ref/core";
import { rdmaProfileOptions } from "@dmabuf-ref/importers";
import type { RdmaImporterName, UmemGetStage } from "@dmabuf-ref/importers";
import type { MatrixStage } from "./cell.js";
import { negotiationRefusal } from "./negotiate-first.js";
import { fromFirstFault, fromStaged } from "./staged-import.js";
import type { Imported, ImporterRecipe } from "./recipes.js";

/** The importing NIC of the matrix machine. */
const NIC = "nic1";

const STAGE: Readonly<Record<UmemGetStage, MatrixStage>> = {
  args: "import",
  fd: "import",
  "exporter-attach": "exporter attach",
  pin: "dma_buf_pin",
  map: "first map",
};

/**
 * Registers an MR over the whole buffer through the umem interface itself
 * (`ib_umem_dmabuf_get*()`, kernel-model §5.2): negotiation is checked
 * first only to name the stage; the pinned variants pin and map inside the
 * get; an ODP MR maps on its first page fault (the `odp-fault` op), which is the
 * cell's first map.
 */
function umemImport(m: Machine, w: World, buf: number, importer: RdmaImporterName): Imported {
  const neg = negotiationRefusal(m, w, buf, importer, NIC);
  if (neg !== undefined) return neg;
  const size = w.bufs.get(buf)?.size ?? 0n;
  const get = { op: "ib_umem_dmabuf_get", device: NIC, fd: buf, offset: 0n, size };
  const got = step(m, w, { kind: "driver", driver: importer, action: get });
  return fromStaged(got, STAGE, "ib_umem_dmabuf_get", (world, att) =>
    importer === "rdma-odp"
      ? fromFirstFault(
          step(m, world, { kind: "driver", driver: importer, action: { op: "odp-fault", att } }),
          att,
          "the first ODP fault",
        )
      : { ok: true, world, att },
  );
}

function umemRecipe(importer: RdmaImporterName, exists: (p: Profile) => boolean): ImporterRecipe {
  return {
    name: importer,
    absentReason: (p) => (exists(p) ? undefined : `not in ${p.id}`),
    import: (m, w, buf) => umemImport(m, w, buf, importer),
  };
}

/** rdma-odp: `ib_umem_dmabuf_get()` on nic1, then its first ODP fault (dynamic, revocable). */
export const rdmaOdpRecipe = umemRecipe("rdma-odp", () => true);
/** rdma-pinned: `ib_umem_dmabuf_get_pinned()` on nic1 (pins and maps, not revocable). */
export const rdmaPinnedRecipe = umemRecipe("rdma-pinned", () => true);
/** rdma-pinned-revocable: Jacob Moroni's proposed interface, where the profile has it. */
export const rdmaPinnedRevocableRecipe = umemRecipe(
  "rdma-pinned-revocable",
  (p) => rdmaProfileOptions(p).pinnedRevocable,
);
