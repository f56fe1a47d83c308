import { err, ok } from "@dmabuf-ref/core";
import type { Effect, Machine, Op, Result, TraceEvent, World } from "@dmabuf-ref/core";
import type { VfioPciConfig } from "./config.js";
import { buffersIdle } from "./move.js";
import type { VfioOpKind, VfioOperation } from "./operation.js";
import { holdsMemoryLock, opLabel } from "./operation.js";
import { stagesOf } from "./stages.js";
import {
  endOperation,
  operationOf,
  operationsOf,
  queueOperation,
  updateOperation,
} from "./state.js";

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
  const stage = stagesOf(config, op.kind)[op.pc];
  if (stage === undefined) throw new Error(`vfio-pci: operation ${op.id} ran past its stages`);
  return stage.ready?.(m, w, config, op) ?? buffersIdle(w, config, op.devices);
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
  const stages = stagesOf(config, op.kind);
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
