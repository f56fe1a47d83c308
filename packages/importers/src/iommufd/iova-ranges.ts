import { iommuIovaRange, kernelError } from "@dmabuf-ref/core";
import type { iommuIoasIovaRanges, Machine, UserWrite, World } from "@dmabuf-ref/core";
import { IOMMUFD_IOVA_ALIGNMENT } from "./constants.js";
import { holesOf, reservedIovas } from "./iova.js";
import type { HandlerResult } from "./outcome.js";
import { refuse } from "./outcome.js";
import { findIoas } from "./state.js";

/** The decoded `struct iommu_ioas_iova_ranges`. */
export type IovaRangesCmd = ReturnType<typeof iommuIoasIovaRanges.decode>;

/**
 * `IOMMU_IOAS_IOVA_RANGES` (`iommufd_ioas_iova_ranges`, kernel-facts §3.1):
 * a non-zero `__reserved` is `EOPNOTSUPP`, an unknown IOAS `ENOENT`. The
 * allowed ranges are the holes of the reserved tree in `[0, ULONG_MAX]`;
 * up to `num_iovas` of them are copied to `allowed_iovas`, `num_iovas` is
 * set to how many exist and `out_iova_alignment` to the IOAS's alignment.
 * The struct is copied back even when the array was too small, and then the
 * ioctl fails with `EMSGSIZE`.
 *
 * @param m - the machine.
 * @param w - the world (unchanged: this is a query).
 * @param cmd - the decoded struct.
 * @returns the outcome.
 */
export function iovaRanges(m: Machine, w: World, cmd: IovaRangesCmd): HandlerResult<IovaRangesCmd> {
  if (cmd.__reserved !== 0) return refuse("EOPNOTSUPP", "__reserved must be 0");
  if (findIoas(m, w, cmd.ioas_id) === undefined) return refuse("ENOENT", `no IOAS ${cmd.ioas_id}`);
  const holes = holesOf(reservedIovas(m, w, cmd.ioas_id));
  const written: UserWrite[] = holes.slice(0, cmd.num_iovas).map((h, i) => ({
    addr: cmd.allowed_iovas + BigInt(i * iommuIovaRange.size),
    bytes: iommuIovaRange.encode({ start: h.start, last: h.last }),
  }));
  const response: IovaRangesCmd = {
    ...cmd,
    num_iovas: holes.length,
    out_iova_alignment: IOMMUFD_IOVA_ALIGNMENT,
  };
  if (holes.length > cmd.num_iovas) {
    return {
      status: "failed",
      error: kernelError(
        "EMSGSIZE",
        () => `${holes.length} allowed range(s) do not fit in num_iovas ${cmd.num_iovas}`,
      ),
      response,
      written,
    };
  }
  return { status: "done", world: w, events: [], response, written };
}
