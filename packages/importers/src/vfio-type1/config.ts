import { driverConfigs } from "@dmabuf-ref/core";
import type { IommuGeometryConfig, Machine } from "@dmabuf-ref/core";
import { VFIO_TYPE1 } from "./constants.js";

/**
 * VFIO type1's configuration: the IOMMU geometry of each device's domain
 * (page sizes, aperture, reserved regions), as the machine's IOMMU driver
 * reports it to `vfio_iommu_type1_attach_group` (the same values iommufd
 * reads: a machine gives both backends one description).
 */
export type VfioType1Config = IommuGeometryConfig;

const CONFIGS = driverConfigs<VfioType1Config>(VFIO_TYPE1, {});

/**
 * Remembers a driver instance's configuration.
 *
 * @param driver - the driver instance.
 * @param config - its configuration.
 */
export function setType1Config(driver: object, config: VfioType1Config): void {
  CONFIGS.remember(driver, config);
}

/**
 * The configuration of the machine's type1 driver (empty: the defaults).
 *
 * @param m - the machine.
 * @returns the configuration.
 */
export function type1ConfigOf(m: Machine): VfioType1Config {
  return CONFIGS.of(m);
}
