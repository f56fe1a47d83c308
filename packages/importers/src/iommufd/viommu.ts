/*
 * viommu.c: virtual IOMMUs and their virtual devices (v6.13). No IOMMU
 * driver of the model has vIOMMU support (`viommu_init`), so no vIOMMU
 * object is ever made: the two ioctls answer with the first check that
 * refuses them, in the kernel's order.
 */
import type { iommuVdeviceAlloc, iommuViommuAlloc, Machine, World } from "@dmabuf-ref/core";
import { objectsOf } from "./objects.js";
import type { HandlerResult } from "./outcome.js";
import { refuse } from "./outcome.js";

/** `IOMMU_VIOMMU_TYPE_DEFAULT`: no vIOMMU type (refused). */
const IOMMU_VIOMMU_TYPE_DEFAULT = 0;

/** The decoded `struct iommu_viommu_alloc`. */
export type ViommuAllocCmd = ReturnType<typeof iommuViommuAlloc.decode>;
/** The decoded `struct iommu_vdevice_alloc`. */
export type VdeviceAllocCmd = ReturnType<typeof iommuVdeviceAlloc.decode>;

/**
 * `IOMMU_VIOMMU_ALLOC` (`iommufd_viommu_alloc_ioctl`): non-zero `flags` or
 * the default type (0) is `EOPNOTSUPP`; `dev_id` not a bound device is
 * `ENOENT`; then the device's IOMMU driver has no vIOMMU of any type
 * (`EOPNOTSUPP`), which is every driver the model has. `__reserved` is not
 * checked.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome (always a failure).
 * @kernel drivers/iommu/iommufd/viommu.c iommufd_viommu_alloc_ioctl
 */
export function viommuAlloc(
  m: Machine,
  w: World,
  cmd: ViommuAllocCmd,
): HandlerResult<ViommuAllocCmd> {
  if (cmd.flags !== 0) return refuse("EOPNOTSUPP", `flags 0x${cmd.flags.toString(16)} are not 0`);
  if (cmd.type === IOMMU_VIOMMU_TYPE_DEFAULT)
    return refuse("EOPNOTSUPP", "type IOMMU_VIOMMU_TYPE_DEFAULT is no vIOMMU type");
  const device = objectsOf(m, w).get(cmd.dev_id);
  if (device?.kind !== "device") return refuse("ENOENT", `object ${cmd.dev_id} is not a device`);
  return refuse(
    "EOPNOTSUPP",
    `the IOMMU driver of ${device.device} has no vIOMMU type ${cmd.type} (no viommu_init)`,
  );
}

/**
 * `IOMMU_VDEVICE_ALLOC` (`iommufd_vdevice_alloc_ioctl`): `viommu_id` must
 * name a vIOMMU (`ENOENT`), and the model has none ({@link viommuAlloc});
 * `virt_id` above `ULONG_MAX` (`EINVAL`) cannot happen on a 64-bit kernel.
 *
 * @param _m - the machine.
 * @param _w - the world.
 * @param cmd - the decoded struct.
 * @returns the outcome (always `ENOENT`).
 * @kernel drivers/iommu/iommufd/viommu.c iommufd_vdevice_alloc_ioctl
 */
export function vdeviceAlloc(
  _m: Machine,
  _w: World,
  cmd: VdeviceAllocCmd,
): HandlerResult<VdeviceAllocCmd> {
  return refuse("ENOENT", `object ${cmd.viommu_id} is not a vIOMMU`);
}
