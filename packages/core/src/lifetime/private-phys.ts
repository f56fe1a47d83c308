import type { Machine } from "../machine/machine.js";
import { kernelError } from "../errors/kernel-error.js";
import type { Result } from "../errors/result.js";
import type { PhysVec } from "../schemas.js";
import { exporterOf, isKernelError, lookupAtt, mustBuf } from "../world/access.js";
import type { World } from "../world/world.js";

/**
 * The importer side of the private VFIO->iommufd interconnect
 * (`sym_vfio_pci_dma_buf_iommufd_map`, kernel-facts §2.7, §3.3): asks the
 * exporter of an attachment for its physical ranges, with resv held by
 * `holder` (calling it without resv is a bug in the importer model and
 * throws). A buffer whose exporter has no private interconnect is
 * `EOPNOTSUPP` ("the ops are not VFIO's"); the exporter answers `ENODEV`
 * when revoked and `EOPNOTSUPP` for more than one range. Nothing is
 * recorded as mapped: iommufd never calls `map_dma_buf`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @param holder - who holds the buffer's resv.
 * @returns the ranges, or the errno.
 */
export function privatePhys(
  m: Machine,
  w: World,
  att: number,
  holder: string,
): Result<readonly PhysVec[]> {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return { ok: false, error: a };
  const b = mustBuf(w, a.buf);
  if (b.resvHolder !== holder) {
    // The kernel asserts this (dma_resv_assert_held); a model importer that
    // breaks it is a bug in the model, not a kernel error.
    throw new Error(`private interconnect called without resv of buf ${a.buf} held by ${holder}`);
  }
  const exporter = exporterOf(m, b);
  return (
    exporter.privatePhys?.(m, w, att) ?? {
      ok: false,
      error: kernelError("EOPNOTSUPP", `buf ${a.buf} is not a VFIO dma-buf`),
    }
  );
}
