// drivers/vfio/pci/vfio_pci_core.c: the paths that take `memory_lock` for
// write and revoke or restore a device's dma-bufs (kernel-model §2.5), each
// run as a multi-stage operation. Models:
// - the stages of each path (stagesOf): the guest FLR
//   (`vfio_pci_try_reset_function()`), `vfio_pci_ioctl_reset()`, the hot
//   reset of a dev_set (`vfio_pci_dev_set_hot_reset()`), runtime-PM
//   low-power entry and exit (`vfio_pci_runtime_pm_exit()`), and
//   `vfio_pci_core_close_device()`: `vfio_pci_core_disable()` and
//   `vfio_pci_dma_buf_cleanup()` in either order. The same table holds the
//   PCI_COMMAND and PMCSR writes of vfio_pci_config.c
//   (`vfio_basic_config_write()`, `vfio_lock_and_set_power_state()`) and the
//   unbind wait of vfio_main.c (`vfio_unregister_group_dev()`);
// - `memory_lock` taken for write: `down_write()` sleeps behind earlier
//   operations, `up_write()` after the last stage (startOperation,
//   continueOperation, operationReady, pendingOps).
// The operation record, and which kinds hold `memory_lock`, are in
// operation.ts; `vfio_pci_dma_buf_move()` is in vfio_pci_dmabuf.ts.
import { err, ok, step, stepTask, taskOn } from "@dmabuf-ref/core";
import type { Effect, KernelError, Machine, Op, Result, TraceEvent, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { setBars } from "./bars.js";
import type { VfioPciConfig } from "./config.js";
import type { VfioOpKind, VfioOperation } from "./operation.js";
import { holdsMemoryLock, opLabel } from "./operation.js";
import type { VfioDeviceState } from "./state.js";
import {
  deviceLockContended,
  deviceOf,
  endOperation,
  operationOf,
  operationsOf,
  queueOperation,
  updateDevice,
  updateOperation,
  vfioMemoryEnabled,
} from "./state.js";
import {
  buffersIdle,
  buffersOf,
  makePermanent,
  privOf,
  restoreBuffers,
  resvFree,
  revokeBuffers,
  withPriv,
} from "./vfio_pci_dmabuf.js";
import { vfioOptionsFor } from "./profile-options.js";

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
  run: (m, w, config, op) => {
    const r = revokeBuffers(m, w, config, op.devices, false, opLabel(op.kind));
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

/** Every BAR of the operation's devices stops decoding (a function reset), said in `line`. */
const barsStopDecoding = (line: string): Stage => ({
  run: (m, w, config, op) => {
    const r = eachDevice(w, op, (world, d) =>
      setBars(m, world, config, d, "inaccessible", op.actor),
    );
    return effect(r.world, [note(op.actor, line), ...r.events]);
  },
});

const resetStarts = barsStopDecoding("function reset starts: BARs stop decoding");

/**
 * `pci_try_reset_function()` / `pci_reset_bus()`: MMIO stops answering and
 * contents are lost; but when a device lock of the operation is held (an
 * unbind is waiting in `vfio_unregister_group_dev()` under it), the
 * trylock fails with `-EAGAIN` and nothing is reset. The dma-bufs were
 * revoked all the same, and the next stage restores them: the kernel does
 * both around the reset whatever it returns.
 */
const resetBegins: Stage = {
  run: (m, w, config, op) => {
    const held = op.devices.filter((d) => deviceLockContended(m, w, config, d));
    if (held.length === 0) return resetStarts.run(m, w, config, op);
    return effect(w, [
      note(
        op.actor,
        `reset not done: device lock of ${held.join(", ")} is held (-EAGAIN); the BARs keep decoding`,
      ),
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

const disableReset = barsStopDecoding(
  "vfio_pci_core_disable(): PCI_COMMAND <- INTX_DISABLE, function reset",
);

/** `vfio_pci_core_disable()`: COMMAND <- INTX_DISABLE and a function reset. */
const disable: Stage = {
  run: (m, w, config, op) =>
    disableReset.run(
      m,
      op.devices.reduce(
        (world, d) => updateDevice(m, world, config, d, { memoryEnabled: false }),
        w,
      ),
      config,
      op,
    ),
};

/** `vfio_pci_dma_buf_cleanup()`, first half: revoke every buffer for good. */
const cleanupRevoke: Stage = {
  run: (m, w, config, op) => {
    const r = revokeBuffers(m, w, config, op.devices, true, opLabel(op.kind));
    return effect(r.world, [
      note(op.actor, "vfio_pci_dma_buf_cleanup(): revoking every dma-buf for good"),
      ...r.events,
    ]);
  },
};

/**
 * `vfio_pci_dma_buf_cleanup()`, second half: a buffer a temporary revoke
 * left revoked becomes PERM_REVOKED under resv (no second drain), then
 * unlink, `vdev = NULL` (only now that every buffer is revoked for good:
 * Matt Evans' invariant), drop the registrations. It waits while a
 * buffer's kref underflowed (the v7.1-rc bug): for ever.
 */
const cleanupFinish: Stage = {
  ready: (_m, w, config, op) =>
    buffersIdle(w, config, op.devices) &&
    resvFree(w, config, op.devices) &&
    op.devices.every((d) =>
      buffersOf(w, config, d).every(([id]) => privOf(w, id).kref !== "underflowed"),
    ),
  run: (_m, w, config, op) => {
    let world = w;
    const events: TraceEvent[] = [];
    for (const d of op.devices) {
      const r = makePermanent(world, config, d, opLabel(op.kind));
      world = r.world;
      events.push(...r.events);
    }
    for (const d of op.devices) {
      for (const [id, b] of buffersOf(world, config, d)) {
        if (b.revoked !== "permanent") {
          throw new Error(`vfio-pci: buf ${id} would lose vdev before it is revoked for good`);
        }
        world = withPriv(world, id, { ...privOf(world, id), vdev: null });
      }
    }
    return effect(world, [...events, note(op.actor, "vdev = NULL; dma-buf registrations dropped")]);
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
 * The stages of each operation, in the kernel's order (kernel-model §2.5).
 * Revokes always complete before the BARs stop decoding, and un-revokes run
 * only after they decode again.
 *
 * @param m - the machine (its profile decides the close order).
 * @param config - the driver's configuration (its `closeOrder` overrides).
 * @param kind - the operation.
 * @returns its stages.
 * @kernel drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_close_device vfio_pci_core_disable
 *   drivers/vfio/vfio_main.c vfio_unregister_group_dev
 */
export function stagesOf(m: Machine, config: VfioPciConfig, kind: VfioOpKind): readonly Stage[] {
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
      apply("hot reset: every device's power state <- D0", { power: "D0" }, false),
      resetBegins,
      resetEnds,
      finish,
    ])
    .with("hot-reset-unwind", () => [
      revoke("hot reset: zap user mappings, revoke the dma-bufs of the devices locked so far"),
      apply(
        "hot reset: a memory_lock trylock failed (-EBUSY); undo: un-revoke where memory is enabled",
        {},
        true,
      ),
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
      vfioOptionsFor(m.profile, config).closeOrder === "disable-then-cleanup"
        ? [disable, cleanupRevoke, cleanupFinish]
        : [cleanupRevoke, cleanupFinish, disable],
    )
    .with("unbind", () => [unregister, unbound])
    .exhaustive();
}

/**
 * The operation holding (or first in line for) `memory_lock` of one of
 * `devices` ahead of the operation `before` in the queue (every operation
 * when `before` is absent), if any.
 */
function lockHolder(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  devices: readonly string[],
  before?: number,
): VfioOperation | undefined {
  for (const o of operationsOf(m, w, config)) {
    if (o.id === before) return undefined;
    if (holdsMemoryLock(o.kind) && o.devices.some((d) => devices.includes(d))) return o;
  }
  return undefined;
}

/**
 * Whether an operation's next stage may run: its first stage needs
 * `memory_lock` (no earlier operation on its devices) and, like every stage
 * by default, every `move()` it started has returned (no core task left on
 * the devices' buffers).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param op - the operation.
 * @returns true when `continue` would run a stage.
 */
export function operationReady(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  op: VfioOperation,
): boolean {
  if (op.pc === 0 && holdsMemoryLock(op.kind) && lockHolder(m, w, config, op.devices, op.id)) {
    return false;
  }
  const stage = stagesOf(m, config, op.kind)[op.pc];
  if (stage === undefined) throw new Error(`vfio-pci: operation ${op.id} ran past its stages`);
  if (stage.ready !== undefined) return stage.ready(m, w, config, op);
  // The series' un-revoke sets the state under resv at once, so its stages
  // wait for every resv to be free first.
  return (
    buffersIdle(w, config, op.devices) &&
    (vfioOptionsFor(m.profile, config).unrevokeInvalidates || resvFree(w, config, op.devices))
  );
}

function completion(op: VfioOperation): TraceEvent[] {
  const label = opLabel(op.kind);
  const done: TraceEvent = { kind: "note", actor: op.actor, text: `${label} complete` };
  if (op.process === null) return [done];
  return [
    done,
    {
      kind: "ioctl",
      process: op.process,
      target: op.actor,
      name: label,
      result: { ok: true, ret: 0 },
    },
  ];
}

/**
 * Runs an operation's next stage: advances it, or removes it after its last
 * stage (`memory_lock` dropped; a waiting ioctl returns 0). A stage that
 * fails ends the operation with an `error` event.
 */
function runStage(m: Machine, w: World, config: VfioPciConfig, op: VfioOperation): Result<Effect> {
  const stages = stagesOf(m, config, op.kind);
  const stage = stages[op.pc];
  if (stage === undefined) throw new Error(`vfio-pci: operation ${op.id} ran past its stages`);
  const r = stage.run(m, w, config, op);
  if (!r.ok) return r;
  const last = op.pc + 1 === stages.length;
  const world = last
    ? endOperation(m, r.value.world, config, op.id)
    : updateOperation(m, r.value.world, config, op.id, (o) => ({ ...o, pc: o.pc + 1 }));
  return ok({
    world,
    events: [...r.value.events, ...(last ? completion(op) : [])],
  });
}

/**
 * Starts an operation: it queues behind any operation holding `memory_lock`
 * of its devices (the kernel's `down_write` sleeps) and otherwise runs its
 * first stage at once. A first stage that fails at once returns its errno
 * with the world unchanged.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param kind - the operation.
 * @param devices - the devices it works on.
 * @param actor - who acts, as traces name it.
 * @param process - the process whose ioctl returns at completion, or null.
 * @returns the world and events, or the errno.
 */
export function startOperation(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  kind: VfioOpKind,
  devices: readonly string[],
  actor: string,
  process: string | null = null,
): Result<Effect> {
  const { world: queued, op } = queueOperation(m, w, config, {
    kind,
    devices,
    actor,
    pc: 0,
    process,
  });
  if (operationReady(m, queued, config, op)) {
    return runStage(m, queued, config, op);
  }
  const holder = lockHolder(m, w, config, devices);
  const why = holder === undefined ? "a dma-buf revoke in progress" : opLabel(holder.kind);
  return ok({
    world: queued,
    events: [{ kind: "note", actor, text: `${opLabel(kind)} waits for ${why} (memory_lock)` }],
  });
}

/**
 * The `continue` action: runs the next stage of an operation that may run.
 * A stage failing after the operation slept reports the errno as an `error`
 * event and ends the operation (the syscall returns it when it wakes).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param id - the operation's id.
 * @returns the world and events, or `EINVAL` (no such operation) / `EBUSY` (not ready).
 */
export function continueOperation(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  id: number,
): Result<Effect> {
  const op = operationOf(m, w, config, id);
  if (op === undefined) return err("EINVAL", () => `no vfio-pci operation ${id} in progress`);
  if (!operationReady(m, w, config, op)) {
    return err("EBUSY", () => `${opLabel(op.kind)} of ${op.actor} is still waiting`);
  }
  const r = runStage(m, w, config, op);
  if (r.ok) return r;
  const error: TraceEvent = {
    kind: "error",
    actor: op.actor,
    call: opLabel(op.kind),
    error: r.error,
  };
  const ended = endOperation(m, w, config, id);
  const ioctl: TraceEvent[] =
    op.process === null
      ? []
      : [
          {
            kind: "ioctl",
            process: op.process,
            target: op.actor,
            name: opLabel(op.kind),
            result: { ok: false, error: r.error },
          },
        ];
  return ok({ world: ended, events: [error, ...ioctl] });
}

/**
 * The `pending` ops of the driver: a `continue` for every operation whose
 * next stage may run, oldest first.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @returns the driver ops.
 */
export function pendingOps(m: Machine, w: World, config: VfioPciConfig): Op[] {
  return operationsOf(m, w, config)
    .filter((op) => operationReady(m, w, config, op))
    .map((op) => ({ kind: "driver", driver: config.name, action: { op: "continue", id: op.id } }));
}

/**
 * One piece of the work importers owe (their `pending` ops: an unmap their
 * invalidate callback deferred to a worker), run while a synchronous
 * vfio-pci call sleeps in `wait_for_completion()`: other threads run
 * meanwhile, and the caller wakes when the last unmap completes. An
 * importer that never unmaps (a broken one) leaves nothing to run, and the
 * call sleeps for ever.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the world and events after one op that ran, or undefined when none can.
 */
export function importerWorkWhileAsleep(m: Machine, w: World): Effect | undefined {
  for (const importer of m.importers.values()) {
    for (const op of importer.pending?.(m, w) ?? []) {
      const r = step(m, w, op);
      if (r.status === "done") return { world: r.world, events: r.events };
    }
  }
  return undefined;
}

/** The steps a synchronous call may take before it counts as asleep for good. */
export const SLEEP_STEPS = 10_000;

/** How far an operation driven to completion at once got. */
export type RunNow =
  | { readonly status: "done"; readonly world: World; readonly events: readonly TraceEvent[] }
  | { readonly status: "failed"; readonly error: KernelError }
  | { readonly status: "blocked"; readonly reason: string };

/**
 * Starts an operation and drives it to its end inside one call, as a
 * syscall that returns only when the kernel's does (`vfio_pci_ioctl_reset`,
 * a config-space write, `VFIO_DEVICE_PCI_HOT_RESET`): its stages, and the
 * revoke and un-revoke tasks on its devices' buffers (the importers'
 * invalidate callbacks run inside them). When `memory_lock` is held by
 * another operation, or a stage waits for something only another actor can
 * do (an importer's unmap, a fence), the call would sleep: `blocked`, and
 * the caller keeps its world (it retries after other work has run).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param kind - the operation.
 * @param devices - the devices it works on.
 * @param actor - who acts, as traces name it.
 * @param process - the process whose syscall it is (its ioctl event closes
 *   the trace), or null.
 * @returns the world after the operation, its errno, or why it would sleep.
 */
export function runOperationNow(
  m: Machine,
  w: World,
  config: VfioPciConfig,
  kind: VfioOpKind,
  devices: readonly string[],
  actor: string,
  process: string | null,
): RunNow {
  if (holdsMemoryLock(kind)) {
    const holder = lockHolder(m, w, config, devices);
    if (holder !== undefined) {
      return { status: "blocked", reason: `memory_lock is held by ${opLabel(holder.kind)}` };
    }
  }
  const { world: queued, op } = queueOperation(m, w, config, {
    kind,
    devices,
    actor,
    pc: 0,
    process,
  });
  let world = queued;
  const events: TraceEvent[] = [];
  for (let i = 0; ; i++) {
    // Importers that keep working without ever letting the wait end (a
    // livelock) leave the caller asleep, as the kernel's would be.
    if (i > SLEEP_STEPS) return { status: "blocked", reason: `${opLabel(kind)} never wakes` };
    const cur = operationOf(m, world, config, op.id);
    if (cur === undefined) return { status: "done", world, events };
    if (operationReady(m, world, config, cur)) {
      const r = runStage(m, world, config, cur);
      if (!r.ok) return { status: "failed", error: r.error };
      world = r.value.world;
      events.push(...r.value.events);
      continue;
    }
    const task = devices
      .flatMap((d) => buffersOf(world, config, d).map(([id]) => taskOn(world, id)))
      .find((t) => t !== undefined);
    const r = task === undefined ? undefined : stepTask(m, world, task);
    if (r?.status === "done") {
      world = r.world;
      events.push(...r.events);
      continue;
    }
    const other = importerWorkWhileAsleep(m, world);
    if (other !== undefined) {
      world = other.world;
      events.push(...other.events);
      continue;
    }
    const why = r?.status === "blocked" ? r.reason : `${opLabel(kind)} waits`;
    return { status: "blocked", reason: why };
  }
}
