import type { Machine } from "./machine.js";

/**
 * Where a driver keeps the options its instance was made with, so the free
 * functions that take only the machine and a World find them (a kernel
 * driver's module parameters and per-device quirks). Model machinery.
 *
 * @typeParam C - the driver's options.
 *
 * @category Drivers
 */
export interface DriverConfigs<C> {
  /**
   * Remembers the options a driver instance was made with.
   *
   * @param driver - the driver instance.
   * @param config - its options.
   */
  remember(driver: object, config: C): void;
  /**
   * The options of the machine's instance of the driver.
   *
   * @param m - the machine.
   * @returns its options, or `fallback` when the machine has none of ours.
   */
  of(m: Machine): C;
}

/**
 * A store of one driver's per-instance options, looked up by the driver's
 * name among the machine's exporters and importers.
 *
 * @param name - the driver's name in the machine.
 * @param fallback - the options when the machine has no instance made here.
 * @returns the store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { driverConfigs, referenceImporter, referenceMachine } from "@dmabuf-ref/core";
 *
 * // gpu1's module parameter, per instance
 * const configs = driverConfigs("gpu1", { maxJobs: 1 });
 * const gpu1 = referenceImporter({ name: "gpu1" });
 * configs.remember(gpu1, { maxJobs: 4 });
 * assert.deepEqual(configs.of(referenceMachine({ importers: [gpu1] })), { maxJobs: 4 });
 * assert.deepEqual(configs.of(referenceMachine()), { maxJobs: 1 }); // no gpu1: the fallback
 * ```
 *
 * @category Drivers
 */
export function driverConfigs<C>(name: string, fallback: C): DriverConfigs<C> {
  const configs = new WeakMap<object, C>();
  return {
    remember(driver, config) {
      configs.set(driver, config);
    },
    of(m) {
      const driver = m.importers.get(name) ?? m.exporters.get(name);
      return (driver === undefined ? undefined : configs.get(driver)) ?? fallback;
    },
  };
}
