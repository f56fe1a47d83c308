import { err, ok } from "@dmabuf-ref/core";
import type { Effect, Machine, Result, TraceEvent, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { setBars } from "./bars.js";
import type { VfioPciConfig } from "./config.js";
import { revokeBuffers, restoreBuffers } from "./move.js";
import type { VfioOpKind, VfioOperation } from "./operation.js";
import { opLabel } from "./operation.js";
import { buffersOf, privOf, withPriv } from "./priv.js";
import type { VfioDeviceState } from "./state.js";
import { deviceOf, updateDevice, vfioMemoryEnabled } from "./state.js";

/**
 * One stage of an operation: what it does once it may run, and (when it is
 * not "every move() it started has returned") when it may run.
 */
export interface Stage {
  /**
   * Runs the stage; an errno ends the operation.
   *
   * @param w - the world.
   * @param config - the driver's configuration.
   * @param op - the operation.
   */
  run(m: Machine, w: World, config: VfioPciConfig, op: VfioOperation): Result<Effect>;
  /**
   * When the stage may run, if not simply "no revoke task left".
   *
   * @param w - the world.
   * @param config - the driver's configuration.
   * @param op - the operation.
   */
  ready?(m: Machine, w: World, config: VfioPciConfig, op: VfioOperation): boolean;
}

const note = (actor: string, text: string): TraceEvent => ({ kind: "note", actor, text });

function effect(world: World, events: readonly TraceEvent[]): Result<Effect> {
  return ok({ world, events });
}

/** Runs `f` for each device of the operation, threading the world. */
function eachDevice(w: World, op: VfioOperation, f: (w: World, device: string) => Effect): Effect {
  let world = w;
  const events: TraceEvent[] = [];
  for (const d of op.devices) {
    const r = f(world, d);
    world = r.world;
    events.push(...r.events);
  }
  return { world, events };
}

/** The BARs follow the device state: they decode iff memory is enabled. */
function syncBars(m: Machine, w: World, config: VfioPciConfig, op: VfioOperation): Effect {
  return eachDevice(w, op, (world, d) =>
    setBars(
      m,
      world,
      config,
      d,
      vfioMemoryEnabled(deviceOf(m, world, config, d)) ? "live" : "inaccessible",
      op.actor,
    ),
  );
}

/** Zap user mappings and `move(true)`: revoke temporarily. */
const revoke = (text: string): Stage => ({
  run: (_m, w, config, op) => {
    const r = revokeBuffers(w, config, op.devices, false, opLabel(op.kind));
    return effect(r.world, [note(op.actor, text), ...r.events]);
  },
});

/** Change the device state, let the BARs follow it, then `move(false)` if memory is enabled. */
const apply = (text: string, change: Partial<VfioDeviceState>, restore: boolean): Stage => ({
  run: (m, w, config, op) => {
    const changed = op.devices.reduce((world, d) => updateDevice(m, world, config, d, change), w);
    const bars = syncBars(m, changed, config, op);
    const back = restore
      ? restoreBuffers(m, bars.world, config, op.devices, opLabel(op.kind))
      : { world: bars.world, events: [] };
    return effect(back.world, [note(op.actor, text), ...bars.events, ...back.events]);
  },
});

/** `pci_try_reset_function()` / `pci_reset_bus()` begins: MMIO stops answering, contents are lost. */
const resetBegins: Stage = {
  run: (m, w, config, op) => {
    const r = eachDevice(w, op, (world, d) =>
      setBars(m, world, config, d, "inaccessible", op.actor),
    );
    return effect(r.world, [
      note(op.actor, "function reset starts: BARs stop decoding"),
      ...r.events,
    ]);
  },
};

/** The reset is over: config restored, BARs decode iff memory is enabled, then `move(false)`. */
const resetEnds: Stage = {
  run: (m, w, config, op) => {
    const bars = syncBars(m, w, config, op);
    const back = restoreBuffers(m, bars.world, config, op.devices, opLabel(op.kind));
    return effect(back.world, [
      note(op.actor, "function reset done: un-revoke where memory is enabled"),
      ...bars.events,
      ...back.events,
    ]);
  },
};

/** Waits for the last `move()` to return; `memory_lock` is dropped on completion. */
const finish: Stage = { run: (_m, w) => ok({ world: w, events: [] }) };

/** `vfio_pci_core_disable()`: COMMAND <- INTX_DISABLE and a function reset. */
const disable: Stage = {
  run: (m, w, config, op) => {
    const changed = op.devices.reduce(
      (world, d) => updateDevice(m, world, config, d, { memoryEnabled: false }),
      w,
    );
    const bars = eachDevice(changed, op, (world, d) =>
      setBars(m, world, config, d, "inaccessible", op.actor),
    );
    return effect(bars.world, [
      note(op.actor, "vfio_pci_core_disable(): PCI_COMMAND <- INTX_DISABLE, function reset"),
      ...bars.events,
    ]);
  },
};

/** `vfio_pci_dma_buf_cleanup()`, first half: revoke every buffer for good. */
const cleanupRevoke: Stage = {
  run: (_m, w, config, op) => {
    const r = revokeBuffers(w, config, op.devices, true, opLabel(op.kind));
    return effect(r.world, [
      note(op.actor, "vfio_pci_dma_buf_cleanup(): revoking every dma-buf for good"),
      ...r.events,
    ]);
  },
};

/**
 * `vfio_pci_dma_buf_cleanup()`, second half: unlink, `vdev = NULL` (only now
 * that every buffer is revoked for good: Matt Evans' invariant), drop the
 * registrations.
 */
const cleanupFinish: Stage = {
  run: (_m, w, config, op) => {
    let world = w;
    for (const d of op.devices) {
      for (const [id, b] of buffersOf(world, config, d)) {
        if (b.revoked !== "permanent") {
          throw new Error(`vfio-pci: buf ${id} would lose vdev before it is revoked for good`);
        }
        world = withPriv(world, id, { ...privOf(world, id), vdev: null });
      }
    }
    return effect(world, [note(op.actor, "vdev = NULL; dma-buf registrations dropped")]);
  },
};

/** Low-power entry refuses a second entry (`-EINVAL`) before it revokes. */
const lowPowerEntry: Stage = {
  run: (m, w, config, op) => {
    if (op.devices.some((d) => deviceOf(m, w, config, d).lowPower)) {
      return err("EINVAL", "low-power entry while already in low power");
    }
    return revoke("low-power entry: zap user mappings, revoke dma-bufs").run(m, w, config, op);
  },
};

/** `vfio_unregister_group_dev()`: no new registrations; ask userspace to close the device. */
const unregister: Stage = {
  ready: () => true,
  run: (m, w, config, op) => {
    const world = op.devices.reduce(
      (x, d) => updateDevice(m, x, config, d, { registered: false }),
      w,
    );
    return effect(world, [
      note(op.actor, "unbind: registration dropped, waiting for the device fd and its dma-bufs"),
    ]);
  },
};

/** The wait of `vfio_unregister_group_dev()` is over: the driver is unbound. */
const unbound: Stage = {
  ready: (m, w, config, op) =>
    op.devices.every(
      (d) => !deviceOf(m, w, config, d).open && buffersOf(w, config, d).length === 0,
    ),
  run: (m, w, config, op) => {
    const world = op.devices.reduce((x, d) => updateDevice(m, x, config, d, { bound: false }), w);
    return effect(world, [note(op.actor, "unbind complete: vfio-pci released the device")]);
  },
};

/**
 * The stages of each operation, in the kernel's order (kernel-facts §2.5).
 * Revokes always complete before the BARs stop decoding, and un-revokes run
 * only after they decode again.
 *
 * @param config - the driver's configuration (for the close order).
 * @param kind - the operation.
 * @returns its stages.
 */
export function stagesOf(config: VfioPciConfig, kind: VfioOpKind): readonly Stage[] {
  return match(kind)
    .returnType<readonly Stage[]>()
    .with("flr", () => [
      revoke("FLR: zap user mappings, revoke dma-bufs"),
      resetBegins,
      resetEnds,
      finish,
    ])
    .with("reset", () => [
      apply("VFIO_DEVICE_RESET: power state <- D0", { power: "D0" }, false),
      revoke("VFIO_DEVICE_RESET: zap user mappings, revoke dma-bufs"),
      resetBegins,
      resetEnds,
      finish,
    ])
    .with("hot-reset", () => [
      revoke("hot reset: zap user mappings, revoke the dev_set's dma-bufs"),
      resetBegins,
      resetEnds,
      finish,
    ])
    .with("memory-off", () => [
      revoke("PCI_COMMAND.MEMORY <- 0: zap user mappings, revoke dma-bufs"),
      apply("PCI_COMMAND.MEMORY cleared", { memoryEnabled: false }, false),
    ])
    .with("memory-on", () => [
      apply(
        "PCI_COMMAND.MEMORY <- 1: un-revoke if memory is enabled",
        { memoryEnabled: true },
        true,
      ),
      finish,
    ])
    .with("d3hot", () => [
      revoke("PMCSR <- D3hot: zap user mappings, revoke dma-bufs"),
      apply("power state D3hot", { power: "D3hot" }, false),
    ])
    .with("d0", () => [
      apply("PMCSR <- D0: un-revoke if memory is enabled", { power: "D0" }, true),
      finish,
    ])
    .with("low-power-entry", () => [
      lowPowerEntry,
      apply("runtime suspended", { lowPower: true }, false),
    ])
    .with("low-power-exit", () => [
      apply("low-power exit: un-revoke if memory is enabled", { lowPower: false }, true),
      finish,
    ])
    .with("close", () =>
      config.closeOrder === "disable-then-cleanup"
        ? [disable, cleanupRevoke, cleanupFinish]
        : [cleanupRevoke, cleanupFinish, disable],
    )
    .with("unbind", () => [unregister, unbound])
    .exhaustive();
}
