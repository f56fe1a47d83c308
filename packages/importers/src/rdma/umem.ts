import {
  U64_MAX,
  attachBuf,
  blocked,
  detachAtt,
  deviceIndex,
  done,
  failed,
  importerHolder,
  isKernelError,
  kernelError,
  mapAtt,
  mustAtt,
  pinAtt,
  resvLock,
  resvUnlock,
  unmapAtt,
  unpinAtt,
} from "@dmabuf-ref/core";
import type { StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import { dmaBufGet } from "../iommufd/dmabuf-fd.js";
import type { RdmaImporterName } from "./constants.js";
import { putUmem, umemOf } from "./state.js";

/** The arguments of {@link ibUmemDmabufGet} (`ib_umem_dmabuf_get*()`, kernel-facts §5.2). */
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

/** A step that must run (the model's own bug otherwise). */
function mustRun(r: StepOutcome, what: string): { world: World; events: readonly TraceEvent[] } {
  if (r.status !== "done") {
    throw new Error(
      `rdma: ${what} did not run: ${r.status === "failed" ? r.error.message : r.reason}`,
    );
  }
  return r;
}

/**
 * `ib_umem_dmabuf_get()`, `ib_umem_dmabuf_get_pinned()` or (Jacob
 * Moroni's proposal) `ib_umem_dmabuf_get_pinned_revocable_and_lock()`
 * followed by `ib_umem_dmabuf_set_revoke_locked()` (kernel-facts §5.2).
 *
 * Checks, in order: the pinned-revocable interface exists in the profile
 * (`rules.rdmaPinnedRevocable`, else `EOPNOTSUPP`); `offset + size` does
 * not overflow (`EINVAL`); the fd is a dma-buf (`EBADF`); `offset + size`
 * is within the dma-buf (`EINVAL`); the NIC exists (`ENODEV`). Then a
 * dynamic attach with the NIC's DMA device (`allow_peer2peer = true`; the
 * exporter may refuse, e.g. VFIO under 7.1 refuses the non-revocable pinned
 * importer with `EOPNOTSUPP`). The pinned variants then, under resv,
 * `dma_buf_pin()` (VFIO under 6.19: `EOPNOTSUPP`) and map the pages. Any
 * failure releases everything and returns the errno with the original
 * world. The ODP variant maps nothing here: its MR maps at fault time
 * ({@link rdmaOdpFault}).
 *
 * @param w - the world.
 * @param args - the interface, NIC, fd and the MR's window.
 * @returns done (created = the attachment id), failed (world unchanged), or blocked on resv.
 *
 * @remarks
 * The model maps the whole dma-buf; the kernel then trims the sgt to the
 * umem's window, which the model records (`offset`, `size`) but does not cut.
 */
export function ibUmemDmabufGet(w: World, args: IbUmemDmabufGetArgs): StepOutcome {
  const { importer, device, fd, offset, size } = args;
  if (importer === "rdma-pinned-revocable" && !w.config.profile.rules.rdmaPinnedRevocable) {
    return failed(
      w,
      kernelError(
        "EOPNOTSUPP",
        `ib_umem_dmabuf_get_pinned_revocable_and_lock() does not exist under ${w.config.profile.id}`,
      ),
    );
  }
  if (offset < 0n || size < 0n || offset + size > U64_MAX) {
    return failed(w, kernelError("EINVAL", "offset + size overflows"));
  }
  const b = dmaBufGet(w, fd);
  if (isKernelError(b)) return failed(w, b);
  if (offset + size > b.size) {
    return failed(
      w,
      kernelError(
        "EINVAL",
        `offset + size 0x${(offset + size).toString(16)} is beyond the dma-buf size 0x${b.size.toString(16)}`,
      ),
    );
  }
  if (deviceIndex(w, device) < 0) return failed(w, kernelError("ENODEV", `no device ${device}`));
  if (!w.config.importers.has(importer)) {
    throw new Error(`${importer} is not configured in this world`);
  }
  const attached = attachBuf(w, fd, importer, device, true);
  if (attached.status === "blocked") return blocked(w, "resv", attached.reason);
  if (attached.status === "failed") return failed(w, attached.error);
  const att = attached.created;
  if (att === undefined) throw new Error("rdma: attach created no attachment");
  let world = attached.world;
  const events: TraceEvent[] = [...attached.events];
  const pinned = importer !== "rdma-odp";
  if (pinned) {
    const holder = importerHolder(importer, att);
    const locked = mustRun(resvLock(world, fd, holder), "dma_resv_lock");
    world = locked.world;
    events.push(...locked.events);
    const pin = pinAtt(world, att, holder);
    if (pin.status !== "done") {
      return failed(w, pin.status === "failed" ? pin.error : kernelError("EBUSY", pin.reason));
    }
    world = pin.world;
    events.push(...pin.events);
    const map = mapAtt(world, att, holder);
    if (map.status !== "done") {
      return failed(w, map.status === "failed" ? map.error : kernelError("EBUSY", map.reason));
    }
    world = map.world;
    events.push(...map.events);
    if (importer === "rdma-pinned-revocable") {
      events.push({
        kind: "note",
        actor: importer,
        text: `ib_umem_dmabuf_set_revoke_locked(attach ${att}): the MR can be revoked`,
      });
    }
    const unlocked = mustRun(resvUnlock(world, fd, holder), "dma_resv_unlock");
    world = unlocked.world;
    events.push(...unlocked.events);
  }
  world = putUmem(world, importer, att, {
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

/**
 * `ib_umem_dmabuf_release()` (kernel-facts §5.2): under resv, unmap the
 * pages if mapped and, for a pinned umem not yet revoked, `dma_buf_unpin()`;
 * then detach and drop the umem. An attachment that is no umem of
 * `importer` is `EINVAL`.
 *
 * @param w - the world.
 * @param importer - the umem's interface.
 * @param att - the umem's attachment.
 * @returns done, failed (world unchanged) or blocked on resv.
 */
export function ibUmemRelease(w: World, importer: RdmaImporterName, att: number): StepOutcome {
  const umem = umemOf(w, importer, att);
  if (umem === undefined)
    return failed(w, kernelError("EINVAL", `attach ${att} is no ${importer} umem`));
  const holder = importerHolder(importer, att);
  const locked = resvLock(w, umem.buf, holder);
  if (locked.status !== "done")
    return locked.status === "blocked" ? blocked(w, "resv", locked.reason) : locked;
  let world = locked.world;
  const events: TraceEvent[] = [...locked.events];
  if (mustAtt(world, att).mapping !== null) {
    const r = mustRun(unmapAtt(world, att, holder), "ib_umem_dmabuf_unmap_pages");
    world = r.world;
    events.push(...r.events);
  }
  if (umem.pinned && !umem.revoked && mustAtt(world, att).pins > 0) {
    const r = mustRun(unpinAtt(world, att, holder), "dma_buf_unpin");
    world = r.world;
    events.push(...r.events);
  }
  const unlocked = mustRun(resvUnlock(world, umem.buf, holder), "dma_resv_unlock");
  world = unlocked.world;
  events.push(...unlocked.events);
  const detached = mustRun(detachAtt(world, att), "dma_buf_detach");
  return done(putUmem(detached.world, importer, att, null), [...events, ...detached.events]);
}
