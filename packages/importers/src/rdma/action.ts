import * as z from "zod";
import { driverOpsOf, failed, kernelError, u64Schema } from "@dmabuf-ref/core";
import type { DriverOp, Machine, Op, StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import type { RdmaImporterName } from "./constants.js";
import { rdmaOdpFault } from "./odp.js";
import { ibUmemRelease } from "./release.js";
import { ibUmemDmabufGet } from "./umem.js";

/**
 * zod schema of the actions a core `driver` op may ask of an RDMA umem
 * importer (kernel-model §5.2): get a umem, release it, or (ODP) fault.
 *
 * @category uAPI
 */
export const rdmaActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** `ib_umem_dmabuf_get*()` with this driver's interface. */
    op: z.literal("ib_umem_dmabuf_get"),
    /** The NIC's DMA device. */
    device: z.string().min(1),
    /** The dma-buf fd. */
    fd: z.number().int(),
    /** Byte offset in the dma-buf. */
    offset: u64Schema,
    /** Byte length. */
    size: u64Schema,
  }),
  z.strictObject({
    /** `ib_umem_release()` of the umem. */
    op: z.literal("ib_umem_release"),
    /** The umem's attachment. */
    att: z.number().int().nonnegative(),
  }),
  z.strictObject({
    /** An ODP page fault (rdma-odp only; `EINVAL` for the others). */
    op: z.literal("odp-fault"),
    /** The umem's attachment. */
    att: z.number().int().nonnegative(),
  }),
]);

/**
 * An action for an RDMA importer's `act` (see {@link rdmaActionSchema}; kernel-model §5.2).
 *
 * @category uAPI
 */
export type RdmaAction = z.output<typeof rdmaActionSchema>;

/**
 * An RDMA importer's `act`: runs one {@link RdmaAction} as a step.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param importer - the driver acting.
 * @param action - the action, validated here (`EINVAL` when malformed).
 * @returns done, the errno with the world unchanged, or blocked on resv.
 */
export function rdmaAct(
  m: Machine,
  world: World,
  importer: RdmaImporterName,
  action: RdmaAction,
): StepOutcome {
  return match(action)
    .returnType<StepOutcome>()
    .with({ op: "ib_umem_dmabuf_get" }, (a) =>
      ibUmemDmabufGet(m, world, {
        importer,
        device: a.device,
        fd: a.fd,
        offset: a.offset,
        size: a.size,
      }),
    )
    .with({ op: "ib_umem_release" }, (a) => ibUmemRelease(m, world, importer, a.att))
    .with({ op: "odp-fault" }, (a) =>
      importer === "rdma-odp"
        ? rdmaOdpFault(m, world, a)
        : failed(
            world,
            kernelError("EINVAL", () => `${importer} MRs take no ODP faults`),
          ),
    )
    .exhaustive();
}

/** What each RDMA importer op models in the kernel. */
export const RDMA_OP_MODELS = {
  ib_umem_dmabuf_get: "ib_umem_dmabuf_get() (ODP) or ib_umem_dmabuf_get_pinned()",
  ib_umem_release: "ib_umem_release() of the MR's umem",
  "odp-fault": "an ODP page fault re-mapping the umem (rdma-odp only)",
} as const;

/**
 * The ops of one RDMA importer: `ib_umem_dmabuf_get*` and release for
 * every kind, the ODP fault for `rdma-odp` only.
 *
 * @param importer - the driver.
 * @returns its ops.
 */
export function rdmaOps(importer: RdmaImporterName): readonly DriverOp<RdmaAction>[] {
  return driverOpsOf(rdmaActionSchema, RDMA_OP_MODELS, (m, w, a) =>
    rdmaAct(m, w, importer, a),
  ).filter((o) => importer === "rdma-odp" || o.name !== "odp-fault");
}

/**
 * An RDMA importer's entry points that could run now, for core's
 * `candidateOps`: `ib_umem_dmabuf_get*` of every live dma-buf whole, for
 * every device behind an IOMMU or not, and the release and (ODP) fault of
 * each of its umems.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param importer - the driver.
 * @returns the ops, as `driver` ops of this importer.
 */
export function rdmaCandidates(m: Machine, w: World, importer: RdmaImporterName): readonly Op[] {
  const ops: Op[] = [];
  const act = (action: RdmaAction): void => {
    ops.push({ kind: "driver", driver: importer, action });
  };
  for (const [fd, b] of w.bufs.entries()) {
    for (const d of m.topology.devices) {
      act({ op: "ib_umem_dmabuf_get", device: d.id, fd, offset: 0n, size: b.size });
    }
  }
  for (const [att, a] of w.atts.entries()) {
    if (a.importer !== importer) continue;
    act({ op: "ib_umem_release", att });
    if (importer === "rdma-odp") act({ op: "odp-fault", att });
  }
  return ops;
}
