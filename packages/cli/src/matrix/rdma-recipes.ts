import type { Profile, World } from "@dmabuf-ref/core";
import { ibUmemDmabufGetStaged, rdmaOdpFault } from "@dmabuf-ref/importers";
import type { RdmaImporterName, UmemGetStage } from "@dmabuf-ref/importers";
import { match } from "ts-pattern";
import type { MatrixStage } from "./cell.js";
import { negotiationRefusal } from "./negotiate-first.js";
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
 * (`ib_umem_dmabuf_get*()`, kernel-facts §5.2): negotiation is checked
 * first only to name the stage; the pinned variants pin and map inside the
 * get; an ODP MR maps on its first page fault (`rdmaOdpFault`), which is the
 * cell's first map.
 */
function umemImport(w: World, buf: number, importer: RdmaImporterName): Imported {
  const neg = negotiationRefusal(w, buf, importer, NIC);
  if (neg !== undefined) return neg;
  const size = w.bufs.get(buf)?.size ?? 0n;
  const got = ibUmemDmabufGetStaged(w, { importer, device: NIC, fd: buf, offset: 0n, size });
  return match(got)
    .returnType<Imported>()
    .with({ status: "failed" }, (r) => ({
      ok: false,
      errno: r.error.errno,
      reason: r.error.message,
      stage: STAGE[r.stage],
    }))
    .with({ status: "blocked" }, () => {
      throw new Error(`${importer} get blocked on an idle machine`);
    })
    .with({ status: "done" }, (r) => {
      if (importer !== "rdma-odp") return { ok: true, world: r.world, att: r.att };
      const fault = rdmaOdpFault(r.world, { att: r.att });
      if (fault.status === "done") return { ok: true, world: fault.world, att: r.att };
      if (fault.status === "blocked") throw new Error("ODP fault blocked on an idle machine");
      return {
        ok: false,
        errno: fault.error.errno,
        reason: fault.error.message,
        stage: "first map",
      };
    })
    .exhaustive();
}

function umemRecipe(importer: RdmaImporterName, exists: (p: Profile) => boolean): ImporterRecipe {
  return {
    name: importer,
    absentReason: (p) => (exists(p) ? undefined : `not in ${p.id}`),
    import: (w, buf) => umemImport(w, buf, importer),
  };
}

/** rdma-odp: `ib_umem_dmabuf_get()` on nic1, then its first ODP fault (dynamic, revocable). */
export const rdmaOdpRecipe = umemRecipe("rdma-odp", () => true);
/** rdma-pinned: `ib_umem_dmabuf_get_pinned()` on nic1 (pins and maps, not revocable). */
export const rdmaPinnedRecipe = umemRecipe("rdma-pinned", () => true);
/** rdma-pinned-revocable: Jacob Moroni's proposed interface, where the profile has it. */
export const rdmaPinnedRevocableRecipe = umemRecipe(
  "rdma-pinned-revocable",
  (p) => p.rules.rdmaPinnedRevocable,
);
