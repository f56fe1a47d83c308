import { startRevoke, startUnrevoke, taskOn } from "@dmabuf-ref/core";
import type { Effect, Machine, StepOutcome, TraceEvent, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import { buffersOf } from "./priv.js";
import { deviceOf, vfioMemoryEnabled } from "./state.js";

function started(r: StepOutcome, what: string): Effect {
  if (r.status !== "done") {
    const why = r.status === "failed" ? `${r.error.errno} ${r.error.message}` : r.reason;
    throw new Error(`vfio-pci could not start ${what}: ${why}`);
  }
  return { world: r.world, events: r.events };
}

/**
 * `vfio_pci_dma_buf_move(vdev, true)`, or the revoke half of
 * `vfio_pci_dma_buf_cleanup()` when `permanent` (kernel-facts §2.5): for each
 * live buffer of each device whose state differs, core's revoke task (lock
 * resv, revoked, invalidate, wait for fences, unlock, wait for unmaps). A
 * temporarily revoked buffer is revoked again only to make it permanent, so
 * cleanup after a `move(true)` does not put the base reference twice (the
 * double-put fixed for 7.1-rc). The caller waits until no task is left.
 *
 * @param w - the world; no task may be running on the buffers.
 * @param config - the driver's configuration.
 * @param devices - the devices.
 * @param permanent - close (true) or a temporary trigger.
 * @param by - the trigger, as traces name it.
 * @returns the world with the tasks started, and their events.
 */
export function revokeBuffers(
  w: World,
  config: VfioPciConfig,
  devices: readonly string[],
  permanent: boolean,
  by: string,
): Effect {
  let world = w;
  const events: TraceEvent[] = [];
  for (const device of devices) {
    for (const [id, b] of buffersOf(world, config, device)) {
      const differs = permanent ? b.revoked !== "permanent" : b.revoked === "usable";
      if (!differs) continue;
      const r = started(startRevoke(world, id, permanent, by), `the revoke of buf ${id}`);
      world = r.world;
      events.push(...r.events);
    }
  }
  return { world, events };
}

/**
 * `vfio_pci_dma_buf_move(vdev, false)` at the end of a reset or power path
 * (kernel-facts §2.5): only for devices that are open and whose memory is
 * enabled (`__vfio_pci_memory_enabled`), core's un-revoke task for every
 * temporarily revoked buffer. Un-revoke also invalidates; a permanently
 * revoked buffer never comes back.
 *
 * @param m - the machine.
 * @param w - the world; no task may be running on the buffers.
 * @param config - the driver's configuration.
 * @param devices - the devices.
 * @param by - the trigger, as traces name it.
 * @returns the world with the tasks started, and their events.
 */
export function restoreBuffers(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  devices: readonly string[],
  by: string,
): Effect {
  let world = w;
  const events: TraceEvent[] = [];
  for (const device of devices) {
    const d = deviceOf(m, world, config, device);
    if (!d.open || !vfioMemoryEnabled(d)) continue;
    for (const [id, b] of buffersOf(world, config, device)) {
      if (b.revoked !== "temporary") continue;
      const r = started(startUnrevoke(world, id, by), `the un-revoke of buf ${id}`);
      world = r.world;
      events.push(...r.events);
    }
  }
  return { world, events };
}

/**
 * No core task (revoke or un-revoke) runs on any live buffer of the devices:
 * every `move()` the operation started has returned.
 *
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param devices - the devices.
 * @returns true when idle.
 */
export function buffersIdle(w: World, config: VfioPciConfig, devices: readonly string[]): boolean {
  return devices.every((d) => buffersOf(w, config, d).every(([id]) => taskOn(w, id) === undefined));
}
