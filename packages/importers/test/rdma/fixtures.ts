/**
 * The RDMA umem importers' entry points as userspace's verbs calls and
 * the NIC's page faults reach them: driver ops of `rdma-odp`,
 * `rdma-pinned` and `rdma-pinned-revocable` through core's `step`. The
 * machine and exports are the KVM tests' (`../kvm/fixtures.js`).
 */
import { actionOp, step } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import type * as z from "zod";
import type { IbUmemDmabufGetArgs, RdmaImporterName, rdmaActionSchema } from "../../src/index.js";

/** An RDMA importer op: a core `driver` op of `importer`, run by `step`. */
export function rdmaStep(
  m: Machine,
  w: World,
  importer: RdmaImporterName,
  action: z.input<typeof rdmaActionSchema>,
): StepOutcome {
  return step(m, w, actionOp<typeof rdmaActionSchema>(importer)(action));
}

/** `ib_umem_dmabuf_get*()` of `a.importer` through `step` (`created` is the umem's attachment). */
export function umemGet(m: Machine, w: World, a: IbUmemDmabufGetArgs): StepOutcome {
  const { importer, ...fields } = a;
  return rdmaStep(m, w, importer, { op: "ib_umem_dmabuf_get", ...fields });
}

/** `ib_umem_release()` of `importer`'s umem on `att` through `step`. */
export function umemRelease(
  m: Machine,
  w: World,
  importer: RdmaImporterName,
  att: number,
): StepOutcome {
  return rdmaStep(m, w, importer, { op: "ib_umem_release", att });
}

/** An ODP page fault on the `rdma-odp` umem of `att` through `step`. */
export function odpFault(m: Machine, w: World, att: number): StepOutcome {
  return rdmaStep(m, w, "rdma-odp", { op: "odp-fault", att });
}
