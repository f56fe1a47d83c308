import { regionNamed, setRegion } from "@dmabuf-ref/core";
import type { Effect, Machine, RegionState, TraceEvent, World } from "@dmabuf-ref/core";
import type { VfioBarConfig, VfioDeviceConfig, VfioPciConfig } from "./config.js";

/** One BAR as the kernel sees it: `pci_resource_start/len` and its p2pdma provider. */
export interface VfioBar {
  /** The BAR's configuration. */
  readonly config: VfioBarConfig;
  /** The region's current state (base, size, bus offset, live or not). */
  readonly region: RegionState;
}

/**
 * A device's configuration; a device the driver is not bound to is a bug in
 * the caller.
 *
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @returns its configuration.
 */
export function deviceConfig(config: VfioPciConfig, device: string): VfioDeviceConfig {
  const d = config.devices.find((x) => x.id === device);
  if (d === undefined) throw new Error(`${config.name}: no device ${device}`);
  return d;
}

/**
 * A BAR's geometry from the World's regions. A configured region that is
 * missing, not of kind `bar` or not the device's is a configuration error
 * and throws.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @param index - the BAR number.
 * @returns the BAR, or undefined when the device has no such BAR.
 */
export function barOf(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  index: number,
): VfioBar | undefined {
  const bar = deviceConfig(config, device).bars.find((b) => b.index === index);
  if (bar === undefined) return undefined;
  return { config: bar, region: checkedRegion(m, w, config, device, bar) };
}

function checkedRegion(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  bar: VfioBarConfig,
): RegionState {
  if (!m.topology.devices.some((d) => d.id === device)) {
    throw new Error(`${config.name}: device ${device} is not in the topology`);
  }
  const found = regionNamed(w, bar.region);
  if (found === undefined) throw new Error(`${config.name}: no region ${bar.region}`);
  const [, region] = found;
  if (region.kind !== "bar" || region.device !== device) {
    throw new Error(`${config.name}: region ${bar.region} is not a BAR of ${device}`);
  }
  return region;
}

/**
 * Sets every BAR region of a device live or inaccessible, as the hardware
 * decodes it: a function reset, `PCI_COMMAND.MEMORY` cleared, D3hot or
 * runtime suspend make MMIO stop answering; going inaccessible advances the
 * region's epoch, so mappings made before are stale (DESIGN §3.5).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @param status - the new state of all its BARs.
 * @param by - who does it, as traces name it.
 * @returns the world and the region events.
 */
export function setBars(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  device: string,
  status: "live" | "inaccessible",
  by: string,
): Effect {
  let world = w;
  const events: TraceEvent[] = [];
  for (const bar of deviceConfig(config, device).bars) {
    checkedRegion(m, world, config, device, bar);
    const r = setRegion(world, bar.region, status, by);
    if (r.status !== "done") throw new Error(`${config.name}: region ${bar.region} did not change`);
    world = r.world;
    events.push(...r.events);
  }
  return { world, events };
}
