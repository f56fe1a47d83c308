import {
  U64_MAX,
  attachBuf,
  blocked,
  done,
  failedAt,
  deviceIndex,
  importerHolder,
  isKernelError,
  kernelError,
  mapAtt,
  mustRun,
  pinAtt,
  resvLock,
  resvUnlock,
} from "@dmabuf-ref/core";
import type { KernelError, Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { dmaBufGet } from "@dmabuf-ref/core";
import type { RdmaImporterName } from "./constants.js";
import { putUmem } from "./state.js";
import { rdmaProfileOptions } from "./profile-options.js";

/**
 * The arguments of the `ib_umem_dmabuf_get` op (`ib_umem_dmabuf_get*()`, kernel-model §5.2).
 *
 * @category Drivers
 */
export interface IbUmemDmabufGetArgs {
  /** Which umem interface: ODP, pinned, or pinned-revocable. */
  readonly importer: RdmaImporterName;
  /** The NIC's DMA device (`device->dma_device`). */
  readonly device: string;
  /** The dma-buf fd (a dma-buf id in the model). */
  readonly fd: number;
  /** Byte offset of the MR in the dma-buf. */
  readonly offset: bigint;
  /** Byte length of the MR. */
  readonly size: bigint;
}

/**
 * Which call of `ib_umem_dmabuf_get*()` refused (DESIGN §3.2's stages,
 * for the RDMA path of kernel-model §5.2):
 * - `args`: the interface, the MR window or the NIC (`EOPNOTSUPP`, `EINVAL`, `ENODEV`);
 * - `fd`: `dma_buf_get()` (`EBADF`);
 * - `exporter-attach`: `dma_buf_dynamic_attach()` (the exporter's `attach`);
 * - `pin`: `dma_buf_pin()` (pinned variants);
 * - `map`: `ib_umem_dmabuf_map_pages()` (pinned variants map at get time).
 *
 * @category Drivers
 */
export type UmemGetStage = "args" | "fd" | "exporter-attach" | "pin" | "map";

function refuse(w: World, stage: UmemGetStage, error: KernelError): StepOutcome {
  return failedAt(w, stage, error);
}

/** The checks `ib_umem_dmabuf_get*()` makes before it attaches, in the kernel's order. */
function checkArgs(m: Machine, w: World, args: IbUmemDmabufGetArgs): StepOutcome | undefined {
  const { importer, device, fd, offset, size } = args;
  if (importer === "rdma-pinned-revocable" && !rdmaProfileOptions(m.profile).pinnedRevocable) {
    return refuse(
      w,
      "args",
      kernelError(
        "EOPNOTSUPP",
        () => `ib_umem_dmabuf_get_pinned_revocable_and_lock() does not exist under ${m.profile.id}`,
      ),
    );
  }
  if (offset < 0n || size < 0n || offset + size > U64_MAX) {
    return refuse(w, "args", kernelError("EINVAL", "offset + size overflows"));
  }
  const b = dmaBufGet(w, fd);
  if (isKernelError(b)) return refuse(w, "fd", b);
  if (offset + size > b.size) {
    return refuse(
      w,
      "args",
      kernelError(
        "EINVAL",
        () =>
          `offset + size 0x${(offset + size).toString(16)} is beyond the dma-buf size 0x${b.size.toString(16)}`,
      ),
    );
  }
  if (deviceIndex(m, device) < 0)
    return refuse(
      w,
      "args",
      kernelError("ENODEV", () => `no device ${device}`),
    );
  if (!m.importers.has(importer)) {
    throw new Error(`${importer} is not configured in this world`);
  }
  return undefined;
}

/**
 * `ib_umem_dmabuf_get()`, `ib_umem_dmabuf_get_pinned()` or (Jacob
 * Moroni's proposal) `ib_umem_dmabuf_get_pinned_revocable_and_lock()`
 * followed by `ib_umem_dmabuf_set_revoke_locked()` (kernel-model §5.2),
 * saying which call refused (the failed step's `stage`, a {@link UmemGetStage}).
 *
 * Checks, in order: the pinned-revocable interface exists in the profile
 * (the rdma option `pinnedRevocable`, else `EOPNOTSUPP`); `offset + size` does
 * not overflow (`EINVAL`); the fd is a dma-buf (`EBADF`); `offset + size`
 * is within the dma-buf (`EINVAL`); the NIC exists (`ENODEV`). Then a
 * dynamic attach with the NIC's DMA device (`allow_peer2peer = true`; the
 * exporter may refuse, e.g. VFIO under 7.1 refuses the non-revocable pinned
 * importer with `EOPNOTSUPP`). The pinned variants then, under resv,
 * `dma_buf_pin()` (VFIO under 6.19, the RDMA exporter always:
 * `EOPNOTSUPP`) and map the pages. Any failure releases everything and
 * leaves the world as it was. The ODP variant maps nothing here: its MR
 * maps at fault time (the `odp-fault` op).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param args - the interface, NIC, fd and the MR's window.
 * @returns done (created = the umem's attachment), failed (world unchanged,
 *   `stage` the refusing call), or blocked on resv.
 *
 * @remarks
 * The model maps the whole dma-buf; the kernel then trims the sgt to the
 * umem's window, which the model records (`offset`, `size`) but does not cut.
 * @kernel drivers/infiniband/core/umem_dmabuf.c ib_umem_dmabuf_get ib_umem_dmabuf_get_pinned
 *   ib_umem_dmabuf_get_pinned_revocable_and_lock
 */
export function ibUmemDmabufGet(m: Machine, w: World, args: IbUmemDmabufGetArgs): StepOutcome {
  const bad = checkArgs(m, w, args);
  if (bad !== undefined) return bad;
  const { importer, device, fd, offset, size } = args;
  const attached = attachBuf(m, w, fd, importer, device, true);
  if (attached.status === "blocked") return blocked(w, "resv", attached.reason);
  if (attached.status === "failed") return refuse(w, "exporter-attach", attached.error);
  const att = attached.created;
  if (att === undefined) throw new Error("rdma: attach created no attachment");
  let world = attached.world;
  const events: TraceEvent[] = [...attached.events];
  const pinned = importer !== "rdma-odp";
  if (pinned) {
    const holder = importerHolder(importer, att);
    world = mustRun(resvLock(world, fd, holder), "rdma: dma_resv_lock", events).world;
    for (const [stage, call] of [
      ["pin", pinAtt],
      ["map", mapAtt],
    ] as const) {
      const r = call(m, world, att, holder);
      if (r.status !== "done") {
        return refuse(w, stage, r.status === "failed" ? r.error : kernelError("EBUSY", r.reason));
      }
      world = r.world;
      events.push(...r.events);
    }
    if (importer === "rdma-pinned-revocable") {
      events.push({
        kind: "note",
        actor: importer,
        text: `ib_umem_dmabuf_set_revoke_locked(attach ${att}): the MR can be revoked`,
      });
    }
    world = mustRun(resvUnlock(world, fd, holder), "rdma: dma_resv_unlock", events).world;
  }
  world = putUmem(m, world, importer, att, {
    att,
    buf: fd,
    device,
    offset,
    size,
    pinned,
    revoked: false,
  });
  return done(world, events, att);
}
