import { equalWith } from "../encoding/codec.js";
import type { SliceDef } from "../world/driver-slice.js";
import type { World } from "../world/world.js";
import type { Machine } from "./machine.js";
import { worldWith } from "../world/world.js";

/**
 * The table id of a driver's slice, or a thrown description bug when the
 * driver did not declare it.
 */
function slotOf(m: Machine, driver: string, def: SliceDef<unknown>): number {
  const slot = m.sliceSlots.get(driver)?.get(def);
  if (slot === undefined)
    throw new Error(`driver ${driver} does not declare the slice ${def.name} (its \`slices\`)`);
  return slot;
}

/**
 * A driver's slice in a world: its value, or the slice's initial value
 * before the driver first wrote it. Typed by the definition.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param driver - the driver instance's name.
 * @param def - the slice, one of the driver's `slices`.
 * @returns the value.
 * @throws when the driver does not declare the slice (a driver bug).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineSlice,
 *   intCodec,
 *   readSlice,
 *   referenceImporter,
 *   referenceMachine,
 *   writeSlice,
 * } from "@dmabuf-ref/core";
 *
 * const faults = defineSlice("faults", intCodec, 0);
 * const gpu1 = { ...referenceImporter({ name: "gpu1" }), slices: [faults] };
 * const m = referenceMachine({ importers: [gpu1] });
 * const w = boot(m);
 * assert.equal(readSlice(m, w, "gpu1", faults), 0); // never written: the initial value
 * assert.equal(readSlice(m, writeSlice(m, w, "gpu1", faults, 3), "gpu1", faults), 3);
 * ```
 *
 * @category Drivers
 */
export function readSlice<T>(m: Machine, w: World, driver: string, def: SliceDef<T>): T {
  const stored = w.drivers.get(slotOf(m, driver, def));
  // The slot belongs to `def` alone, so what is stored there is a T.
  return stored === undefined ? def.initial : (stored.value as T);
}

/**
 * A world with a driver's slice replaced.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param driver - the driver instance's name.
 * @param def - the slice, one of the driver's `slices`.
 * @param value - its new value.
 * @returns the new world (the same world when the value is the same object;
 *   a value equal to the slice's initial one removes the stored slice).
 * @throws when the driver does not declare the slice (a driver bug).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   defineSlice,
 *   intCodec,
 *   readSlice,
 *   referenceImporter,
 *   referenceMachine,
 *   worldsEqual,
 *   writeSlice,
 * } from "@dmabuf-ref/core";
 *
 * const faults = defineSlice("faults", intCodec, 0);
 * const gpu1 = { ...referenceImporter({ name: "gpu1" }), slices: [faults] };
 * const m = referenceMachine({ importers: [gpu1] });
 * const w = boot(m);
 * const w3 = writeSlice(m, w, "gpu1", faults, 3);
 * assert.equal(readSlice(m, w3, "gpu1", faults), 3);
 * assert.equal(w.drivers.size, 0); // worlds are never mutated
 * // back at its initial value, the slice is not stored: the world is the booted one
 * assert.ok(worldsEqual(writeSlice(m, w3, "gpu1", faults, 0), w));
 * assert.throws(() => writeSlice(m, w, "ref-importer", faults, 1), /does not declare/);
 * ```
 *
 * @category Drivers
 */
export function writeSlice<T>(
  m: Machine,
  w: World,
  driver: string,
  def: SliceDef<T>,
  value: T,
): World {
  const slot = slotOf(m, driver, def);
  const stored = w.drivers.get(slot);
  if (stored?.value === value) return w;
  // A slice back at its initial value is not stored: a driver that wrote and
  // undid something leaves the world as if it never had (canonical worlds).
  if (equalWith(def.codec, value, def.initial))
    return stored === undefined ? w : worldWith(w, { drivers: w.drivers.delete(slot) });
  return worldWith(w, { drivers: w.drivers.set(slot, { def, value }) });
}
