import { attachRevocable, err, mustAtt, mustBuf, ok } from "@dmabuf-ref/core";
import type { DriverStep, Machine, Result, World } from "@dmabuf-ref/core";
import { vfioProfileOptions } from "./profile-options.js";

/**
 * `vfio_pci_dma_buf_attach()` (kernel-facts §2.3, §7.4), in the kernel's
 * order: no `peer2peer` (every static importer) `-EOPNOTSUPP`; revoked
 * (temporarily or for good, which includes `vdev == NULL`) `-ENODEV`; under
 * a profile with the vfio-pci option `refusesNonRevocable` (7.1), an attachment that is
 * not `dma_buf_attach_revocable()` `-EOPNOTSUPP`.
 *
 * @param m - the machine.
 * @param w - the world with the attachment linked.
 * @param att - the attachment id.
 * @returns the unchanged world, or the errno.
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
 * VFIO's `pin` (kernel-facts §2.4): the 6.19-rc fix returns `-EOPNOTSUPP` to
 * keep pinned importers (RDMA) away; in 7.1 pin/unpin are gone, which the
 * model states as a successful no-op (the vfio-pci option `pin`).
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the unchanged world, or `EOPNOTSUPP`.
 */
export function vfioPin(m: Machine, w: World): Result<DriverStep> {
  return vfioProfileOptions(m.profile).pin === "eopnotsupp"
    ? err("EOPNOTSUPP", "VFIO dma-bufs cannot be pinned (6.19)")
    : ok({ world: w, events: [] });
}
