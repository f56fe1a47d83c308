/*
 * vfio_compat.c: the IOAS that iommufd's VFIO container compatibility
 * works on (`ictx->vfio_ioas`), as `IOMMU_VFIO_IOAS` gets, sets and
 * clears it. The model has no VFIO container on an iommufd (the type1
 * ioctls on the iommufd fd are not modelled), so only this ioctl and
 * `IOMMU_DESTROY` of that IOAS read or change it.
 */
import { IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET } from "@dmabuf-ref/core";
import type { iommuVfioIoas, Machine, World } from "@dmabuf-ref/core";
import { withFields } from "@dmabuf-ref/core/encoding";
import { IOMMUFD_CTX, findIoas, readIommufdSlice, writeIommufdSlice } from "./objects.js";
import type { HandlerResult } from "./outcome.js";
import { iommufdNote, refuse, respond } from "./outcome.js";

/** The decoded `struct iommu_vfio_ioas`. */
export type VfioIoasCmd = ReturnType<typeof iommuVfioIoas.decode>;

/**
 * `IOMMU_VFIO_IOAS` (`iommufd_vfio_ioas`): `__reserved` non-zero is
 * `EOPNOTSUPP`; then by `op`: GET writes the compatibility IOAS's id back
 * (`ENODEV` when there is none: GET does not create one); SET makes
 * `ioas_id` the compatibility IOAS (`ENOENT` when it is not an IOAS); CLEAR
 * forgets it (the IOAS stays); any other op is `EOPNOTSUPP`. Allocating an
 * IOAS does not make it the compatibility IOAS; destroying it clears it.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome.
 * @kernel drivers/iommu/iommufd/vfio_compat.c iommufd_vfio_ioas
 */
export function vfioIoas(m: Machine, w: World, cmd: VfioIoasCmd): HandlerResult<VfioIoasCmd> {
  if (cmd.__reserved !== 0) return refuse("EOPNOTSUPP", "__reserved must be 0");
  const ctx = readIommufdSlice(m, w, IOMMUFD_CTX);
  switch (cmd.op) {
    case IOMMU_VFIO_IOAS_GET:
      if (ctx.vfioIoas === null) return refuse("ENODEV", "no VFIO compatibility IOAS is set");
      return respond(w, [], withFields(cmd, { ioas_id: ctx.vfioIoas }));
    case IOMMU_VFIO_IOAS_SET: {
      if (findIoas(m, w, cmd.ioas_id) === undefined)
        return refuse("ENOENT", `object ${cmd.ioas_id} is not an IOAS`);
      const world = writeIommufdSlice(
        m,
        w,
        IOMMUFD_CTX,
        withFields(ctx, { vfioIoas: cmd.ioas_id }),
      );
      return respond(
        world,
        [iommufdNote(`IOAS ${cmd.ioas_id} is the VFIO compatibility IOAS`)],
        cmd,
      );
    }
    case IOMMU_VFIO_IOAS_CLEAR: {
      const world = writeIommufdSlice(m, w, IOMMUFD_CTX, withFields(ctx, { vfioIoas: null }));
      return respond(world, [], cmd);
    }
    default:
      return refuse("EOPNOTSUPP", `unknown op ${cmd.op}`);
  }
}
